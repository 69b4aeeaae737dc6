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
