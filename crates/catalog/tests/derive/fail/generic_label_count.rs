use alys_telemetry_catalog::instruments::{CounterVec, LabelValues};
use alys_telemetry_catalog::{LabelValue, MetricFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Kind {
    Fetch,
    Store,
}

/// A generic family's definitions exist per instantiation: their assertions fail where one
/// is built.
#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics<K: LabelValues> {
    /// Jobs finished, by kind and phase
    #[metric(name = "alys_jobs_finished_total", labels(kind, phase), why = "the test reads it")]
    finished: CounterVec<K>,
}

fn main() {
    let _jobs = JobMetrics::<Kind>::new(&opentelemetry::global::meter("test"));
}
