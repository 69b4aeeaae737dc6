//! The pull endpoint's connections, so that slow or stalled clients cannot starve it: a cap on
//! open connections, a header-read timeout and an idle timeout. Routes know nothing of it:
//! [`serve`] takes any router.
//!
//! - **Header-read timeout**: a connection must deliver a request's head within it, counted
//!   from its accept (or, for later requests on a kept-alive connection, from the request's
//!   first byte). A client that connects and sends nothing, or trickles a header, is closed.
//! - **Idle timeout**: a connection on which no byte moves for it is closed: a kept-alive
//!   connection nobody uses, or a client that stops reading its response.
//! - **Cap**: at most `max_connections` are open. A new connection past the cap replaces the
//!   oldest one without a request in progress (waiting for a head, or idle), so a stalled
//!   crowd cannot keep a scraper out: the scraper's connection is the newest, and it sends its
//!   request at once. Only when every connection is serving a request is the new one closed.
//!   The cap also bounds the descriptors the endpoint holds, whatever the open-files limit.
//!
//! - **TLS** (when the web configuration asks for it, [`serve_tls`]): each connection's
//!   handshake runs in its own task, on the header-read clock, so a client whose handshake
//!   fails or stalls delays no other; a failed one is counted
//!   (`alys_telemetry_pull_access_denied_total{reason="tls_handshake"}`), a stalled one is
//!   closed as a header timeout.
//!
//! Every close is counted by reason (`alys_telemetry_pull_connections_closed_total`), and the
//! open connections are a gauge (`alys_telemetry_pull_connections`).

mod activity;
mod connection;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use activity::Activity;
use alys_telemetry_catalog::pipeline::{
    PipelineMetrics, PullCloseReason, PullDenyReason, ReloadResult,
};
use alys_telemetry_config::PullConfig;
use alys_telemetry_core::throttle::Throttle;
use connection::{Handshake, connection};

/// How long the endpoint's connections may take, and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 64,
        }
    }
}

impl From<&PullConfig> for ConnectionLimits {
    fn from(pull: &PullConfig) -> Self {
        ConnectionLimits {
            header_read_timeout: pull.header_read_timeout,
            idle_timeout: pull.idle_timeout,
            max_connections: pull.max_connections.max(1),
        }
    }
}

/// What became of the endpoint's connections: open now, closed by reason, and refused
/// access (failed TLS handshakes here; missing or wrong credentials, counted by the pull
/// endpoint's gate).
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    closed: [AtomicU64; PullCloseReason::ALL.len()],
    denied: [AtomicU64; PullDenyReason::ALL.len()],
    reloads: [AtomicU64; ReloadResult::ALL.len()],
}

impl ConnectionStats {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub fn closed(&self, reason: PullCloseReason) -> u64 {
        self.closed[reason as usize].load(Ordering::Relaxed)
    }

