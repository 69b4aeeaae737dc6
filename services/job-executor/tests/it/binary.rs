//! The service as a user runs it: its driver sends events over HTTP to its own API, and
//! within seconds every one of its metrics has moved on `/metrics`, every kind of task has
//! run, and the viewer holds traces that cross the HTTP boundary into the queue. Stopped with
//! SIGTERM, it saves a checkpoint; started again, it recovers from it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use alys_test_support::exposition::parse_exposition;
use alys_test_support::{Proc, TempDir, free_port, http_get};
use serde_json::Value;

/// The plan's metrics, each with how a scrape shows it moved.
const COUNTERS: &[&str] = &[
    "events_processed_total",
    "actions_executed_total",
    "action_success_total",
    "action_failure_total",
    "action_timeout_total",
    "queue_jobs_enqueued_total",
    "queue_jobs_processed_total",
    "queue_retry_total",
    "queue_deadletter_total",
    "cache_hits_total",
    "cache_misses_total",
    "dedup_checks_total",
    "dedup_duplicates_found_total",
    "checkpoint_saves_total",
    "checkpoint_recovery_total",
];
const HISTOGRAMS: &[&str] = &[
    "action_duration_ms",
    "event_processing_duration_ms",
    "checkpoint_save_duration_ms",
];
const GAUGES: &[&str] = &[
    "queue_depth",
    "events_in_flight",
    "cache_hit_rate",
    "cache_size_bytes",
    "dedup_hit_rate",
];
const TASKS: &[&str] = &[
    "server",
    "worker",
    "action",
    "retry_timer",
    "checkpointer",
    "driver",
];

fn start(checkpoint: &Path, metrics_port: u16, extra: &[&str]) -> (Proc, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_job-executor"));
    command
        .args(["--listen", "127.0.0.1:0", "--no-push"])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .arg("--checkpoint")
        .arg(checkpoint)
        .args(["--checkpoint-interval", "200ms", "--workers", "2"])
        .args(["--queue-capacity", "16", "--action-timeout", "100ms"])
        .args(["--retry-backoff", "10ms", "--retry-backoff-max", "40ms"])
        .args(["--latency-scale", "0.5", "--driver-interval", "10ms"])
        .args(extra)
        .env("RUST_LOG", "info");
    let service = Proc::spawn(command, "job-executor");
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    alys_test_support::wait_until("the service to be ready", Duration::from_secs(30), || {
        matches!(http_get(&format!("{metrics}/ready")), Ok((200, _, _))).then_some(())
    });
    (service, metrics)
}

fn scrape(metrics: &str) -> String {
    let (status, text, _) = http_get(&format!("{metrics}/metrics")).expect("scrape");
    assert_eq!(status, 200);
    text
}

