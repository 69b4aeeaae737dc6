use alys_telemetry_catalog::instruments::CounterVec;
use alys_telemetry_catalog::{LabelValue, MetricFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Phase {
    Warmup,
    Steady,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Outcome {
    Success,
    Failure,
}

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Jobs finished, by phase
    #[metric(name = "alys_jobs_finished_total", labels(phase), why = "the test reads it")]
    finished: CounterVec<Phase>,
}

fn main() {
    let jobs = JobMetrics::new(&opentelemetry::global::meter("test"));
    // An outcome is not a phase: the build says so.
    jobs.finished.add(Outcome::Success, 1);
}
