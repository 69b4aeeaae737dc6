//! What the tests of the pull endpoint share: a runtime of their own (dropping it stops the
//! server), a loopback listener on it, and an endpoint's state with nothing registered.

use std::net::SocketAddr;

use alys_telemetry::exits::pull::{PullState, Readiness};
use alys_telemetry::health::HealthRegistry;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// A two-thread runtime for a server under test, and a listener on an ephemeral loopback port.
pub fn runtime_and_listener() -> (Runtime, TcpListener, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the listener's address");
    (runtime, listener, addr)
}

/// The state of a pull endpoint with an empty registry, no checks and no viewer.
pub fn empty_state() -> PullState {
    PullState {
        registry: prometheus::Registry::new(),
        health: HealthRegistry::new(),
        readiness: Readiness::new(),
        viewer: None,
    }
}
