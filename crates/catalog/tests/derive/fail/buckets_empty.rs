use alys_telemetry_catalog::instruments::Histogram;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Time a job takes
    #[metric(name = "alys_job_duration_seconds", unit = "s", buckets = [], why = "the test reads it")]
    duration: Histogram,
}

fn main() {}
