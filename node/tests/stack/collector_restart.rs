//! A collector restart while the demo runs at ratio 1.0: the real collector, with the shipped
//! configuration's receivers and processors (otel-collector/config.yaml), is stopped and
//! started again on the same ports, and what it writes to its files is held against what
//! the node says it produced (its `OTLP export totals` lines at the stop).
//!
//! Within the outage budget every span and log record arrives; past it, the spans missing
//! are exactly those the node counted as dropped.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::node::Demo;
use crate::support::{OtlpCollector, wait_until};

/// What the node says one signal did over its life.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Totals {
    queued: u64,
    exported: u64,
    dropped_queue_full: u64,
    dropped_outage_budget: u64,
    dropped_rejected: u64,
    unsent_at_stop: u64,
}

impl Totals {
    fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_outage_budget + self.dropped_rejected
    }
}

/// The node's `OTLP export totals` line for `signal`, from its JSON log.
fn totals(stdout: &str, signal: &str) -> Totals {
    let line = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|j| j["message"] == "OTLP export totals" && j["fields"]["signal"] == signal)
        .unwrap_or_else(|| panic!("no OTLP export totals line for {signal} in:\n{stdout}"));
    let field = |name: &str| {
        line["fields"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    Totals {
        queued: field("queued"),
        exported: field("exported"),
        dropped_queue_full: field("dropped_queue_full"),
        dropped_outage_budget: field("dropped_outage_budget"),
        dropped_rejected: field("dropped_rejected"),
        unsent_at_stop: field("unsent_at_stop"),
    }
}

/// The demo at ratio 1.0 pushing to `collector` with the outage budget `budget_ms`.
fn demo(collector: &OtlpCollector, budget_ms: u64) -> Demo {
    let endpoint = collector.grpc_endpoint();
    let budget = budget_ms.to_string();
    Demo::start(
        &[
            "--otlp-endpoint",
            &endpoint,
            "--sampler",
            "always_on",
            "--log-format",
            "json",
        ],
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            ("ALYS_TELEMETRY_PUSH_OUTAGE_BUDGET_MS", &budget),
            // The stop drains what waited since the outage: give it room.
            ("ALYS_TELEMETRY_SHUTDOWN_TIMEOUT_MS", "20000"),
        ],
    )
}

/// What one run saw: the node's totals and what reached the collector's files.
struct Run {
    spans: Totals,
    logs: Totals,
    spans_received: u64,
    logs_received: u64,
    /// Metric exports the restarted collector received.
    metrics_after_restart: usize,
}

/// Runs the demo, stops the collector for `outage` once spans flow, starts it again on the
/// same ports, lets the node deliver what waited, stops the node and counts.
fn run_with_outage(outage: Duration, budget_ms: u64) -> Run {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../otel-collector/config.yaml");
    let mut collector = OtlpCollector::start_shipped(&shipped);
    let mut node = demo(&collector, budget_ms);
    wait_until(
        "spans at the collector before the outage",
        Duration::from_secs(30),
        || (collector.spans().len() > 50).then_some(()),
    );
    collector.stop();
    // Everything the stopped collector accepted is in its files now.
    let before_restart = collector.spans().len();
    // The outage itself: its length is what the test varies, not a wait for an event.
    std::thread::sleep(outage);
    collector.restart();
    let metrics_before = collector.received().metrics.len();
    wait_until(
        "spans at the restarted collector",
        Duration::from_secs(30),
        || (collector.spans().len() > before_restart).then_some(()),
    );
    node.stop("TERM", Duration::from_secs(40));
    let stdout = node.proc.stdout();
    let spans = totals(&stdout, "traces");
    let logs = totals(&stdout, "logs");
    // The collector writes what it accepted within its flush interval.
    let settled = |received: &dyn Fn() -> u64, expected: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = received();
            if now >= expected || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let unique_spans = || {
        let ids: HashSet<String> = collector.spans().into_iter().map(|s| s.span_id).collect();
        ids.len() as u64
    };
    let spans_received = settled(&unique_spans, spans.exported);
    let logs_received = settled(&|| collector.logs().len() as u64, logs.exported);
    let metrics_after_restart = collector
        .received()
        .metrics
        .len()
        .saturating_sub(metrics_before);
    collector.stop();
    eprintln!(
        "outage {outage:?}, budget {budget_ms} ms: spans {spans:?}, {spans_received} received; \
         logs {logs:?}, {logs_received} received; {metrics_after_restart} metric streams after"
    );
    Run {
        spans,
        logs,
        spans_received,
        logs_received,
        metrics_after_restart,
    }
}

fn assert_nothing_lost(outage: Duration) {
    let run = run_with_outage(outage, 30_000);
    let Run { spans, logs, .. } = run;
    assert_eq!(
        spans.dropped(),
        0,
        "spans dropped through a {outage:?} outage: {spans:?}"
    );
    assert_eq!(
        spans.exported, spans.queued,
        "every span queued was exported: {spans:?}"
    );
    assert_eq!(
        spans.unsent_at_stop, 0,
        "the stop delivered what waited: {spans:?}"
    );
    assert_eq!(
        run.spans_received, spans.queued,
        "every span the node ended reached the collector's exporter ({spans:?})"
    );
    assert_eq!(logs.dropped(), 0, "log records dropped: {logs:?}");
    assert_eq!(
        run.logs_received, logs.queued,
        "every log record arrived ({logs:?})"
    );
    assert!(
        run.metrics_after_restart > 0,
        "metrics reached the restarted collector"
    );
}

#[test]
fn a_five_second_collector_outage_loses_nothing() {
    assert_nothing_lost(Duration::from_secs(5));
}

#[test]
fn a_twenty_second_collector_outage_loses_nothing() {
    assert_nothing_lost(Duration::from_secs(20));
}

#[test]
fn past_the_budget_the_spans_missing_are_exactly_those_counted_as_dropped() {
    let run = run_with_outage(Duration::from_secs(12), 3_000);
    let spans = run.spans;
    assert!(
        spans.dropped_outage_budget > 0,
        "a 12 s outage with a 3 s budget drops batches: {spans:?}"
    );
    let ended = spans.queued + spans.dropped_queue_full;
    assert_eq!(
        ended - run.spans_received,
        spans.dropped(),
        "spans missing at the collector vs counted as dropped ({spans:?}, {} received)",
        run.spans_received
    );
}
