use alys_telemetry_catalog::instruments::Counter;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Jobs started
    #[metric(name = "alys_jobs_started_total", why = "the test reads it", name = "alys_jobs_total")]
    started: Counter,
}

fn main() {}
