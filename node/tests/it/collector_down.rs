//! The collector is down: refusing connections, or accepting and never answering. The pull
//! endpoint keeps serving, the failure counter grows, failures are logged at most once per
//! interval, and shutdown returns within its bound plus one second. The failures are logged
//! only with RUST_LOG set: without it, a demo that never reached a collector prints the
//! first-run hint instead (node/tests/it/first_run.rs).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::node::Demo;
use crate::support::{free_port, wait_until};

const SHUTDOWN_MS: u64 = 1500;

/// A socket that accepts connections and never says a word.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    // Polling the accept queue; the sleep only paces the loop.
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn failures(demo: &Demo, signal: &str) -> f64 {
    demo.metric_sum(
        "alys_telemetry_export_failures_total",
        &[("signal", signal)],
    )
    .unwrap_or(0.0)
}

fn assert_keeps_serving_and_counts_failures(demo: &Demo) {
    let first = wait_until(
        "a first metrics export failure",
        Duration::from_secs(30),
        || {
            let f = failures(demo, "metrics");
            (f >= 1.0).then_some(f)
        },
    );
    wait_until(
        "the failure counter to grow",
        Duration::from_secs(30),
        || (failures(demo, "metrics") > first + 1.0).then_some(()),
    );
    wait_until("a traces export failure", Duration::from_secs(30), || {
        (failures(demo, "traces") >= 1.0).then_some(())
    });
    // The node's own metrics are still served.
    assert!(demo.metric_sum("alys_actor_messages_total", &[]).is_some());
    assert_eq!(
        demo.metric_sum(
            "alys_telemetry_last_export_success_timestamp_seconds",
            &[("signal", "metrics")]
        ),
        Some(0.0)
    );
    // Many failures, one log line per signal per interval.
    let logged = demo
        .proc
        .stdout()
        .lines()
        .filter(|l| l.contains("OTLP export failed") && l.contains("signal=\"metrics\""))
        .count();
    assert_eq!(logged, 1, "{}", demo.proc.stdout());
}

#[test]
fn refused_connections_are_counted_and_shutdown_is_bounded() {
    let closed = free_port();
    let mut demo = Demo::start(
        &[
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{closed}"),
            "--shutdown-timeout-ms",
            &SHUTDOWN_MS.to_string(),
            "--block-interval",
            "200ms",
        ],
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("RUST_LOG", "info"),
        ],
    );
    assert_keeps_serving_and_counts_failures(&demo);
    let took = demo.stop("INT", Duration::from_secs(30));
    assert!(
        took <= Duration::from_millis(SHUTDOWN_MS + 1000),
        "took {took:?}"
    );
}

#[test]
fn a_silent_collector_is_counted_as_failing() {
    let silent = Silent::start();
    let demo = Demo::start(
        &[
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{}", silent.port),
            "--block-interval",
            "200ms",
        ],
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            ("RUST_LOG", "info"),
        ],
    );
    assert_keeps_serving_and_counts_failures(&demo);
}

#[test]
fn shutdown_against_a_silent_collector_returns_within_its_bound() {
    let silent = Silent::start();
    // Exports may hang for 30 s each; the shutdown bound must still hold.
    let mut demo = Demo::start(
        &[
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{}", silent.port),
            "--shutdown-timeout-ms",
            &SHUTDOWN_MS.to_string(),
            "--block-interval",
            "200ms",
        ],
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ],
    );
    // Let exports start and hang.
    wait_until(
        "the demo to be busy exporting",
        Duration::from_secs(20),
        || {
            demo.metric_sum("alys_actor_messages_total", &[])
                .filter(|v| *v >= 5.0)
        },
    );
    let took = demo.stop("TERM", Duration::from_secs(40));
    assert!(
        took <= Duration::from_millis(SHUTDOWN_MS + 1000),
        "took {took:?}"
    );
    assert!(
        demo.proc.stderr().contains("with problems"),
        "{}",
        demo.proc.stderr()
    );
}

#[test]
fn spans_dropped_before_export_are_visible() {
    // A two-span queue that is exported only every 10 s overflows within a second.
    let mut demo = Demo::start(
        &[
            "--otlp-endpoint",
            "http://127.0.0.1:1",
            "--block-interval",
            "100ms",
        ],
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "2"),
            ("OTEL_BSP_SCHEDULE_DELAY", "10000"),
        ],
    );
    let dropped = wait_until(
        "queue-full drops on /metrics",
        Duration::from_secs(20),
        || {
            demo.metric_sum(
                "alys_telemetry_export_dropped_items_total",
                &[("signal", "traces"), ("reason", "queue_full")],
            )
            .filter(|v| *v > 0.0)
        },
    );
    assert!(dropped >= 1.0);
    demo.stop("TERM", Duration::from_secs(15));
}
