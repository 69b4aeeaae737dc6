use alys_telemetry_catalog::MetricFamily;
use alys_telemetry_catalog::instruments::Counter;

#[derive(MetricFamily)]
#[family(crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Jobs started
    #[metric(name = "alys_jobs_started_total", why = "the test reads it")]
    started: Counter,
}

fn main() {}
