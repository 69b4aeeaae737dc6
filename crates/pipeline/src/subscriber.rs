//! The `tracing` subscriber: an EnvFilter, the process's own log lines (text or JSON with
//! trace ids), spans into OpenTelemetry, and events into the OTLP log bridge.

use std::fmt;
use std::io::IsTerminal;

use opentelemetry::trace::TraceContextExt;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracer;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};
use tracing_subscriber::{Layer, fmt as tfmt};

use crate::direct_span_events;
use alys_telemetry_actors::HANDLING_SPAN_TARGET;
use alys_telemetry_config::{ConfigError, LogFormat};

/// Targets whose events must never reach the OTLP log bridge: the exporters' own crates and
/// our export-failure reports. Exporting them would make telemetry feed on itself.
const SELF_TARGETS: &[&str] = &[
    "opentelemetry",
    "hyper",
    "tonic",
    "h2",
    "reqwest",
    "tower",
    "alys_telemetry::export",
];

pub(crate) fn feeds_itself(target: &str) -> bool {
    SELF_TARGETS.iter().any(|t| target.starts_with(t))
}

/// RUST_LOG, default `info`. The SDK's own diagnostics are off unless RUST_LOG names them:
/// with the collector down it reports every export; our export statistics report failures
/// once per interval instead. A RUST_LOG that is not a filter (or not UTF-8) is refused by
/// name rather than replaced by a default nobody asked for.
pub(crate) fn env_filter() -> Result<EnvFilter, ConfigError> {
    let invalid = |value: Option<String>, reason: String| ConfigError::Invalid {
        name: "RUST_LOG".into(),
        value,
        reason,
    };
    let spec = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec,
        Ok(_) | Err(std::env::VarError::NotPresent) => "info".into(),
        Err(std::env::VarError::NotUnicode(raw)) => {
            let shown = raw.to_string_lossy().into_owned();
            return Err(invalid(Some(shown), "the value is not valid UTF-8".into()));
        }
    };
    let full = if spec.contains("opentelemetry") {
        spec.clone()
    } else {
        format!("{spec},opentelemetry=off,opentelemetry_sdk=off")
    };
    EnvFilter::builder()
        .parse(&full)
        .map_err(|e| invalid(Some(spec), format!("not a log filter: {e}")))
}

/// Installs the global subscriber: the filter, the process's log lines, and the pipeline's
/// layers.
pub(crate) fn install(
    filter: EnvFilter,
    format: LogFormat,
    tracer: Option<SdkTracer>,
    logs: Option<&SdkLoggerProvider>,
) -> Result<(), TryInitError> {
    let fmt_layer = match format {
        LogFormat::Text => tfmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .boxed(),
        LogFormat::Json => tfmt::layer().event_format(JsonWithTrace).boxed(),
    }
    .with_filter(not_handling_spans());
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(pipeline_layer(tracer, logs))
        .try_init()
}

/// What the pipeline adds to a subscriber: spans into OpenTelemetry (when traces are on) and
/// events into the OTLP log bridge (when logs are pushed), leaving out the exporters' own
/// events, which would make telemetry feed on itself.
pub(crate) fn pipeline_layer<S>(
    tracer: Option<SdkTracer>,
    logs: Option<&SdkLoggerProvider>,
) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let bridge = logs.map(|p| {
        OpenTelemetryTracingBridge::new(p).with_filter(filter_fn(|m| !feeds_itself(m.target())))
    });
    let spans = tracer.map(|tracer| Layer::and_then(otel_layer(tracer), direct_span_events()));
    Layer::and_then(spans, bridge)
}

/// Spans into OpenTelemetry, configured for message rate: no busy/idle time tracking (two
/// clock reads and a lock on every poll of an instrumented future), no thread or source
/// location attributes (a string allocation and four attributes a span); the span names,
/// fields, parents, links, events and timestamps are unchanged.
fn otel_layer<S>(tracer: SdkTracer) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_tracer(tracer)
}

/// The log output leaves out the mailboxes' handling spans: they exist only for sampled
/// messages, so log lines would show them for some messages and not others, and formatting
/// their fields costs on every one. Events inside them are logged as usual, and JSON lines
/// take their trace ids from the OpenTelemetry context, which these spans do set.
/// A host's own log layer can take the same filter:
/// `fmt::layer().with_filter(alys_telemetry_pipeline::not_handling_spans())`.
pub fn not_handling_spans()
-> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    filter_fn(|meta| !(meta.is_span() && meta.target() == HANDLING_SPAN_TARGET))
}

/// JSON lines: timestamp, level, target, span, message and fields, and the OpenTelemetry
/// `trace_id` and `span_id` of the current span, so a log line leads to its trace.
struct JsonWithTrace;

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert("timestamp".into(), Value::String(timestamp));
        obj.insert("level".into(), Value::String(meta.level().to_string()));
        obj.insert("target".into(), Value::String(meta.target().to_string()));
        let mut fields = FieldsToJson(Map::new());
        event.record(&mut fields);
        if let Some(message) = fields.0.remove("message") {
            obj.insert("message".into(), message);
        }
        if !fields.0.is_empty() {
            obj.insert("fields".into(), Value::Object(fields.0));
        }
        if let Some(span) = ctx.lookup_current() {
            obj.insert("span".into(), Value::String(span.name().to_string()));
        }
        // The current OpenTelemetry context: the entered span's (tracing-opentelemetry
        // activates it), or the context an unsampled message is handled in.
        let ids = opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid()
                .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
        });
        if let Some((trace_id, span_id)) = ids {
            obj.insert("trace_id".into(), Value::String(trace_id));
            obj.insert("span_id".into(), Value::String(span_id));
        }
        writeln!(writer, "{}", Value::Object(obj))
    }
}

struct FieldsToJson(Map<String, Value>);

impl Visit for FieldsToJson {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_crates_and_export_reports_feed_themselves() {
        for t in [
            "opentelemetry_sdk",
            "opentelemetry-otlp",
            "hyper_util::client",
            "tonic::transport",
            "h2::proto",
            "reqwest::blocking",
            "alys_telemetry::export",
        ] {
            assert!(feeds_itself(t), "{t}");
        }
        assert!(!feeds_itself("alys_node::demo"));
        assert!(!feeds_itself("alys_node::chain"));
    }
}
