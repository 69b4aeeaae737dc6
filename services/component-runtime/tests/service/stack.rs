//! The stack tier (feature `stack-tests`): `promtool check metrics` on the exposition, and
//! the real OpenTelemetry Collector receiving the service's spans and metrics over OTLP,
//! including a trace that crosses the HTTP boundary from a caller of the test's own.

use std::time::Duration;

use alys_test_support::{Accepted, OtlpCollector, ReceivedSpan, promtool_complaints, wait_until};

use crate::support::{Service, own_ids, post_traced};

/// Gauges of the library's actor family whose names Alys alert rules already use; promtool's
/// lint wants `_count` only on histograms and summaries. Nothing else may be complained of.
const LIBRARY_CONTRACT: [Accepted; 2] = [
    (
        "alys_actor_healthy_count",
        "should not have \"_count\" suffix",
    ),
    (
        "alys_actor_total_count",
        "should not have \"_count\" suffix",
    ),
];

#[test]
fn promtool_finds_no_problem_in_the_exposition() {
    let service = Service::start(
        &["--no-push", "--rate", "50", "--timeout-rate", "0.05"],
        &[],
    );
    // Every family the service records has samples before it is checked.
    wait_until(
        "samples of every histogram",
        Duration::from_secs(30),
        || {
            let sink = ("component", "sink");
            [
                service.metric("component_processing_latency_seconds_count", &[sink]),
                service.metric("http_server_request_duration_seconds_count", &[]),
                service.metric("alys_inter_actor_message_latency_seconds_count", &[]),
                service.metric("component_errors_total", &[("error_type", "timeout")]),
            ]
            .iter()
            .all(|v| v.is_some_and(|v| v > 0.0))
            .then_some(())
        },
    );
    let (unexpected, said) = promtool_complaints(&service.metrics(), &LIBRARY_CONTRACT);
    assert!(unexpected.is_empty(), "promtool: {said}");
}

const FAST_EXPORT: &[(&str, &str)] = &[
    ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
];

#[test]
fn a_callers_trace_and_the_metrics_arrive_at_the_collector() {
    let collector = OtlpCollector::start();
    let endpoint = collector.grpc_endpoint();
    let mut args = crate::support::QUIET.to_vec();
    args.extend(["--otlp-endpoint", endpoint.as_str()]);
    let service = Service::start(&args, FAST_EXPORT);

    // The test is the caller: its own trace id and span id, sampled.
    let (trace, span) = own_ids();
    let body = r#"{"payload": "sensor=s6 temperature=19.0"}"#;
    let (status, answer) = post_traced(&service, "source", body, (&trace, &span), true);
    assert_eq!(status, 202, "{answer}");

    let hops = wait_until(
        "the caller's trace at the collector",
        Duration::from_secs(30),
        || hops_under(&collector.spans(), &trace, &span),
    );
    let server = &hops[0];
    assert_eq!(server.kind, "SPAN_KIND_SERVER", "{server:?}");
    assert_eq!(server.attr("http.route"), Some("/components/{id}/messages"));
    assert_eq!(server.service_name.as_deref(), Some("component-runtime"));
    let enrich = &hops[3];
    assert_eq!(enrich.attr("from_actor"), Some("parser"));
    assert_eq!(enrich.attr("to_actor"), Some("enricher"));
    assert_eq!(enrich.attr("message_type"), Some("enrich"));

    // OTLP carries the instruments under their OpenTelemetry names: the seed's
    // `component_messages_processed` as it wrote it, a sum.
    let processed = wait_until(
        "the processed count at the collector",
        Duration::from_secs(30),
        || {
            collector.received().metrics.into_iter().rev().find(|m| {
                m.name == "component_messages_processed"
                    && m.points
                        .iter()
                        .any(|p| p.attr("component") == Some("sink") && p.value == Some(1.0))
            })
        },
    );
    assert_eq!(processed.data_type, "Sum", "{processed:?}");
    let latency =
        collector.wait_for_metric("component_processing_latency", Duration::from_secs(30));
    assert_eq!(
        (latency.data_type.as_str(), latency.unit.as_str()),
        ("Histogram", "s")
    );
    collector.wait_for_metric("alys_actor_messages", Duration::from_secs(30));
    collector.wait_for_metric("http.server.request.duration", Duration::from_secs(30));
}

/// The message's hops in trace `trace`, from the API's server span under the caller's span
/// `parent` to the sink, each the child of the one before.
fn hops_under(spans: &[ReceivedSpan], trace: &str, parent: &str) -> Option<Vec<ReceivedSpan>> {
    let mut hops: Vec<ReceivedSpan> = Vec::new();
    let mut parent = parent.to_string();
    for name in [
        "POST /components/{id}/messages",
        "source.ingest",
        "parser.parse",
        "enricher.enrich",
        "sink.deliver",
    ] {
        let next = spans
            .iter()
            .find(|s| s.trace_id == trace && s.parent_id == parent && s.name == name)?;
        parent = next.span_id.clone();
        hops.push(next.clone());
    }
    Some(hops)
}
