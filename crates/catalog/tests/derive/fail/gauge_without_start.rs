use alys_telemetry_catalog::instruments::Gauge;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Jobs waiting
    #[metric(name = "alys_jobs_waiting", why = "the test reads it")]
    waiting: Gauge,
}

fn main() {}
