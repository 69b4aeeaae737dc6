//! The pipeline's metrics about itself. The OTLP exit's counted exporters and the keyed
//! instruments' cardinality guards publish them when metrics are collected.

use crate::external::KeyedCounter;
use crate::instruments::{CounterVec, Gauge, GaugeVec};
use crate::{LabelValue, MetricFamily, Observed};

/// The pipeline watches itself: an export that fails must be visible without the exporter.
const SELF_WATCH: &str = "an operator sees the node's telemetry fail without the telemetry";

/// Nothing here is recorded synchronously: the fields mark what the OTLP exit's counted
/// exporters, the pull endpoint and the keyed instruments' guards publish.
#[derive(MetricFamily)]
#[family(title = "telemetry pipeline", crate = crate)]
pub struct PipelineMetrics {
    /// OTLP export attempts, retries included, per signal
    #[metric(name = "alys_telemetry_export_attempts_total", labels(signal), why = SELF_WATCH)]
    export_attempts: Observed<CounterVec<Signal>>,
    /// OTLP export attempts that failed (a retried one is counted as its retry begins), per signal
    #[metric(
        name = "alys_telemetry_export_failures_total",
        labels(signal),
        why = "the TelemetryExportFailing alert fires on it"
    )]
    export_failures: Observed<CounterVec<Signal>>,
    /// Spans, metric streams or log records delivered by successful OTLP exports, per signal
    #[metric(name = "alys_telemetry_exported_items_total", labels(signal), why = SELF_WATCH)]
    exported_items: Observed<CounterVec<Signal>>,
    /// Unix time of the last successful OTLP export, per signal (0: none yet)
    #[metric(
        name = "alys_telemetry_last_export_success_timestamp_seconds",
        unit = "s",
        labels(signal),
        why = SELF_WATCH
    )]
    last_export_success: Observed<GaugeVec<Signal>>,
    /// Spans, metric streams or log records the OTLP exit dropped, per signal and reason:
    /// every item the collector never received is counted here once
    #[metric(
        name = "alys_telemetry_export_dropped_items_total",
        labels(signal, reason),
        why = "the TelemetrySpansDropped and TelemetryLogsDropped alerts fire on it"
    )]
    export_dropped_items: Observed<CounterVec<(Signal, ExportDropReason)>>,
    /// Open connections to the pull endpoint
    #[metric(
        name = "alys_telemetry_pull_connections",
        why = "slow or stalled clients show here before they could starve a scraper"
    )]
    pull_connections: Observed<Gauge>,
    /// Connections the pull endpoint closed, by reason
    #[metric(
        name = "alys_telemetry_pull_connections_closed_total",
        labels(reason),
        why = "slow or stalled clients show here before they could starve a scraper"
    )]
    pull_connections_closed: Observed<CounterVec<PullCloseReason>>,
    /// Requests and connections the pull endpoint refused for their credentials or TLS
    /// handshake, by reason
    #[metric(
        name = "alys_telemetry_pull_access_denied_total",
        labels(reason),
        why = "a scraper with a stale password, or someone probing the port, shows here"
    )]
    pull_access_denied: Observed<CounterVec<PullDenyReason>>,
    /// Reloads of the pull endpoint's web configuration file, by result
    #[metric(
        name = "alys_telemetry_pull_web_config_reloads_total",
        labels(result),
        why = "a rotated certificate or password that failed to load keeps the old one: the operator must see it"
    )]
    pull_web_config_reloads: Observed<CounterVec<ReloadResult>>,
    /// Records whose label value was new after the metric reached its cardinality limit
    // The catalogue's own metric names: bounded, but not an enum.
    #[metric(
        name = "alys_telemetry_cardinality_overflow_total",
        labels(metric),
        why = "the CardinalityOverflow alert fires on it"
    )]
    cardinality_overflow: Observed<KeyedCounter>,
}

/// Why the pull endpoint closed a connection (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum PullCloseReason {
    /// No complete request head within the header-read timeout.
    HeaderTimeout,
    /// No byte moved for the idle timeout.
    IdleTimeout,
    /// The oldest connection without a request in progress, replaced by a new one at
    /// the cap.
    Evicted,
    /// A new connection at the cap while every open one was serving a request.
    Refused,
}

/// Why the OTLP exit dropped items (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum ExportDropReason {
    /// The bound on what waits for export was reached.
    QueueFull,
    /// The export kept failing for longer than the outage budget.
    OutageBudget,
    /// The collector refused the export with an error that a retry cannot mend.
    Rejected,
}

/// Why the pull endpoint refused a client (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum PullDenyReason {
    /// A request without credentials where the web configuration asks for them.
    MissingCredentials,
    /// A request whose user, password or token is wrong.
    WrongCredentials,
    /// A connection whose TLS handshake failed (no or untrusted client certificate, not TLS).
    TlsHandshake,
}

/// How a reload of a configuration file ended (`result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum ReloadResult {
    /// The new configuration is served.
    Applied,
    /// It could not be used; the last good one is kept.
    Failed,
}

/// The three OTLP signals (`signal` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}
