//! The integration tests' harness, shared by the library's tests and the node's: temp dirs,
//! child processes, HTTP, and the real third-party servers the tests run against
//! (Prometheus, the OpenTelemetry Collector, the whole stack).
//!
//! Everything here blocks. In an async test, call it through
//! `tokio::task::spawn_blocking`, or a server running on the test's own
//! runtime may never get to answer.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod collector;
mod collector_restart;
pub mod dashboards;
pub mod exposition;
mod http;
/// `docker build` and `docker run` of our Dockerfile, replayed without a Docker engine.
pub mod image;
/// Metrics recorded in process and read back as the pull endpoint serves them.
pub mod metrics;
pub mod otlp_send;
pub mod own_process;
mod process;
mod prometheus;
pub mod promql;
mod promtool;
pub mod stack;
pub mod tls;
mod webhook;

pub use collector::*;
pub use exposition::{Exposition, Sample, sample_sum};
pub use promtool::{Accepted, promtool_complaints};
pub use webhook::Webhook;
pub use {http::*, process::*, prometheus::*};

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh to install the test dependencies";

/// Startup can be slow when many test binaries start servers in parallel.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A free-port probe races with everyone else on the machine; servers we start
/// retry with fresh ports when they lose that race.
const BIND_ATTEMPTS: usize = 3;

/// Well-known ports of a real collector / Prometheus / Alertmanager that may be
/// running on a developer machine; a test must never talk to those by accident.
const RESERVED_PORTS: [u16; 4] = [4317, 4318, 9090, 9093];

// ---------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------

/// An unused loopback port. The port is released before returning, so another
/// process may grab it first; servers started here retry on "address in use".
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if !RESERVED_PORTS.contains(&port) {
            return port;
        }
    }
}

/// Polls `f` every ~50ms until it returns `Some`, panicking after `timeout`.
#[track_caller]
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    match poll(timeout, &mut f) {
        Some(v) => v,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// [`wait_until`] for async tests: polls `done` every 20 ms on the test's runtime until it
/// holds, panicking after `timeout`; returns how long it took.
#[track_caller]
pub fn wait_until_async<'a>(
    what: &'a str,
    timeout: Duration,
    mut done: impl FnMut() -> bool + 'a,
) -> impl std::future::Future<Output = Duration> + 'a {
    let started = Instant::now();
    async move {
        while !done() {
            assert!(
                started.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }
}

/// `wait_until` without the panic, for callers that add their own diagnostics.
pub(crate) fn poll<T>(timeout: Duration, f: &mut impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// An executable from PATH (or /usr/bin, which minimal PATHs sometimes lack).
pub fn find_binary(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| is_exe(p))
        .unwrap_or_else(|| panic!("`{name}` not found in PATH or /usr/bin; {INSTALL_HINT}"))
}

/// A program of the stack (prometheus, promtool, alertmanager, amtool, …) at the version
/// stack-programs/versions.toml pins, built from its Go module.
pub fn stack_tool(name: &str) -> PathBuf {
    stack::Programs::load(&stack::repo()).tool(name)
}

/// Starts a server whose listen ports are picked by `start`, retrying with new
/// ports when it lost the race for them; `ready` reports readiness.
fn start_server<S>(
    name: &str,
    mut start: impl FnMut() -> (Proc, S),
    ready: impl Fn(&S) -> bool,
) -> (Proc, S) {
    for attempt in 1..=BIND_ATTEMPTS {
        let (mut proc, server) = start();
        let outcome = poll(STARTUP_TIMEOUT, &mut || {
            // Exit first: `ready` could be answered by whoever won the port.
            match proc.child.try_wait().expect("try_wait") {
                Some(status) => Some(Err(status)),
                None => ready(&server).then_some(Ok(())),
            }
        });
        match outcome {
            Some(Ok(())) => return (proc, server),
            Some(Err(status)) => {
                proc.report_on_panic = false;
                let output = format!("{}\n{}", proc.stdout(), proc.stderr());
                let lost_port_race = output
                    .to_ascii_lowercase()
                    .contains("address already in use");
                if !(lost_port_race && attempt < BIND_ATTEMPTS) {
                    panic!(
                        "{name} exited during startup ({status})\n{}",
                        proc.output_tail(40)
                    );
                }
            }
            None => {
                proc.report_on_panic = false;
                panic!(
                    "{name} not ready after {STARTUP_TIMEOUT:?}\n{}",
                    proc.output_tail(40)
                )
            }
        }
    }
    unreachable!("the last attempt either returns or panics")
}

// ---------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------

/// A valid span context of trace `trace`, span `span`, sampled or not, as a sender hands it
/// over (not remote, no trace state).
pub fn span_context(trace: u128, span: u64, sampled: bool) -> opentelemetry::trace::SpanContext {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        flags,
        false,
        TraceState::default(),
    )
}
