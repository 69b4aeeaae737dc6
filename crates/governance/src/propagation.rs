//! W3C trace context carried inside each stream message (`trace_context` map), through the
//! global propagator (tracecontext + baggage). Across a process boundary text is the
//! contract; inside the process mailboxes hand the context over as a value.
//!
//! The sampling decision travels both ways: a message sent in an unsampled trace carries a
//! `traceparent` with flags `00`, and a received one with flags `00` is handled in that
//! context without a span, so that what its handling sends on stays unsampled too.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use tracing::Span;

use alys_telemetry_core::traces::TraceScope;

struct MapInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

struct MapExtractor<'a>(&'a HashMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The W3C fields of `cx`.
pub fn inject(cx: &Context) -> HashMap<String, String> {
    let mut map = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut MapInjector(&mut map))
    });
    map
}

/// The W3C fields of the current span's context.
pub fn inject_current() -> HashMap<String, String> {
    inject(&Context::current())
}

/// The context the fields describe (empty when they describe none).
pub fn extract(fields: &HashMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapExtractor(fields)))
}

/// Where a message carrying `fields` is handled: a span made by `make` (with `parent: None`)
/// when the sender's trace is sampled, the sender's context and no span when it is not, a
/// new trace decided first when the fields describe none.
pub fn handling_scope(fields: &HashMap<String, String>, make: impl FnOnce() -> Span) -> TraceScope {
    TraceScope::follow(extract(fields), make)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt, TraceId};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn a_context_survives_the_round_trip() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let sc = alys_test_support::span_context(7, 9, true);
        let fields = inject(&Context::new().with_remote_span_context(sc.clone()));
        assert!(fields.contains_key("traceparent"));
        let back = extract(&fields);
        let got = back.span().span_context().clone();
        assert_eq!(
            (got.trace_id(), got.span_id(), got.is_sampled()),
            (sc.trace_id(), sc.span_id(), true)
        );
        assert!(!extract(&HashMap::new()).span().span_context().is_valid());

        // An unsampled context travels as flags 00 and comes back unsampled.
        let unsampled = alys_test_support::span_context(7, 9, false);
        let fields = inject(&Context::new().with_remote_span_context(unsampled));
        assert!(fields["traceparent"].ends_with("-00"), "{fields:?}");
        let back = extract(&fields).span().span_context().clone();
        assert_eq!(back.trace_id(), TraceId::from(7u128));
        assert!(back.is_valid() && !back.is_sampled());
        // It is handled in that context, without a span.
        let scope = handling_scope(&fields, || panic!("no span for an unsampled sender"));
        assert!(scope.span().is_none());
        assert_eq!(
            scope.context().span().span_context().trace_id(),
            TraceId::from(7u128)
        );
    }
}
