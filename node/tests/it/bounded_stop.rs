//! A stop ends within `shutdown.timeout_ms` plus a little, whatever the peers do: the real
//! binary, stopped with SIGTERM while its governance node is frozen (SIGSTOP) or unreachable
//! and its collector accepts connections but never answers, three times in a row each.
//! Requests in flight are cancelled and say so.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::support::node::{BIN, Demo};
use crate::support::{Proc, free_port, http_get, wait_until};

/// The configured bound on a stop.
const SHUTDOWN_MS: u64 = 2_000;
/// What "a little" may add: process exit, the runtime's teardown, a loaded machine.
const MARGIN: Duration = Duration::from_millis(1_000);

/// Starts the demo against `governance`, pushing to `collector`, and waits until signature
/// requests are stuck in flight; then stops it and returns how long the exit took.
fn stop_with_requests_in_flight(governance: &str, collector: &str) -> (Duration, String) {
    let mut demo = Demo::start(
        &[
            "--governance-endpoint",
            governance,
            "--block-interval",
            "100ms",
            "--shutdown-timeout-ms",
            &SHUTDOWN_MS.to_string(),
            "--otlp-endpoint",
            collector,
        ],
        &[],
    );
    // One peg-out waits for its signature; more are queued behind it in the bridge.
    wait_until(
        "a request in flight and pegs queued in the bridge",
        Duration::from_secs(20),
        || {
            let e = demo.exposition();
            let pending = e.sum("alys_governance_pending_requests", &[])?;
            let queued = e.sum("alys_actor_mailbox_size", &[("actor_type", "bridge")])?;
            (pending >= 1.0 && queued >= 2.0).then_some(())
        },
    );
    let took = demo.stop("TERM", Duration::from_secs(30));
    (took, demo.proc.stdout() + &demo.proc.stderr())
}

fn assert_bounded(took: Duration, output: &str) {
    let bound = Duration::from_millis(SHUTDOWN_MS) + MARGIN;
    assert!(
        took < bound,
        "the stop took {took:?} (bound {bound:?})\n{output}"
    );
    assert!(
        output.contains("requests in flight cancelled"),
        "the cancelled requests are reported:\n{output}"
    );
}

#[test]
fn a_stop_is_bounded_with_a_frozen_governance_node() {
    // A collector that accepts connections and never answers: the flush takes all it may.
    let silent_collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector = format!("http://{}", silent_collector.local_addr().unwrap());
    let grpc = free_port();
    let pull = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "governance-server",
        "--grpc-listen",
        &format!("127.0.0.1:{grpc}"),
        "--listen",
        &format!("127.0.0.1:{pull}"),
        "--no-push",
    ]);
    let governance = Proc::spawn(cmd, "governance-server");
    wait_until("the governance node", Duration::from_secs(20), || {
        http_get(&format!("http://127.0.0.1:{pull}/ready"))
            .ok()
            .filter(|(code, _, _)| *code == 200)
    });
    governance.signal("STOP");
    for _ in 0..3 {
        let (took, output) =
            stop_with_requests_in_flight(&format!("http://127.0.0.1:{grpc}"), &collector);
        assert_bounded(took, &output);
    }
    // Killed on drop, frozen or not.
}

#[test]
fn a_stop_is_bounded_with_an_unreachable_governance_node() {
    let silent_collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector = format!("http://{}", silent_collector.local_addr().unwrap());
    // Nothing listens there.
    let closed = free_port();
    for _ in 0..3 {
        let (took, output) =
            stop_with_requests_in_flight(&format!("http://127.0.0.1:{closed}"), &collector);
        assert_bounded(took, &output);
    }
}
