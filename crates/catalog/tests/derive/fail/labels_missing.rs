use alys_telemetry_catalog::instruments::CounterVec;
use alys_telemetry_catalog::{LabelValue, MetricFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Phase {
    Warmup,
    Steady,
}

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Jobs finished, by phase
    #[metric(name = "alys_jobs_finished_total", why = "the test reads it")]
    finished: CounterVec<Phase>,
}

fn main() {}
