//! Instrumented tasks, in the spirit of tokio-metrics' `TaskMonitor` and built on it: any
//! future or spawned task of a service measured under the service's own kinds of task. Per
//! kind: how many were instrumented, how often they were polled, their busy time, how long
//! they waited to be polled once woken, the delay to their first poll, and how each ended
//! (succeeded, failed, cancelled). The metrics are the catalogue's task family, exported
//! through the same pipeline as every other (`alys_task_*`, docs in
//! `alys_telemetry_catalog::tasks`).
//!
//! ```
//! use alys_telemetry_catalog::LabelValue;
//! use alys_telemetry_tasks::TaskMonitor;
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
//! #[label(crate = ::alys_telemetry_catalog)] // a service on alys-telemetry leaves it out
//! enum Job { Index, Compact }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let tasks = TaskMonitor::<Job>::new(&opentelemetry::global::meter("executor"));
//! // A spawned task: counted as it is polled, and as succeeded or failed when it ends.
//! let indexed = tasks.spawn(Job::Index, async { Ok::<u32, std::io::Error>(42) });
//! assert_eq!(indexed.await.unwrap().unwrap(), 42);
//! // Any future, awaited in place: a value that is not a Result counts as succeeded.
//! tasks.instrument(Job::Compact, async {}).await;
//! # }
//! ```

mod monitored;

use std::future::Future;
use std::sync::Arc;

use alys_telemetry_catalog::MetricDef;
use alys_telemetry_catalog::instruments::LabelValues;
use alys_telemetry_catalog::instruments::attributes;
use alys_telemetry_catalog::tasks::TaskMetrics;
use opentelemetry::metrics::Meter;
use tokio::task::JoinHandle;

pub use monitored::{Monitored, TaskResult};

/// The monitor of a service's tasks, one tokio-metrics monitor per kind of task (`K`, the
/// `task` label). Build it once at start-up on the pipeline's meter; cloning shares it.
pub struct TaskMonitor<K: LabelValues> {
    inner: Arc<Inner<K>>,
}

struct Inner<K: LabelValues> {
    /// By the kind's index.
    monitors: Box<[tokio_metrics::TaskMonitor]>,
    /// For a kind whose index is out of range: `LabelValues` rules it out, and a wrong impl
    /// loses its task's totals rather than panicking.
    spare: tokio_metrics::TaskMonitor,
    metrics: TaskMetrics<K>,
}

impl<K: LabelValues> Clone for TaskMonitor<K> {
    fn clone(&self) -> Self {
        TaskMonitor {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: LabelValues + Send + Sync> TaskMonitor<K> {
    /// Builds the task family on `meter`: every kind's outcomes at 0, and the totals read
    /// from the monitors at each collection.
    pub fn new(meter: &Meter) -> Self {
        let monitors = (0..K::COUNT)
            .map(|_| tokio_metrics::TaskMonitor::new())
            .collect();
        let inner = Arc::new(Inner {
            monitors,
            spare: tokio_metrics::TaskMonitor::new(),
            metrics: TaskMetrics::new(meter),
        });
        register_totals(&inner, meter);
        TaskMonitor { inner }
    }

    /// `future`, measured as a task of kind `kind`; await it or spawn it.
    pub fn instrument<F>(&self, kind: K, future: F) -> Monitored<F>
    where
        F: Future,
        F::Output: TaskResult,
    {
        let monitor = self.inner.monitor(kind);
        let inner = Arc::clone(&self.inner);
        Monitored::new(monitor.instrument(future), move |outcome| {
            inner.metrics.outcomes.add((kind, outcome), 1);
        })
    }

    /// Spawns `future` on the current Tokio runtime, measured as a task of kind `kind`.
    /// Must be called inside a Tokio runtime.
    pub fn spawn<F>(&self, kind: K, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult + Send + 'static,
    {
        tokio::spawn(self.instrument(kind, future))
    }
}

/// The totals tokio-metrics keeps, per kind, read at each collection.
fn register_totals<K: LabelValues + Send + Sync>(inner: &Arc<Inner<K>>, meter: &Meter) {
    type Family<K> = TaskMetrics<K>;
    observe_count(inner, meter, Family::<K>::INSTRUMENTED, |m| {
        m.instrumented_count
    });
    observe_count(inner, meter, Family::<K>::POLLS, |m| m.total_poll_count);
    observe_seconds(inner, meter, Family::<K>::BUSY, |m| m.total_poll_duration);
    observe_seconds(inner, meter, Family::<K>::SCHEDULED, |m| {
        m.total_scheduled_duration
    });
    observe_seconds(inner, meter, Family::<K>::FIRST_POLL_DELAY, |m| {
        m.total_first_poll_delay
    });
}

fn observe_count<K: LabelValues + Send + Sync>(
    inner: &Arc<Inner<K>>,
    meter: &Meter,
    def: MetricDef,
    read: fn(&tokio_metrics::TaskMetrics) -> u64,
) {
    let inner = Arc::clone(inner);
    def.observe_u64_counter(meter, move |obs| {
        for (kind, monitor) in inner.kinds() {
            obs.observe(read(&monitor.cumulative()), &attributes(&def, kind));
        }
    });
}

fn observe_seconds<K: LabelValues + Send + Sync>(
    inner: &Arc<Inner<K>>,
    meter: &Meter,
    def: MetricDef,
    read: fn(&tokio_metrics::TaskMetrics) -> std::time::Duration,
) {
    let inner = Arc::clone(inner);
    def.observe_f64_counter(meter, move |obs| {
        for (kind, monitor) in inner.kinds() {
            let seconds = read(&monitor.cumulative()).as_secs_f64();
            obs.observe(seconds, &attributes(&def, kind));
        }
    });
}

impl<K: LabelValues> Inner<K> {
    fn monitor(&self, kind: K) -> &tokio_metrics::TaskMonitor {
        self.monitors.get(kind.index()).unwrap_or(&self.spare)
    }

    /// Each kind with its monitor.
    fn kinds(&self) -> impl Iterator<Item = (K, &tokio_metrics::TaskMonitor)> {
        self.monitors
            .iter()
            .enumerate()
            .filter_map(|(i, monitor)| K::from_index(i).map(|kind| (kind, monitor)))
    }
}
