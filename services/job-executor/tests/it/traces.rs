//! One trace per event, across the HTTP boundary and the queue: the caller's span, the API's
//! server span, the event's span, and each attempt of each job, retries linked to the attempt
//! before them.

use opentelemetry::trace::{SpanId, TraceContextExt};
use serde_json::json;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::*;

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found = named(spans, name);
    assert_eq!(
        found.len(),
        1,
        "one {name} among {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[test]
fn attempts_continue_the_trace_the_request_brought_through_the_queue() {
    let harness = Harness::new();
    let caller = tracing::info_span!("caller");
    runtime().block_on(async {
        let executor = harness.executor(ExecutorConfig {
            max_retries: 1,
            ..quick_config()
        });
        executor.start();
        let (base, _stop) = serve(&harness, &executor).await;
        // The caller's context goes in the request as W3C `traceparent`.
        let mut headers = http::HeaderMap::new();
        alys_telemetry::sources::http::propagation::inject(&caller.context(), &mut headers);
        assert!(headers.contains_key("traceparent"));
        let event = json!({ "id": "t1", "type": "order.shipped", "entity": "order-3",
                            "payload": { "simulate": "fail" } });
        let (status, body) = post_event(&base, event, headers).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(ended(&executor, "t1").await, "dead_lettered");
        let trace_id = caller.context().span().span_context().trace_id();
        assert_eq!(
            body["trace_id"],
            trace_id.to_string(),
            "the response names the trace"
        );
    });
    drop(caller);
    let spans = harness.finished();

    let caller = one(&spans, "caller");
    let server = one(&spans, "POST /events");
    let event = one(&spans, "event order.shipped");
    assert_eq!(server.parent_span_id, caller.span_context.span_id());
    assert_eq!(event.parent_span_id, server.span_context.span_id());
    assert_eq!(
        attribute(event, "event.outcome").as_deref(),
        Some("dead_lettered")
    );
    assert_eq!(attribute(event, "event.id").as_deref(), Some("t1"));
    // The event's span lasts until its last job ends: after the response went.
    assert!(event.end_time > server.end_time);

    let attempts: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("action "))
        .collect();
    assert_eq!(attempts.len(), 4, "two jobs, two attempts each");
    for attempt in &attempts {
        assert_eq!(
            attempt.span_context.trace_id(),
            caller.span_context.trace_id()
        );
        assert_eq!(attempt.parent_span_id, event.span_context.span_id());
        assert_eq!(
            attribute(attempt, "action.outcome").as_deref(),
            Some("failed")
        );
        assert!(matches!(
            attempt.status,
            opentelemetry::trace::Status::Error { .. }
        ));
    }
    // Each retry links to the attempt before it, of the same job.
    for name in ["action email", "action webhook"] {
        let mut job = named(&spans, name);
        job.sort_by_key(|s| attribute(s, "attempt"));
        assert_eq!(attribute(job[0], "attempt").as_deref(), Some("1"));
        assert!(job[0].links.is_empty());
        let links: Vec<SpanId> = job[1]
            .links
            .iter()
            .map(|l| l.span_context.span_id())
            .collect();
        assert_eq!(links, [job[0].span_context.span_id()], "{name}");
    }
}

#[test]
fn without_a_caller_the_request_starts_the_trace() {
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(quick_config());
        executor.start();
        let (base, _stop) = serve(&harness, &executor).await;
        let event = json!({ "id": "t2", "type": "user.signup", "entity": "user-2" });
        assert_eq!(post_event(&base, event, Default::default()).await.0, 202);
        assert_eq!(ended(&executor, "t2").await, "succeeded");
    });
    let spans = harness.finished();
    let server = one(&spans, "POST /events");
    assert_eq!(server.parent_span_id, SpanId::INVALID);
    let event = one(&spans, "event user.signup");
    assert_eq!(event.parent_span_id, server.span_context.span_id());
    for name in ["action email", "action search_index"] {
        let attempt = one(&spans, name);
        assert_eq!(
            attempt.span_context.trace_id(),
            server.span_context.trace_id()
        );
        assert_eq!(attempt.parent_span_id, event.span_context.span_id());
        assert_eq!(attribute(attempt, "cache.hit").as_deref(), Some("false"));
    }
}
