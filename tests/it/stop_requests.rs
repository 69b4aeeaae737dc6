//! The stop every program on the library waits for: SIGTERM and SIGINT, caught from
//! `StopRequests::listen` on, even when they arrive before anyone waits. Each test owns the
//! process's signal dispositions, so it runs in a process of its own.

use std::time::Duration;

use alys_telemetry::{StopRequest, StopRequests, stop_requested};
use alys_test_support::own_process::block_on;
use rusty_fork::rusty_fork_test;

/// Sends `signal` to this process, as `docker stop` (TERM) or a terminal (INT) would.
fn raise(signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal}: {status}");
}

rusty_fork_test! {
    #[test]
    fn a_signal_sent_before_the_wait_is_a_stop_request_not_the_end_of_the_process() {
        block_on(async {
            let mut stop = StopRequests::listen().expect("the handlers install");
            // Both arrive before anyone waits: a service still starting when it is stopped.
            raise("TERM");
            let first = tokio::time::timeout(Duration::from_secs(10), stop.recv())
                .await
                .expect("SIGTERM is delivered to the wait");
            assert_eq!(first, StopRequest::Terminate);
            assert_eq!(first.to_string(), "SIGTERM");
            raise("INT");
            let second = tokio::time::timeout(Duration::from_secs(10), stop.recv())
                .await
                .expect("SIGINT is delivered to the wait");
            assert_eq!(second, StopRequest::Interrupt);
            assert_eq!(second.name(), "SIGINT");
        })
    }

    #[test]
    fn stop_requested_resolves_on_sigterm() {
        block_on(async {
            let waiting = tokio::spawn(stop_requested());
            // The handlers install on the first poll: wait until the task has been polled.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !handler_installed("SIGTERM") {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "stop_requested installed no SIGTERM handler"
                );
                tokio::task::yield_now().await;
            }
            raise("TERM");
            let request = tokio::time::timeout(Duration::from_secs(10), waiting)
                .await
                .expect("stop_requested resolves")
                .expect("the task");
            assert_eq!(request, StopRequest::Terminate);
        })
    }
}

/// Whether this process catches `signal` (its bit in /proc/self/status's SigCgt).
fn handler_installed(signal: &str) -> bool {
    let bit = match signal {
        "SIGINT" => 2,
        "SIGTERM" => 15,
        other => panic!("no bit for {other}"),
    };
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (bit - 1)) != 0)
}
