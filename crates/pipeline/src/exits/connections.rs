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
//! Every close is counted by reason (`alys_telemetry_pull_connections_closed_total`), and the
//! open connections are a gauge (`alys_telemetry_pull_connections`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

use alys_telemetry_catalog::pipeline::{PipelineMetrics, PullCloseReason};
use alys_telemetry_config::PullConfig;
use alys_telemetry_core::throttle::Throttle;

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

/// What became of the endpoint's connections: open now, and closed by reason.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    closed: [AtomicU64; PullCloseReason::ALL.len()],
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

    /// Publishes the gauge and the counter, read at each collection.
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
    }
}

/// One connection's clock: when bytes last moved, since when a request head is awaited, and
/// whether a request is being served. Milliseconds since the connection's accept.
struct Activity {
    accepted: Instant,
    last_progress: AtomicU64,
    /// [`NO_HEAD`] while no request head is awaited (serving, or idle after a response).
    head_since: AtomicU64,
    serving: AtomicUsize,
}

const NO_HEAD: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            last_progress: AtomicU64::new(0),
            // A new connection owes its first head from the accept.
            head_since: AtomicU64::new(0),
            serving: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn read(&self) {
        let now = self.now();
        self.last_progress.store(now, Ordering::Relaxed);
        // The first byte of a request on a kept-alive connection starts its head's clock.
        if self.serving.load(Ordering::Relaxed) == 0 {
            let _ = self.head_since.compare_exchange(
                NO_HEAD,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn wrote(&self) {
        self.last_progress.store(self.now(), Ordering::Relaxed);
    }

    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed) > 0
    }

    /// Why the connection must close now, if it must; else when to look again.
    fn check(&self, limits: &ConnectionLimits) -> Result<Instant, PullCloseReason> {
        let now = self.now();
        let header_ms = limits.header_read_timeout.as_millis() as u64;
        let idle_ms = limits.idle_timeout.as_millis() as u64;
        let mut next = self.last_progress.load(Ordering::Relaxed) + idle_ms;
        if now >= next {
            return Err(PullCloseReason::IdleTimeout);
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NO_HEAD && !self.is_serving() {
            let due = head.saturating_add(header_ms);
            if now >= due {
                return Err(PullCloseReason::HeaderTimeout);
            }
            next = next.min(due);
        }
        Ok(self.accepted + Duration::from_millis(next))
    }
}

/// Marks a request in progress for as long as it lives.
struct Serving(Arc<Activity>);

impl Serving {
    fn begin(activity: &Arc<Activity>) -> Serving {
        activity.serving.fetch_add(1, Ordering::Relaxed);
        activity.head_since.store(NO_HEAD, Ordering::Relaxed);
        Serving(Arc::clone(activity))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serving.fetch_sub(1, Ordering::Relaxed);
        self.0.last_progress.store(self.0.now(), Ordering::Relaxed);
    }
}

/// The router as a hyper service that marks each request in progress.
#[derive(Clone)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

type Answer = Pin<
    Box<dyn Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send>,
>;

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Answer;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Answer {
        let serving = Serving::begin(&self.activity);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(serving);
            response
        })
    }
}

/// The socket, noting every byte that moves.
struct Watched {
    socket: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
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

/// Serves `router` on `listener` within `limits` until `stop` resolves. Connections still
/// open then are closed when the returned future is dropped or finishes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    stop: impl Future<Output = ()>,
) {
    let registry = Arc::new(Mutex::new(Registry::default()));
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
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(e) => {
                if let Some(times) = accept_errors.occurred() {
                    tracing::warn!(times, "pull endpoint cannot accept: {e}");
                }
                // Out of descriptors: give the process a moment to free some.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let mut open = lock(&registry);
        if !open.make_room(limits.max_connections, &stats) {
            stats.close(PullCloseReason::Refused);
            continue;
        }
        let _ = socket.set_nodelay(true);
        let id = open.next;
        open.next += 1;
        let activity = Arc::new(Activity::new());
        stats.open.fetch_add(1, Ordering::Relaxed);
        let registered = Registered {
            registry: Arc::clone(&registry),
            stats: Arc::clone(&stats),
            id,
        };
        let connection = connection(socket, router.clone(), Arc::clone(&activity), limits);
        let stats_for_task = Arc::clone(&stats);
        // Spawned under the registry's lock: the task cannot deregister before it is there.
        let abort = tasks.spawn(async move {
            let _registered = registered;
            if let Some(reason) = connection.await {
                stats_for_task.close(reason);
            }
        });
        open.open.insert(id, Open { activity, abort });
    }
}

/// Serves one connection until it ends, or until it must close (and why).
async fn connection(
    socket: TcpStream,
    router: Router,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
) -> Option<PullCloseReason> {
    let io = TokioIo::new(Watched {
        socket,
        activity: Arc::clone(&activity),
    });
    let service = Tracked {
        inner: TowerToHyperService::new(router),
        activity: Arc::clone(&activity),
    };
    // Our clock, not hyper's: hyper's header timeout would also close kept-alive connections
    // between requests, which the idle timeout is for.
    let served = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(served);
    loop {
        let look_again = match activity.check(&limits) {
            Ok(at) => at,
            Err(reason) => return Some(reason),
        };
        tokio::select! {
            _ = &mut served => return None,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(look_again)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_owes_its_head_from_the_accept_and_idles_out_after_its_response() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(1_000),
            max_connections: 1,
        };
        assert!(Activity::new().check(&limits).is_ok());
        // Accepted 150 ms ago, and no complete head yet.
        let late = Activity {
            accepted: Instant::now() - Duration::from_millis(150),
            ..Activity::new()
        };
        assert_eq!(late.check(&limits), Err(PullCloseReason::HeaderTimeout));
        // While a request is served the head clock does not run; the idle one does.
        let serving = Arc::new(Activity {
            accepted: Instant::now() - Duration::from_millis(150),
            ..Activity::new()
        });
        let s = Serving::begin(&serving);
        assert!(serving.check(&limits).is_ok());
        drop(s);
        assert!(serving.check(&limits).is_ok(), "idle, no head owed yet");
        let idle = Activity {
            accepted: Instant::now() - Duration::from_millis(1_100),
            head_since: AtomicU64::new(NO_HEAD),
            ..Activity::new()
        };
        assert_eq!(idle.check(&limits), Err(PullCloseReason::IdleTimeout));
    }
}
