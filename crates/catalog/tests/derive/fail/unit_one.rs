use alys_telemetry_catalog::instruments::Gauge;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Share of jobs that failed
    #[metric(name = "alys_jobs_failed_ratio", unit = "1", start = zero, why = "the test reads it")]
    failed: Gauge,
}

fn main() {}
