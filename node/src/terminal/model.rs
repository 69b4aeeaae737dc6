//! Traces as the terminal shows them, read from OTLP JSON (`TracesData`): what the node's
//! `/api/traces` serves and what Jaeger's `/api/v3/traces` answers inside `{"result": …}`.

use std::collections::HashMap;

use alys_telemetry::exits::viewer::store::{Segment, Timing, critical_path_of, tree_order};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, TracesData, status};

/// Attributes as text, in their order.
pub type Attributes = Vec<(String, String)>;

/// A span event: its offset from the span's start in nanoseconds, its name, its attributes.
pub type Event = (u128, String, Attributes);

/// One span, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanView {
    pub span_id: String,
    pub parent_id: String,
    pub name: String,
    pub service: String,
    pub start_ns: u128,
    pub end_ns: u128,
    pub attributes: Attributes,
    pub events: Vec<Event>,
    /// Linked trace id and span id.
    pub links: Vec<(String, String)>,
    /// The error message when the span failed.
    pub error: Option<String>,
}

/// One trace: its spans, the rows of its waterfall and its critical path.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceView {
    pub trace_id: String,
    pub spans: Vec<SpanView>,
    /// Waterfall rows: span index and depth.
    pub rows: Vec<(usize, usize)>,
    pub critical: Vec<Segment>,
    pub start_ns: u128,
    pub end_ns: u128,
}

impl TraceView {
    fn new(trace_id: String, spans: Vec<SpanView>) -> TraceView {
        let timings: Vec<Timing> = spans
            .iter()
            .map(|s| Timing {
                id: hex_u64(&s.span_id),
                parent: hex_u64(&s.parent_id),
                start_ns: s.start_ns,
                end_ns: s.end_ns,
            })
            .collect();
        let rows = tree_order(&timings);
        let critical = critical_path_of(&timings);
        let start_ns = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let end_ns = spans.iter().map(|s| s.end_ns).max().unwrap_or(start_ns);
        TraceView {
            trace_id,
            spans,
            rows,
            critical,
            start_ns,
            end_ns,
        }
    }

    /// The first row's span: the root, or the earliest span whose parent is elsewhere.
    pub fn root(&self) -> &SpanView {
        &self.spans[self.rows.first().map_or(0, |r| r.0)]
    }

    pub fn duration_ns(&self) -> u128 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn has_error(&self) -> bool {
        self.spans.iter().any(|s| s.error.is_some())
    }

    /// Whether span `index` is on the critical path.
    pub fn is_critical(&self, index: usize) -> bool {
        self.critical.iter().any(|s| s.span == index)
    }

    /// Every service with spans here.
    pub fn services(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self.spans.iter().map(|s| s.service.as_str()).collect();
        s.sort();
        s.dedup();
        s
    }

    /// Whether a span name, service or attribute value contains `needle` (ASCII case-blind).
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        let hit = |s: &str| s.to_ascii_lowercase().contains(&needle);
        hit(&self.trace_id)
            || self.spans.iter().any(|s| {
                hit(&s.name) || hit(&s.service) || s.attributes.iter().any(|(_, v)| hit(v))
            })
    }
}

/// Parses OTLP JSON `TracesData`, or Jaeger's `{"result": TracesData}`, into traces in the
/// order their first span appears.
pub fn parse(json: &str) -> Result<Vec<TraceView>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(message) = value.pointer("/error/message").and_then(|m| m.as_str()) {
        return Err(message.to_string());
    }
    let data = value.get("result").cloned().unwrap_or(value);
    let data: TracesData =
        serde_json::from_value(data).map_err(|e| format!("not OTLP JSON TracesData: {e}"))?;
    Ok(from_traces_data(data))
}

/// Groups `data`'s spans by trace.
pub fn from_traces_data(data: TracesData) -> Vec<TraceView> {
    let mut order: Vec<String> = Vec::new();
    let mut by_trace: HashMap<String, Vec<SpanView>> = HashMap::new();
    for rs in data.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_else(|| "unknown".into());
        for ss in rs.scope_spans {
            for span in ss.spans {
                let id = hex(&span.trace_id);
                let view = span_view(span, &service);
                by_trace
                    .entry(id.clone())
                    .or_insert_with(|| {
                        order.push(id.clone());
                        Vec::new()
                    })
                    .push(view);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_trace.remove(&id).map(|spans| TraceView::new(id, spans)))
        .collect()
}

fn span_view(span: Span, service: &str) -> SpanView {
    let start_ns = u128::from(span.start_time_unix_nano);
    let error = span
        .status
        .as_ref()
        .and_then(|s| (s.code == status::StatusCode::Error as i32).then(|| s.message.clone()));
    SpanView {
        span_id: hex(&span.span_id),
        parent_id: hex(&span.parent_span_id),
        name: span.name,
        service: service.to_string(),
        start_ns,
        end_ns: u128::from(span.end_time_unix_nano).max(start_ns),
        attributes: pairs(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| {
                (
                    u128::from(e.time_unix_nano).saturating_sub(start_ns),
                    e.name.clone(),
                    pairs(&e.attributes),
                )
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
            .collect(),
        error,
    }
}

fn pairs(list: &[KeyValue]) -> Vec<(String, String)> {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// A value as text.
pub fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| text(Some(v))).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let items: Vec<String> = pairs(&kv.values)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(_) | None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_u64(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAEGER: &str = r#"{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"alys-node"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[
      {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174","name":"engine.execute_block","kind":1,"startTimeUnixNano":"1000000250","endTimeUnixNano":"1000000400","status":{"code":2,"message":"boom"}},
      {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chain.produce_block","kind":1,"startTimeUnixNano":"1000000000","endTimeUnixNano":"1000000260","attributes":[{"key":"block.height","value":{"intValue":"7"}}],"status":{}}]}]}]}}"#;

    #[test]
    fn jaeger_v3_answers_are_read_as_otlp_json() {
        let traces = parse(JAEGER).unwrap();
        assert_eq!(traces.len(), 1);
        let t = &traces[0];
        assert_eq!(t.root().name, "chain.produce_block");
        assert_eq!(
            t.root().attributes,
            [("block.height".to_string(), "7".to_string())]
        );
        assert_eq!(t.duration_ns(), 400);
        assert!(t.has_error());
        assert_eq!(t.rows.iter().map(|r| r.1).collect::<Vec<_>>(), [0, 1]);
        assert!(t.is_critical(0) && t.is_critical(1));
        assert_eq!(t.services(), ["alys-node"]);
    }

    #[test]
    fn errors_are_reported_not_parsed() {
        let e =
            parse(r#"{"error":{"httpCode":500,"message":"search depth must be greater than 0"}}"#)
                .unwrap_err();
        assert!(e.contains("search depth"));
        assert!(parse("<html>").is_err());
    }
}
