//! The pipeline's metrics about itself. The OTLP exit's counted exporters and the keyed
//! instruments' cardinality guards publish them when metrics are collected.

use super::family::metric_family;
use super::labels::label_enum;

/// The pipeline watches itself: an export that fails must be visible without the exporter.
const SELF_WATCH: &str = "an operator sees the node's telemetry fail without the telemetry";

metric_family! {
    /// Nothing here is recorded synchronously.
    pub struct PipelineMetrics, "telemetry pipeline" {}
    observed {
        /// OTLP export calls, per signal
        export_attempts: counter("alys_telemetry_export_attempts_total") {
            labels: { signal: Signal },
            why: SELF_WATCH,
        },
        /// OTLP export calls that failed, per signal
        export_failures: counter("alys_telemetry_export_failures_total") {
            labels: { signal: Signal },
            why: "the TelemetryExportFailing alert fires on it",
        },
        /// Spans, metric streams or log records delivered by successful OTLP exports, per signal
        exported_items: counter("alys_telemetry_exported_items_total") {
            labels: { signal: Signal },
            why: SELF_WATCH,
        },
        /// Unix time of the last successful OTLP export, per signal (0: none yet)
        last_export_success: gauge("alys_telemetry_last_export_success_timestamp_seconds") {
            unit: "s",
            labels: { signal: Signal },
            why: SELF_WATCH,
        },
        /// Open connections to the pull endpoint
        pull_connections: gauge("alys_telemetry_pull_connections") {
            why: "slow or stalled clients show here before they could starve a scraper",
        },
        /// Connections the pull endpoint closed, by reason
        pull_connections_closed: counter("alys_telemetry_pull_connections_closed_total") {
            labels: { reason: PullCloseReason },
            why: "slow or stalled clients show here before they could starve a scraper",
        },
        /// Records whose label value was new after the metric reached its cardinality limit
        cardinality_overflow: counter("alys_telemetry_cardinality_overflow_total") {
            // The catalogue's own metric names: bounded, but not an enum.
            labels: { metric: External },
            why: "the CardinalityOverflow alert fires on it",
        },
    }
}

label_enum! {
    /// Why the pull endpoint closed a connection (`reason`).
    pub enum PullCloseReason {
        /// No complete request head within the header-read timeout.
        HeaderTimeout => "header_timeout",
        /// No byte moved for the idle timeout.
        IdleTimeout => "idle_timeout",
        /// The oldest connection without a request in progress, replaced by a new one at
        /// the cap.
        Evicted => "evicted",
        /// A new connection at the cap while every open one was serving a request.
        Refused => "refused",
    }
}

label_enum! {
    /// The three OTLP signals (`signal` label).
    pub enum Signal {
        Traces => "traces",
        Metrics => "metrics",
        Logs => "logs",
    }
}
