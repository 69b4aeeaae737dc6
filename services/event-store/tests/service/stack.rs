//! The stack tier: the exposition against `promtool check metrics`, and the spans at the real
//! OpenTelemetry Collector, including a trace that crosses the HTTP boundary.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alys_test_support::{OtlpCollector, ReceivedSpan, promtool_complaints, wait_until};

use crate::support::{Service, event};

#[test]
fn promtool_finds_no_problem_in_the_exposition() {
    let service = Service::start(
        &["--driver-interval", "5ms"],
        &[("ALYS_TELEMETRY_PUSH_ENABLED", "false")],
    );
    // Every histogram has observations (compaction comes last), so every family is linted.
    service.wait_for_sum("allsource_compaction_duration_seconds_count", &[], 1.0);
    let exposition = service.metrics();
    let (unexpected, said) = promtool_complaints(&exposition, &[]);
    assert!(unexpected.is_empty(), "promtool: {said}");
}

/// A trace id and span id of this test's own, not 0 and different on every run.
fn own_ids() -> (u128, u64) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos());
    let trace = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1;
    (trace, (nanos as u64) | 1)
}

#[test]
fn a_caller_s_trace_continues_into_the_server_and_ingest_spans() {
    let collector = OtlpCollector::start();
    let service = Service::start(
        &["--no-driver"],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                collector.grpc_endpoint().as_str(),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let (trace, parent) = own_ids();
    let (trace_id, parent_id) = (format!("{trace:032x}"), format!("{parent:016x}"));
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let response = client
        .post(service.api("/events"))
        .header("content-type", "application/json")
        .header("traceparent", &traceparent)
        .body(event("order.placed", "traced-1"))
        .send()
        .expect("the event store answers");
    assert_eq!(response.status().as_u16(), 201);

    let of_trace = |name: &str| -> Option<ReceivedSpan> {
        collector
            .spans()
            .into_iter()
            .find(|s| s.trace_id == trace_id && s.name == name)
    };
    let server = wait_until(
        "the server span at the collector",
        Duration::from_secs(30),
        || of_trace("POST /events"),
    );
    assert_eq!(
        server.parent_id, parent_id,
        "the server span continues the caller's span"
    );
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    assert_eq!(server.attr("http.route"), Some("/events"));
    assert_eq!(server.attr("http.response.status_code"), Some("201"));
    assert_eq!(server.service_name.as_deref(), Some("event-store"));
    let ingest = wait_until(
        "the ingest span at the collector",
        Duration::from_secs(30),
        || of_trace("event_store.ingest"),
    );
    assert_eq!(
        ingest.parent_id, server.span_id,
        "the ingest span is under the server span"
    );
    assert_eq!(ingest.attr("entity.id"), Some("traced-1"));
    assert_eq!(ingest.attr("event.type"), Some("order.placed"));
}

#[test]
fn a_replay_runs_in_a_span_under_the_request_s_server_span() {
    let collector = OtlpCollector::start();
    let service = Service::start(
        &["--no-driver"],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                collector.grpc_endpoint().as_str(),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    assert_eq!(
        service.post("/events", &event("order.placed", "r-1")).0,
        201
    );
    let (trace, parent) = own_ids();
    let trace_id = format!("{trace:032x}");
    let traceparent = format!("00-{trace_id}-{parent:016x}-01");
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let response = client
        .post(service.api("/replays"))
        .header("content-type", "application/json")
        .header("traceparent", &traceparent)
        .body(r#"{"projection": "entity_state"}"#)
        .send()
        .expect("the event store answers");
    assert_eq!(response.status().as_u16(), 200);

    let of_trace = |name: &str| {
        wait_until(name, Duration::from_secs(30), || {
            collector
                .spans()
                .into_iter()
                .find(|s| s.trace_id == trace_id && s.name == name)
        })
    };
    let server = of_trace("POST /replays");
    let replay = of_trace("event_store.replay");
    assert_eq!(
        replay.parent_id, server.span_id,
        "the replay span is under the server span"
    );
    assert_eq!(replay.attr("replay.projection"), Some("entity_state"));
    assert_eq!(replay.attr("replay.events"), Some("1"));
    assert_eq!(replay.attr("replay.outcome"), Some("completed"));
}
