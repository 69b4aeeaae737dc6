//! One kept trace: its spans in start order, what the lists show of it (operation, duration,
//! error), and how many bytes it holds.

use std::mem::size_of;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

/// A trace as the store keeps it: immutable once settled, shared with readers.
#[derive(Debug, Clone)]
pub struct Trace {
    trace_id: TraceId,
    /// Sorted by start time; the root first when it started first.
    spans: Vec<SpanData>,
    root: usize,
    start: SystemTime,
    end: SystemTime,
    error: bool,
    bytes: usize,
}

impl Trace {
    /// A trace of `spans` (at least one, all of `trace_id`), holding `bytes` (spans included).
    pub(crate) fn new(trace_id: TraceId, mut spans: Vec<SpanData>, bytes: usize) -> Trace {
        spans.sort_by_key(|s| s.start_time);
        spans.shrink_to_fit();
        let start = spans
            .first()
            .map_or(SystemTime::UNIX_EPOCH, |s| s.start_time);
        let end = spans
            .iter()
            .map(|s| s.end_time)
            .max()
            .unwrap_or(start)
            .max(start);
        let error = spans
            .iter()
            .any(|s| matches!(s.status, Status::Error { .. }));
        let root = root_index(&spans);
        Trace {
            trace_id,
            spans,
            root,
            start,
            end,
            error,
            bytes,
        }
    }

    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// Every span, sorted by start time.
    pub fn spans(&self) -> &[SpanData] {
        &self.spans
    }
    /// The span the trace starts from: the one without a parent, or else the earliest whose
    /// parent is not here (its parent lives in another process).
    pub fn root(&self) -> &SpanData {
        &self.spans[self.root]
    }
    /// Whether the span without a parent is here (else the trace began elsewhere).
    pub fn has_local_root(&self) -> bool {
        self.root().parent_span_id == SpanId::INVALID
    }
    /// The root span's name: the operation the trace is listed under.
    pub fn operation(&self) -> &str {
        &self.root().name
    }
    pub fn start(&self) -> SystemTime {
        self.start
    }
    pub fn end(&self) -> SystemTime {
        self.end
    }
    /// From the first span's start to the last span's end.
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }
    /// Whether any span ended with an error status.
    pub fn has_error(&self) -> bool {
        self.error
    }
    /// Memory the store counts for this trace.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Whether any span name or attribute value contains `needle` (case-insensitive ASCII).
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        let hit = |s: &str| s.to_ascii_lowercase().contains(&needle);
        self.spans.iter().any(|s| {
            hit(&s.name)
                || s.attributes.iter().any(|kv| hit(&kv.value.as_str()))
                || s.events.iter().any(|e| hit(&e.name))
        })
    }
    /// The trace with `late` spans added (spans that ended after it settled).
    pub(crate) fn with_late(&self, late: Vec<SpanData>, late_bytes: usize) -> Trace {
        let mut spans = self.spans.clone();
        spans.extend(late);
        Trace::new(self.trace_id, spans, self.bytes + late_bytes)
    }
}

fn root_index(spans: &[SpanData]) -> usize {
    if let Some(i) = spans
        .iter()
        .position(|s| s.parent_span_id == SpanId::INVALID)
    {
        return i;
    }
    spans
        .iter()
        .position(|s| {
            !spans
                .iter()
                .any(|p| p.span_context.span_id() == s.parent_span_id)
        })
        .unwrap_or(0)
}

/// Bytes a span occupies: the struct and everything it owns on the heap. Static strings are
/// counted as if owned, and each heap block with an allocator's header, so the figure is an
/// upper bound: the memory bound holds even when it errs.
pub(crate) fn span_bytes(span: &SpanData) -> usize {
    size_of::<SpanData>()
        + text(&span.name)
        + attributes(&span.attributes)
        + span.events.events.capacity() * size_of::<opentelemetry::trace::Event>()
        + span
            .events
            .iter()
            .map(|e| text(&e.name) + attributes(&e.attributes))
            .sum::<usize>()
        + span.links.links.capacity() * size_of::<opentelemetry::trace::Link>()
        + span
            .links
            .iter()
            .map(|l| attributes(&l.attributes) + text(&l.span_context.trace_state().header()))
            .sum::<usize>()
        + match &span.status {
            Status::Error { description } => text(description),
            _ => 0,
        }
        + text(span.instrumentation_scope.name())
}

/// A malloc block's header and rounding, on top of what a string or vector asks for.
const BLOCK: usize = 16;

fn text(s: &str) -> usize {
    if s.is_empty() { 0 } else { s.len() + BLOCK }
}

fn attributes(list: &Vec<KeyValue>) -> usize {
    let own = list.capacity() * size_of::<KeyValue>() + BLOCK;
    own + list
        .iter()
        .map(|kv| text(kv.key.as_str()) + value_bytes(&kv.value))
        .sum::<usize>()
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Bool(_) | Value::I64(_) | Value::F64(_) => 0,
        Value::String(s) => text(s.as_str()),
        Value::Array(Array::Bool(v)) => v.capacity() + BLOCK,
        Value::Array(Array::I64(v)) => v.capacity() * 8 + BLOCK,
        Value::Array(Array::F64(v)) => v.capacity() * 8 + BLOCK,
        Value::Array(Array::String(v)) => {
            v.capacity() * size_of::<opentelemetry::StringValue>()
                + BLOCK
                + v.iter().map(|s| text(s.as_str())).sum::<usize>()
        }
        // Kinds added later: counted through their text form.
        other => text(&other.as_str()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    /// A finished span for tests: `start_ms`..`end_ms` after an epoch of 1_000_000 s.
    pub(crate) fn span(
        trace: u128,
        id: u64,
        parent: u64,
        name: &'static str,
        start_ms: u64,
        end_ms: u64,
    ) -> SpanData {
        let at = |ms| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_millis(ms)
        };
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(name),
            start_time: at(start_ms),
            end_time: at(end_ms),
            attributes: vec![KeyValue::new("actor", "chain")],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn the_root_is_the_span_without_a_parent_and_the_duration_spans_every_span() {
        let t = Trace::new(
            TraceId::from(1),
            vec![
                span(1, 2, 1, "engine.execute_block", 250, 300),
                span(1, 1, 0, "chain.produce_block", 0, 251),
            ],
            0,
        );
        assert_eq!(t.operation(), "chain.produce_block");
        assert!(t.has_local_root());
        assert_eq!(t.duration(), Duration::from_millis(300));
        assert_eq!(t.spans()[0].name, "chain.produce_block");
    }

    #[test]
    fn without_a_local_root_the_earliest_orphan_is_the_root() {
        let t = Trace::new(
            TraceId::from(1),
            vec![span(1, 3, 2, "b", 20, 30), span(1, 2, 9, "a", 10, 40)],
            0,
        );
        assert_eq!(t.operation(), "a");
        assert!(!t.has_local_root());
    }

    #[test]
    fn an_estimate_counts_owned_text() {
        let small = span(1, 1, 0, "x", 0, 1);
        let mut big = small.clone();
        big.attributes
            .push(KeyValue::new("payload", "y".repeat(10_000)));
        assert!(span_bytes(&big) >= span_bytes(&small) + 10_000);
    }
}
