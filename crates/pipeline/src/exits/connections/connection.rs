//! One connection, from its accept to its close: the TLS handshake when the endpoint serves
//! TLS, then HTTP/1.1, both held to the connection's limits by its [`Activity`].

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::activity::{Activity, Tracked, Watched};
use super::{ConnectionLimits, ConnectionStats};
use alys_telemetry_catalog::pipeline::{PullCloseReason, PullDenyReason};
use alys_telemetry_core::throttle::Throttle;

/// The TLS side of one connection: the acceptor current at its accept, and where a failed
/// handshake is counted and (at a limited rate) logged.
pub(super) struct Handshake {
    pub(super) acceptor: TlsAcceptor,
    pub(super) stats: Arc<ConnectionStats>,
    pub(super) log: Arc<Throttle>,
}

impl Handshake {
    fn failed(&self, error: &std::io::Error) {
        self.stats.deny(PullDenyReason::TlsHandshake);
        if let Some(times) = self.log.occurred() {
            // rustls' reasons (no certificate, unknown issuer, not TLS) hold no secret.
            tracing::warn!(times, "pull endpoint: a TLS handshake failed: {error}");
        }
    }
}

/// Serves one connection until it ends, or until it must close (and why). A failed TLS
/// handshake ends it without a close reason: it is counted as a denied access instead.
pub(super) async fn connection(
    socket: TcpStream,
    router: Router,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    tls: Option<Handshake>,
) -> Option<PullCloseReason> {
    let watched = Watched {
        socket,
        activity: Arc::clone(&activity),
    };
    let Some(tls) = tls else {
        return http(watched, router, &activity, &limits).await;
    };
    // The handshake runs here, in the connection's own task, on the clock of the request head
    // (from the accept): a client that stalls in it is closed by the header-read timeout as
    // one that sends no head would be, and delays no other connection.
    let stream = match within_limits(&activity, &limits, tls.acceptor.accept(watched)).await {
        Err(reason) => return Some(reason),
        Ok(Err(error)) => {
            tls.failed(&error);
            return None;
        }
        Ok(Ok(stream)) => stream,
    };
    http(stream, router, &activity, &limits).await
}

/// HTTP/1.1 on `io` until the client is done, or until a limit closes it.
async fn http<I>(
    io: I,
    router: Router,
    activity: &Arc<Activity>,
    limits: &ConnectionLimits,
) -> Option<PullCloseReason>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = Tracked {
        inner: TowerToHyperService::new(router),
        activity: Arc::clone(activity),
    };
    // Our clock, not hyper's: hyper's header timeout would also close kept-alive connections
    // between requests, which the idle timeout is for.
    let served = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    within_limits(activity, limits, served).await.err()
}

/// Runs `work` until it finishes, or until the connection's activity says it must close.
async fn within_limits<F: Future>(
    activity: &Activity,
    limits: &ConnectionLimits,
    work: F,
) -> Result<F::Output, PullCloseReason> {
    tokio::pin!(work);
    loop {
        let look_again = activity.check(limits)?;
        tokio::select! {
            out = &mut work => return Ok(out),
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(look_again)) => {}
        }
    }
}
