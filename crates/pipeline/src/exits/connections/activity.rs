//! One connection's clock and what keeps it: when bytes last moved and since when a request
//! head is awaited ([`Activity`]), the socket that notes every byte ([`Watched`]), and the
//! router as a hyper service that marks each request in progress ([`Tracked`]). The TLS
//! handshake reads and writes through [`Watched`] too, so its bytes count like any other.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::ConnectionLimits;
use alys_telemetry_catalog::pipeline::PullCloseReason;

/// One connection's clock: when bytes last moved, since when a request head is awaited, and
/// whether a request is being served. Milliseconds since the connection's accept.
pub(super) struct Activity {
    pub(super) accepted: Instant,
    last_progress: AtomicU64,
    /// [`NO_HEAD`] while no request head is awaited (serving, or idle after a response).
    head_since: AtomicU64,
    serving: AtomicUsize,
}

const NO_HEAD: u64 = u64::MAX;

impl Activity {
    pub(super) fn new() -> Self {
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

    pub(super) fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed) > 0
    }

    /// Why the connection must close now, if it must; else when to look again.
    pub(super) fn check(&self, limits: &ConnectionLimits) -> Result<Instant, PullCloseReason> {
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
pub(super) struct Tracked {
    pub(super) inner: TowerToHyperService<Router>,
    pub(super) activity: Arc<Activity>,
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
pub(super) struct Watched {
    pub(super) socket: TcpStream,
    pub(super) activity: Arc<Activity>,
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
