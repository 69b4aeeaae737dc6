//! The pipeline's metrics about itself.

use super::{MetricDef, MetricKind};

const SOURCE: &str = "issue 2 (pipeline watches itself)";

pub const EXPORT_ATTEMPTS: MetricDef = MetricDef {
    name: "alys_telemetry_export_attempts_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "OTLP export calls, per signal",
    labels: &["signal"],
    buckets: &[],
    source: SOURCE,
};

pub const EXPORT_FAILURES: MetricDef = MetricDef {
    name: "alys_telemetry_export_failures_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "OTLP export calls that failed, per signal",
    labels: &["signal"],
    buckets: &[],
    source: SOURCE,
};

pub const EXPORTED_ITEMS: MetricDef = MetricDef {
    name: "alys_telemetry_exported_items_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Spans, metric streams or log records delivered by successful OTLP exports, per signal",
    labels: &["signal"],
    buckets: &[],
    source: SOURCE,
};

pub const LAST_EXPORT_SUCCESS: MetricDef = MetricDef {
    name: "alys_telemetry_last_export_success_timestamp_seconds",
    kind: MetricKind::Gauge,
    unit: "s",
    help: "Unix time of the last successful OTLP export, per signal (0: none yet)",
    labels: &["signal"],
    buckets: &[],
    source: SOURCE,
};

pub const ALL: &[MetricDef] = &[
    EXPORT_ATTEMPTS,
    EXPORT_FAILURES,
    EXPORTED_ITEMS,
    LAST_EXPORT_SUCCESS,
];