    fn close(&self, reason: PullCloseReason) {
        self.closed[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections and requests refused for `reason`.
    pub fn denied(&self, reason: PullDenyReason) -> u64 {
        self.denied[reason as usize].load(Ordering::Relaxed)
    }

    /// Counts one refusal.
    pub(crate) fn deny(&self, reason: PullDenyReason) {
        self.denied[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Reloads of the web configuration that ended with `result`.
    pub fn reloads(&self, result: ReloadResult) -> u64 {
        self.reloads[result as usize].load(Ordering::Relaxed)
    }

    /// Counts one reload of the web configuration.
    pub(crate) fn reloaded(&self, result: ReloadResult) {
        self.reloads[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Publishes the gauge and the counters, read at each collection.
    pub fn register(self: &Arc<Self>, meter: &Meter) {
        let stats = Arc::clone(self);
        PipelineMetrics::PULL_CONNECTIONS.observe_f64_gauge(meter, move |obs| {
            obs.observe(stats.open() as f64, &[]);
        });
        let stats = Arc::clone(self);
        PipelineMetrics::PULL_CONNECTIONS_CLOSED.observe_u64_counter(meter, move |obs| {
            for &reason in PullCloseReason::ALL {
                obs.observe(
                    stats.closed(reason),
                    &[KeyValue::new("reason", reason.as_str())],
                );
            }
        });
        let stats = Arc::clone(self);
        PipelineMetrics::PULL_ACCESS_DENIED.observe_u64_counter(meter, move |obs| {
            for &reason in PullDenyReason::ALL {
                obs.observe(
                    stats.denied(reason),
                    &[KeyValue::new("reason", reason.as_str())],
                );
            }
        });
        let stats = Arc::clone(self);
        PipelineMetrics::PULL_WEB_CONFIG_RELOADS.observe_u64_counter(meter, move |obs| {
            for &result in ReloadResult::ALL {
                obs.observe(
                    stats.reloads(result),
                    &[KeyValue::new("result", result.as_str())],
                );
            }
        });
    }
}

/// An open connection, as the accept loop sees it.
struct Open {
    activity: Arc<Activity>,
    abort: AbortHandle,
}

/// The open connections, by number.
#[derive(Default)]
struct Registry {
    open: HashMap<u64, Open>,
    next: u64,
}

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Room for one more: below the cap, or by closing the oldest connection without a
    /// request in progress. False when every connection is serving.
    fn make_room(&mut self, cap: usize, stats: &ConnectionStats) -> bool {
        if self.open.len() < cap {
            return true;
        }
        let oldest = self
            .open
            .iter()
            .filter(|(_, c)| !c.activity.is_serving())
            .min_by_key(|(_, c)| c.activity.accepted)
            .map(|(id, _)| *id);
        let Some(evicted) = oldest.and_then(|id| self.open.remove(&id)) else {
            return false;
        };
        evicted.abort.abort();
        // Counted out now, not when the aborted task is next polled: the gauge is the
        // registry, which never holds more than the cap.
        stats.open.fetch_sub(1, Ordering::Relaxed);
        stats.close(PullCloseReason::Evicted);
        true
    }
}

/// Takes a connection off the registry however its task ends (an abort included).
struct Registered {
    registry: Arc<Mutex<Registry>>,
    stats: Arc<ConnectionStats>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        // An evicted connection was counted out when it was taken off the registry.
        if lock(&self.registry).open.remove(&self.id).is_some() {
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Accept errors (out of descriptors, say) are logged at most this often.
const ACCEPT_ERROR_LOG: Duration = Duration::from_secs(30);

/// Failed TLS handshakes are logged at most this often (all are counted).
const HANDSHAKE_ERROR_LOG: Duration = Duration::from_secs(30);

/// Where each new connection's TLS comes from: the acceptor current at its accept, so that a
/// reloaded certificate serves the connections that follow it.
pub type TlsSource = Arc<dyn Fn() -> TlsAcceptor + Send + Sync>;

/// Serves `router` on `listener` within `limits` until `stop` resolves, in plain HTTP.
/// Connections still open then are closed when the returned future is dropped or finishes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    stop: impl Future<Output = ()>,
) {
    serve_tls(listener, router, limits, stats, None, stop).await;
}

/// As [`serve`], each connection first completing a TLS handshake with the acceptor `tls`
/// gives at its accept (plain HTTP when `tls` is `None`).
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    tls: Option<TlsSource>,
    stop: impl Future<Output = ()>,
) {
    let admission = Admission {
        registry: Arc::new(Mutex::new(Registry::default())),
        router,
        limits,
        stats,
        tls,
        handshake_errors: Arc::new(Throttle::new(HANDSHAKE_ERROR_LOG)),
    };
    let accept_errors = Throttle::new(ACCEPT_ERROR_LOG);
    let mut tasks = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut stop => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, _)) => admission.admit(socket, &mut tasks),
            Err(e) => {
                if let Some(times) = accept_errors.occurred() {
                    tracing::warn!(times, "pull endpoint cannot accept: {e}");
                }
                // Out of descriptors: give the process a moment to free some.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What the accept loop gives each connection it starts.
struct Admission {
    registry: Arc<Mutex<Registry>>,
    router: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    tls: Option<TlsSource>,
    handshake_errors: Arc<Throttle>,
}

impl Admission {
    /// Serves `socket` in a task of `tasks`, unless the cap leaves no room for it.
    fn admit(&self, socket: TcpStream, tasks: &mut JoinSet<()>) {
        let mut open = lock(&self.registry);
        if !open.make_room(self.limits.max_connections, &self.stats) {
            self.stats.close(PullCloseReason::Refused);
            return;
        }
        let _ = socket.set_nodelay(true);
        let id = open.next;
        open.next += 1;
        let activity = Arc::new(Activity::new());
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        let registered = Registered {
            registry: Arc::clone(&self.registry),
            stats: Arc::clone(&self.stats),
            id,
        };
        // The acceptor of this moment: a reload serves the connections that follow it.
        let handshake = self.tls.as_ref().map(|current| Handshake {
            acceptor: current(),
            stats: Arc::clone(&self.stats),
            log: Arc::clone(&self.handshake_errors),
        });
        let connection = connection(
            socket,
            self.router.clone(),
            Arc::clone(&activity),
            self.limits,
            handshake,
        );
        let stats = Arc::clone(&self.stats);
        // Spawned under the registry's lock: the task cannot deregister before it is there.
        let abort = tasks.spawn(async move {
            let _registered = registered;
            if let Some(reason) = connection.await {
                stats.close(reason);
            }
        });
        open.open.insert(id, Open { activity, abort });
    }
}