#[test]
fn every_metric_moves_while_the_service_runs_and_a_restart_recovers() {
    let dir = TempDir::new("job-executor-binary");
    let checkpoint = dir.join("state/checkpoint.json");
    let (mut service, metrics) = start(&checkpoint, free_port(), &[]);

    // Counters and histograms only grow; a gauge moves if any scrape shows it above 0.
    let mut moved = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected = COUNTERS.len() + HISTOGRAMS.len() + GAUGES.len() + TASKS.len();
    let mut text = String::new();
    while moved.len() < expected && Instant::now() < deadline {
        text = scrape(&metrics);
        let exposition = parse_exposition(&text);
        let above = |name: &str, labels: &[(&str, &str)]| {
            exposition.sum(name, labels).is_some_and(|v| v > 0.0)
        };
        for name in COUNTERS.iter().chain(GAUGES) {
            if above(name, &[]) {
                moved.insert(name.to_string());
            }
        }
        for name in HISTOGRAMS {
            if above(&format!("{name}_count"), &[]) {
                moved.insert(name.to_string());
            }
        }
        for task in TASKS {
            if above("alys_task_instrumented_total", &[("task", task)]) {
                moved.insert(format!("task {task}"));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let all: BTreeSet<String> = COUNTERS
        .iter()
        .chain(HISTOGRAMS)
        .chain(GAUGES)
        .map(|n| n.to_string())
        .chain(TASKS.iter().map(|t| format!("task {t}")))
        .collect();
    let still: Vec<_> = all.difference(&moved).collect();
    assert!(still.is_empty(), "never moved: {still:?}\n{text}");
    // The driver's requests were served by the API, by route template.
    let exposition = parse_exposition(&text);
    let route = [("http_route", "/events"), ("http_request_method", "POST")];
    assert!(exposition.sum("http_server_request_duration_seconds_count", &route) > Some(0.0));
    assert_eq!(
        exposition.sum("checkpoint_recovery_total", &[("outcome", "empty")]),
        Some(1.0)
    );

    // A driver's trace, kept by the viewer: its client span, the API's server span, the
    // event's span and the attempts, one trace.
    let trace =
        alys_test_support::wait_until("a whole event trace", Duration::from_secs(30), || {
            let (_, body, _) = http_get(&format!("{metrics}/api/traces?limit=100")).ok()?;
            let traces: Value = serde_json::from_str(&body).ok()?;
            traces["resourceSpans"]
                .as_array()?
                .iter()
                .find_map(whole_event_trace)
        });
    assert!(trace.len() >= 4, "{trace:?}");

    service.signal("TERM");
    let status = service
        .wait_exit(Duration::from_secs(20))
        .expect("it stops");
    assert!(status.success(), "{status}\n{}", service.output_tail(20));
    let saved: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["version"], 1);
    assert!(
        !saved["dead_letters"].as_array().unwrap().is_empty(),
        "{saved}"
    );

    // Started again on the same checkpoint: it recovers and keeps its dead letters (the
    // jobs it recovered may add some: they run again).
    let (mut again, metrics) = start(&checkpoint, free_port(), &["--no-driver"]);
    let text = scrape(&metrics);
    let exposition = parse_exposition(&text);
    let restored = exposition.sum("checkpoint_recovery_total", &[("outcome", "restored")]);
    assert_eq!(restored, Some(1.0), "{text}");
    let api = api_address(&again);
    let (status, letters, _) = http_get(&format!("{api}/deadletters")).unwrap();
    assert_eq!(status, 200);
    let letters: Value = serde_json::from_str(&letters).unwrap();
    let saved_letters = saved["dead_letters"].as_array().unwrap();
    assert_eq!(
        &letters.as_array().unwrap()[..saved_letters.len()],
        saved_letters.as_slice()
    );
    again.signal("INT");
    assert!(
        again
            .wait_exit(Duration::from_secs(20))
            .expect("it stops")
            .success()
    );
}

/// The API's address, from the line the service prints at start.
fn api_address(service: &Proc) -> String {
    let out = service.stderr();
    let line = out
        .lines()
        .find(|l| l.contains("API on "))
        .unwrap_or_else(|| panic!("no address in {out}"));
    let start = line.find("http://").unwrap();
    line[start..].split(',').next().unwrap().to_string()
}

/// The span names of `trace` (one `resourceSpans` entry) when it runs from the driver
/// through the API to an attempt, each span the child of the one before.
fn whole_event_trace(trace: &Value) -> Option<Vec<String>> {
    let spans: Vec<&Value> = trace["scopeSpans"]
        .as_array()?
        .iter()
        .filter_map(|scope| scope["spans"].as_array())
        .flatten()
        .collect();
    let find = |pred: &dyn Fn(&str) -> bool, parent: Option<&Value>| {
        spans.iter().copied().find(|s| {
            let name = s["name"].as_str().unwrap_or("");
            let parent_id = s["parentSpanId"].as_str().unwrap_or("");
            pred(name)
                && match parent {
                    None => parent_id.is_empty(),
                    Some(p) => parent_id == p["spanId"].as_str().unwrap_or("-"),
                }
        })
    };
    let driver = find(&|n| n.starts_with("POST ") && n != "POST /events", None)?;
    let server = find(&|n| n == "POST /events", Some(driver))?;
    let event = find(&|n| n.starts_with("event "), Some(server))?;
    let attempt = find(&|n| n.starts_with("action "), Some(event))?;
    Some(
        [driver, server, event, attempt]
            .iter()
            .map(|s| s["name"].as_str().unwrap_or("").to_string())
            .collect(),
    )
}
