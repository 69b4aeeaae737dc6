//! Events for the spans built on the SDK directly (a mailbox's handling span,
//! `TraceScope::follow_direct`): tracing-opentelemetry adds an event to the current `tracing`
//! span and ignores one logged outside any, which is where a handler's own events are when
//! its handling span is not a `tracing` span. This layer adds those to the current
//! OpenTelemetry span instead, as tracing-opentelemetry would have: named by the message,
//! with `level`, `target` and the event's fields as attributes.
//!
//! An actor task that runs inside an entered `tracing` span of its own (spawned with
//! `.instrument(span)`) gives its handlers' events to that span instead: tracing-opentelemetry
//! adds them there, and this layer leaves an event inside a `tracing` span alone. The node's
//! and the services' actors are spawned without one.

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

/// The layer: stack it beside tracing-opentelemetry's (the pipeline's `layer()` includes it).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(alys_telemetry_pipeline::direct_span_events());
/// # drop(subscriber);
/// ```
pub fn direct_span_events() -> DirectSpanEvents {
    DirectSpanEvents
}

/// See [`direct_span_events`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectSpanEvents;

impl<S> Layer<S> for DirectSpanEvents
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        // Inside a `tracing` span, tracing-opentelemetry adds the event to it.
        if event.parent().is_some() || (event.is_contextual() && ctx.lookup_current().is_some()) {
            return;
        }
        let cx = Context::current();
        let span = cx.span();
        if !span.is_recording() {
            return;
        }
        let meta = event.metadata();
        let mut fields = EventFields {
            name: None,
            attributes: vec![
                KeyValue::new("level", meta.level().as_str()),
                KeyValue::new("target", meta.target().to_string()),
            ],
        };
        event.record(&mut fields);
        let name = fields.name.unwrap_or(Cow::Borrowed(meta.name()));
        if *meta.level() == Level::ERROR {
            // tracing-opentelemetry marks the span failed on an error event; so do we.
            span.set_status(Status::error(""));
        }
        span.add_event(name, fields.attributes);
    }
}

/// The event's message becomes its name, the other fields its attributes.
struct EventFields {
    name: Option<Cow<'static, str>>,
    attributes: Vec<KeyValue>,
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.name = Some(text.into()),
            name => self.attributes.push(KeyValue::new(name, text)),
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.name = Some(value.to_string().into()),
            name => self.attributes.push(KeyValue::new(name, value.to_string())),
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        // OpenTelemetry has no unsigned integers; tracing-opentelemetry converts the same way.
        match i64::try_from(value) {
            Ok(v) => self.attributes.push(KeyValue::new(field.name(), v)),
            Err(_) => self
                .attributes
                .push(KeyValue::new(field.name(), value.to_string())),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
}
