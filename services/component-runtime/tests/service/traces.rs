//! A message's trace in the library's viewer (`/api/traces` on the pull endpoint's
//! listener): it continues the caller's W3C context in the API's server span and runs through
//! every component it passes, each hop a child of the one before; a failed hop is marked
//! failed; a caller's unsampled trace stays unsampled all the way (no span at all).

use std::time::Duration;

use alys_test_support::{http_get, wait_until};
use serde_json::Value;

use crate::support::{Service, json, own_ids, post_traced};

/// One span of a trace, as the viewer's OTLP JSON has it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    span_id: String,
    parent: String,
    kind: i64,
    status: i64,
}

/// The spans of trace `trace` in an OTLP JSON `TracesData`.
fn spans_of(data: &Value, trace: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource in data["resourceSpans"].as_array().into_iter().flatten() {
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for s in scope["spans"].as_array().into_iter().flatten() {
                if s["traceId"].as_str() != Some(trace) {
                    continue;
                }
                let text = |key: &str| s[key].as_str().unwrap_or_default().to_string();
                spans.push(Span {
                    name: text("name"),
                    span_id: text("spanId"),
                    parent: text("parentSpanId"),
                    kind: s["kind"].as_i64().unwrap_or(0),
                    status: s["status"]["code"].as_i64().unwrap_or(0),
                });
            }
        }
    }
    spans
}

/// The hops of a message from `first`, each the child of the one before.
fn chain(spans: &[Span], parent: &str, names: &[&str]) -> Option<Vec<Span>> {
    let mut found: Vec<Span> = Vec::new();
    let mut parent = parent.to_string();
    for name in names {
        let next = spans
            .iter()
            .find(|s| s.name == *name && s.parent == parent)?;
        parent = next.span_id.clone();
        found.push(next.clone());
    }
    Some(found)
}

const HOPS: [&str; 5] = [
    "POST /components/{id}/messages",
    "source.ingest",
    "parser.parse",
    "enricher.enrich",
    "sink.deliver",
];

#[test]
fn a_messages_trace_runs_from_the_caller_through_every_component() {
    let service = Service::quiet(&[]);
    let (trace, span) = own_ids();
    let body = r#"{"payload": "sensor=s4 temperature=12.0"}"#;
    let (status, answer) = post_traced(&service, "source", body, (&trace, &span), true);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["trace_id"],
        trace.as_str(),
        "the answer names the caller's trace"
    );

    // Found through the list the viewer serves, among every kept trace.
    let hops = wait_until(
        "the message's trace in /api/traces",
        Duration::from_secs(20),
        || {
            let (code, text, _) = http_get(&service.pull("/api/traces?limit=500")).ok()?;
            (code == 200).then_some(())?;
            chain(&spans_of(&json(&text), &trace), &span, &HOPS)
        },
    );
    let server = &hops[0];
    assert_eq!(
        server.kind, 2,
        "the API's span is a server span: {server:?}"
    );
    assert_eq!(server.parent, span, "it continues the caller's span");
    assert!(hops.iter().all(|h| h.status != 2), "{hops:?}");

    // And on its own page.
    let (code, text, _) = http_get(&service.pull(&format!("/api/traces/{trace}"))).expect("GET");
    assert_eq!(code, 200, "{text}");
    let spans = spans_of(&json(&text), &trace);
    assert_eq!(spans.len(), HOPS.len(), "{spans:?}");
}

#[test]
fn a_failed_hop_is_marked_failed_and_the_trace_ends_there() {
    let service = Service::quiet(&[]);
    let (trace, span) = own_ids();
    let body = r#"{"payload": "sensor=s1 temperature=2", "crash_at": "parser"}"#;
    let (status, _) = post_traced(&service, "source", body, (&trace, &span), true);
    assert_eq!(status, 202);
    let hops = wait_until("the failed trace", Duration::from_secs(20), || {
        let url = service.pull(&format!("/api/traces/{trace}"));
        let (code, text, _) = http_get(&url).ok()?;
        (code == 200).then_some(())?;
        chain(&spans_of(&json(&text), &trace), &span, &HOPS[..3])
    });
    assert_eq!(hops[2].status, 2, "parser.parse is failed: {hops:?}");
    assert_eq!(hops[1].status, 0, "source.ingest is not: {hops:?}");
    // Its failure lists it among the failed traces once it settles; nothing went past the
    // parser.
    let kept = wait_until(
        "the trace among the failed",
        Duration::from_secs(20),
        || {
            let (_, text, _) = http_get(&service.pull("/api/traces?error=true")).ok()?;
            let spans = spans_of(&serde_json::from_str(&text).ok()?, &trace);
            (!spans.is_empty()).then_some(spans)
        },
    );
    assert!(
        !kept.iter().any(|s| s.name == "enricher.enrich"),
        "{kept:?}"
    );
}

#[test]
fn an_unsampled_callers_message_makes_no_span() {
    let service = Service::quiet(&[]);
    let (trace, span) = own_ids();
    let body = r#"{"payload": "sensor=s2 temperature=5"}"#;
    let (status, answer) = post_traced(&service, "source", body, (&trace, &span), false);
    assert_eq!(status, 202, "{answer}");
    service.wait_handled("sink", 1);
    // A sampled message sent after it is kept whole: the viewer has caught up.
    let (sampled, parent) = own_ids();
    post_traced(&service, "source", body, (&sampled, &parent), true);
    wait_until("the sampled trace", Duration::from_secs(20), || {
        let url = service.pull(&format!("/api/traces/{sampled}"));
        let (_, text, _) = http_get(&url).ok()?;
        chain(
            &spans_of(&serde_json::from_str(&text).ok()?, &sampled),
            &parent,
            &HOPS,
        )
    });
    let (code, text, _) = http_get(&service.pull(&format!("/api/traces/{trace}"))).expect("GET");
    assert_eq!(code, 404, "the unsampled trace has spans: {text}");
}
