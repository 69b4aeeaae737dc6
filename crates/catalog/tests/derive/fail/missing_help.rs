use alys_telemetry_catalog::instruments::Counter;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    #[metric(name = "alys_jobs_started_total", why = "the test reads it")]
    started: Counter,
}

fn main() {}
