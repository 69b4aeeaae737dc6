use alys_telemetry_catalog::MetricFamily;
use alys_telemetry_catalog::instruments::Gauge;

/// A name the macro does not know: `MetricDef::checked` judges the definition instead.
type Level = Gauge;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Fill level of the queue
    #[metric(name = "alys_jobs_level", why = "the test reads it")]
    level: Level,
}

fn main() {}
