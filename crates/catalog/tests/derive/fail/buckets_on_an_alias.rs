use alys_telemetry_catalog::MetricFamily;
use alys_telemetry_catalog::instruments::Gauge;

/// A name the macro does not know: the kind is the type's, read at compile time.
type Level = Gauge;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Fill level of the queue
    #[metric(name = "alys_jobs_level", buckets = [0.5, 1.0], start = zero, why = "the test reads it")]
    level: Level,
}

fn main() {}
