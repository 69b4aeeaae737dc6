//! The in-process trace store's metrics about itself (the viewer's store, beside the
//! exporters). The store publishes them when metrics are collected.

use super::family::metric_family;
use super::labels::label_enum;

metric_family! {
    /// Nothing here is recorded synchronously.
    pub struct TraceStoreMetrics, "trace store" {}
    observed {
        /// Traces the in-process trace store removed to stay within its memory bound
        evicted_traces: counter("alys_telemetry_trace_store_evicted_traces_total") {
            why: "a store that evicts within minutes keeps too little to debug with: raise viewer.memory_bytes",
        },
        /// Ended spans the in-process trace store could not take, by reason
        dropped_spans: counter("alys_telemetry_trace_store_dropped_spans_total") {
            labels: { reason: DropReason },
            why: "the viewer's traces lack these spans; the exporters still have them",
        },
        /// Memory the in-process trace store holds (traces, bookkeeping, hand-off queue)
        memory: gauge("alys_telemetry_trace_store_memory_bytes") {
            unit: "By",
            why: "shows the store staying within viewer.memory_bytes",
        },
        /// Traces the in-process trace store keeps
        traces: gauge("alys_telemetry_trace_store_traces") {
            why: "how much history the viewer's pages can show",
        },
    }
}

label_enum! {
    /// Why the trace store did not take a span (`reason` label).
    pub enum DropReason {
        /// More spans ended between two ingest ticks than the hand-off queue holds.
        QueueFull => "queue_full",
        /// The span's trace alone would pass a quarter of the memory bound.
        TraceTooLarge => "trace_too_large",
    }
}
