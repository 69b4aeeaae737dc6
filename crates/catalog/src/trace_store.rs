//! The in-process trace store's metrics about itself (the viewer's store, beside the
//! exporters). The store publishes them when metrics are collected.

use crate::instruments::{Counter, CounterVec, Gauge};
use crate::{LabelValue, MetricFamily, Observed};

/// Nothing here is recorded synchronously: the fields mark what the store publishes.
#[derive(MetricFamily)]
#[family(title = "trace store", crate = crate)]
pub struct TraceStoreMetrics {
    /// Traces the in-process trace store removed to stay within its memory bound
    #[metric(
        name = "alys_telemetry_trace_store_evicted_traces_total",
        why = "a store that evicts within minutes keeps too little to debug with: raise viewer.memory_bytes"
    )]
    evicted_traces: Observed<Counter>,
    /// Ended spans the in-process trace store could not take, by reason
    #[metric(
        name = "alys_telemetry_trace_store_dropped_spans_total",
        labels(reason),
        why = "the viewer's traces lack these spans; the exporters still have them"
    )]
    dropped_spans: Observed<CounterVec<DropReason>>,
    /// Memory the in-process trace store holds (traces, bookkeeping, hand-off queue)
    #[metric(
        name = "alys_telemetry_trace_store_memory_bytes",
        unit = "By",
        why = "shows the store staying within viewer.memory_bytes"
    )]
    memory: Observed<Gauge>,
    /// Traces the in-process trace store keeps
    #[metric(
        name = "alys_telemetry_trace_store_traces",
        why = "how much history the viewer's pages can show"
    )]
    traces: Observed<Gauge>,
}

/// Why the trace store did not take a span (`reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum DropReason {
    /// More spans ended between two ingest ticks than the hand-off queue holds.
    QueueFull,
    /// The span's trace alone would pass a quarter of the memory bound.
    TraceTooLarge,
}
