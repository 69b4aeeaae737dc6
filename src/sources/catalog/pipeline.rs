//! The pipeline's metrics about itself.

use super::MetricDef;

const SOURCE: &str = "issue 2 (the pipeline watches itself)";

pub const EXPORT_ATTEMPTS: MetricDef = MetricDef::counter(
    "alys_telemetry_export_attempts_total",
    "",
    "OTLP export calls, per signal",
    &["signal"],
)
.from(SOURCE);

pub const EXPORT_FAILURES: MetricDef = MetricDef::counter(
    "alys_telemetry_export_failures_total",
    "",
    "OTLP export calls that failed, per signal",
    &["signal"],
)
.from(SOURCE);

pub const EXPORTED_ITEMS: MetricDef = MetricDef::counter(
    "alys_telemetry_exported_items_total",
    "",
    "Spans, metric streams or log records delivered by successful OTLP exports, per signal",
    &["signal"],
)
.from(SOURCE);

pub const LAST_EXPORT_SUCCESS: MetricDef = MetricDef::gauge(
    "alys_telemetry_last_export_success_timestamp_seconds",
    "s",
    "Unix time of the last successful OTLP export, per signal (0: none yet)",
    &["signal"],
)
.from(SOURCE);

pub const CARDINALITY_OVERFLOW: MetricDef = MetricDef::counter(
    "alys_telemetry_cardinality_overflow_total",
    "",
    "Records whose label value was new after the metric reached its cardinality limit",
    &["metric"],
)
.from("issue 3 (label policy)");

pub const ALL: &[MetricDef] = &[
    EXPORT_ATTEMPTS,
    EXPORT_FAILURES,
    EXPORTED_ITEMS,
    LAST_EXPORT_SUCCESS,
    CARDINALITY_OVERFLOW,
];
