//! The stack tier: the exposition against `promtool check metrics`, and the spans at the real
//! OpenTelemetry Collector, including a trace that crosses the HTTP boundary from a client
//! into the queue and the action attempts.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alys_test_support::{OtlpCollector, Proc, ReceivedSpan, TempDir, free_port, http_get};
use alys_test_support::{promtool_complaints, wait_until};

/// The service on ephemeral ports, pushing to `otlp` when given: its API and pull endpoint.
fn start(dir: &TempDir, otlp: Option<&OtlpCollector>, extra: &[&str]) -> (Proc, String, String) {
    let (api, metrics) = (free_port(), free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_job-executor"));
    command
        .args(["--listen", &format!("127.0.0.1:{api}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .arg("--checkpoint")
        .arg(dir.join("checkpoint.json"))
        .args([
            "--checkpoint-interval",
            "200ms",
            "--action-timeout",
            "100ms",
        ])
        .args(["--retry-backoff", "10ms", "--retry-backoff-max", "40ms"])
        .args(["--latency-scale", "0.5"])
        .args(extra);
    match otlp {
        Some(collector) => {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc_endpoint())
                .env("OTEL_BSP_SCHEDULE_DELAY", "200");
        }
        None => {
            command.arg("--no-push");
        }
    }
    let service = Proc::spawn(command, "job-executor");
    let metrics = format!("http://127.0.0.1:{metrics}");
    wait_until("the service to be ready", Duration::from_secs(30), || {
        matches!(http_get(&format!("{metrics}/ready")), Ok((200, _, _))).then_some(())
    });
    (service, format!("http://127.0.0.1:{api}"), metrics)
}

#[test]
fn promtool_finds_no_problem_in_the_exposition() {
    let dir = TempDir::new("job-executor-promtool");
    let (_service, _api, metrics) = start(&dir, None, &["--driver-interval", "5ms"]);
    // Every histogram has observations, so every family is linted with samples.
    let exposition = wait_until("every histogram observed", Duration::from_secs(60), || {
        let (_, text, _) = http_get(&format!("{metrics}/metrics")).ok()?;
        let observed = |name: &str| {
            alys_test_support::sample_sum(&text, &format!("{name}_count"), &[])
                .is_some_and(|n| n > 0.0)
        };
        [
            "action_duration_ms",
            "event_processing_duration_ms",
            "checkpoint_save_duration_ms",
        ]
        .iter()
        .all(|h| observed(h))
        .then_some(text)
    });
    // The plan's histograms are named in milliseconds, and dashboards query those names:
    // promtool's lint wants no abbreviated unit in a name, and exactly this complaint about
    // exactly these names is accepted, nothing else (docs/services/job-executor.md).
    let abbreviated = "should not contain abbreviated units";
    let contract = [
        ("action_duration_ms", abbreviated),
        ("checkpoint_save_duration_ms", abbreviated),
        ("event_processing_duration_ms", abbreviated),
    ];
    let (unexpected, said) = promtool_complaints(&exposition, &contract);
    assert!(unexpected.is_empty(), "promtool: {said}");
}

/// A trace id and span id of this test's own, not 0 and different on every run.
fn own_ids() -> (String, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos());
    let trace = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1;
    (
        format!("{trace:032x}"),
        format!("{:016x}", (nanos as u64) | 1),
    )
}

#[test]
fn a_caller_s_trace_continues_through_the_queue_into_every_attempt() {
    let collector = OtlpCollector::start();
    let dir = TempDir::new("job-executor-otlp");
    let (_service, api, _metrics) = start(&dir, Some(&collector), &["--no-driver"]);
    let (trace_id, parent_id) = own_ids();
    let response = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
        .post(format!("{api}/events"))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .body(
            serde_json::json!({
                "id": "traced-1",
                "type": "order.created",
                "entity": "order-1",
                "payload": {"simulate": "succeed"}
            })
            .to_string(),
        )
        .send()
        .expect("the executor answers");
    assert!(response.status().is_success(), "{}", response.status());

    let of_trace = |pick: &dyn Fn(&ReceivedSpan) -> bool| -> Vec<ReceivedSpan> {
        collector
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id && pick(s))
            .collect()
    };
    let server = wait_until("the server span", Duration::from_secs(30), || {
        of_trace(&|s| s.name == "POST /events").pop()
    });
    assert_eq!(
        server.parent_id, parent_id,
        "the server span continues the caller"
    );
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    assert_eq!(server.attr("http.route"), Some("/events"));
    assert_eq!(server.service_name.as_deref(), Some("job-executor"));
    let event = wait_until("the event's span", Duration::from_secs(30), || {
        of_trace(&|s| s.name == "event order.created").pop()
    });
    assert_eq!(
        event.parent_id, server.span_id,
        "the event is handled under the request"
    );
    let attempts = wait_until("the action attempts", Duration::from_secs(30), || {
        let attempts = of_trace(&|s| s.name.starts_with("action "));
        (!attempts.is_empty()).then_some(attempts)
    });
    for attempt in &attempts {
        assert_eq!(
            attempt.parent_id, event.span_id,
            "{} ran in the event's trace, after the queue",
            attempt.name
        );
    }
}
