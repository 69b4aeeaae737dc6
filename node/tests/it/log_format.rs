//! JSON log lines carry the trace and span ids of the span they were written in.

use std::time::Duration;

use crate::support::node::Demo;
use crate::support::wait_until;

#[test]
fn json_lines_carry_trace_and_span_ids() {
    let mut demo = Demo::start(
        &[
            "--no-push",
            "--log-format",
            "json",
            "--block-interval",
            "200ms",
        ],
        &[],
    );
    let line = wait_until(
        "a 'block produced' JSON line",
        Duration::from_secs(20),
        || {
            demo.proc
                .stdout()
                .lines()
                .find(|l| l.contains("block produced"))
                .map(str::to_string)
        },
    );
    demo.stop("TERM", Duration::from_secs(10));
    for l in demo.proc.stdout().lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["level"], "INFO");
    assert_eq!(json["span"], "chain.produce_block");
    let trace_id = json["trace_id"].as_str().unwrap();
    let span_id = json["span_id"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32, "{line}");
    assert_eq!(span_id.len(), 16, "{line}");
    assert!(trace_id.chars().all(|c| c.is_ascii_hexdigit()) && trace_id != "0".repeat(32));
    assert!(
        json["fields"]["validator"]
            .as_str()
            .is_some_and(|v| v.starts_with("validator-"))
    );
}

/// A line logged inside an actor's handler carries the ids of the message's handling span,
/// which is built on the SDK directly (no `tracing` span is entered): the block's trace, and a
/// span of its own.
#[test]
fn json_lines_in_a_handler_carry_the_handling_spans_ids() {
    let mut demo = Demo::start(
        &[
            "--no-push",
            "--log-format",
            "json",
            "--block-interval",
            "200ms",
            "--sampler",
            "parentbased_always_on",
        ],
        &[("RUST_LOG", "info,alys_node::demo::actors=debug")],
    );
    let parse = |l: &str| serde_json::from_str::<serde_json::Value>(l).ok();
    let (produced, handled) = wait_until(
        "a block's 'produced' line and a 'handled' line of the same block",
        Duration::from_secs(30),
        || {
            let lines: Vec<serde_json::Value> =
                demo.proc.stdout().lines().filter_map(parse).collect();
            let handled = |height: &serde_json::Value| {
                lines
                    .iter()
                    .find(|j| j["message"] == "block handled" && j["fields"]["height"] == *height)
            };
            lines
                .iter()
                .filter(|j| j["message"] == "block produced")
                .find_map(|p| Some((p.clone(), handled(&p["fields"]["height"])?.clone())))
        },
    );
    demo.stop("TERM", Duration::from_secs(10));
    let ids = |j: &serde_json::Value| {
        (
            j["trace_id"].as_str().unwrap_or_default().to_string(),
            j["span_id"].as_str().unwrap_or_default().to_string(),
        )
    };
    let (trace, produce_span) = ids(&produced);
    let (handled_trace, handled_span) = ids(&handled);
    assert_eq!(trace.len(), 32, "{produced}");
    assert_eq!(
        handled_trace, trace,
        "the handler logs in the block's trace: {handled}"
    );
    assert_eq!(handled_span.len(), 16, "{handled}");
    assert_ne!(
        handled_span, produce_span,
        "in its handling span: {handled}"
    );
}
