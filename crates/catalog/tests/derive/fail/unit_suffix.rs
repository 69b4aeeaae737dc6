use alys_telemetry_catalog::instruments::Gauge;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Age of the oldest job
    #[metric(name = "alys_jobs_oldest_age", unit = "s", start = zero, why = "the test reads it")]
    oldest: Gauge,
}

fn main() {}
