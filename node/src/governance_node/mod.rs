//! The governance node: a tonic gRPC server for the node's governance stream
//! (`alys-telemetry governance-server`, the demo, local stacks and tests).
//!
//! It answers signature requests after a simulated signing latency (refusing a configurable
//! share), answers heartbeats, pushes federation updates on every open stream, and can drop
//! every stream on demand or periodically so the StreamActor's reconnection is exercised.
//! Each received message is handled in a span that continues the sender's trace, and each
//! answer carries that span's context, so one trace reads node → governance node → node.

mod sessions;
mod state;
mod stream;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;

use alys_telemetry::sources::governance::proto::GovernanceMessage;
use alys_telemetry::sources::governance::proto::governance_stream_server::GovernanceStreamServer;
use alys_telemetry::sources::governance::{TlsError, TlsFiles, Token};
use alys_telemetry::sources::http::rpc::RpcServerLayer;
pub use sessions::{JournalError, read_journal};
use state::{Shared, StreamEntry, lock};

/// How long [`ServerHandle::shutdown`] waits for open connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The status every stream ends with when the governance node drops it.
pub const DROPPED_MESSAGE: &str = "stream dropped by the governance node";

/// How a governance node listens and behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The bearer token every stream must present (`authorization: Bearer …`); `None`
    /// accepts any stream.
    pub token: Option<Token>,
    /// Server TLS: certificate and key, plus `ca` to require client certificates.
    pub tls: Option<TlsFiles>,
    /// How long signing a request takes.
    pub latency: Duration,
    /// Share of signature requests refused, in `0.0..=1.0`.
    pub error_rate: f64,
    /// Push a federation update on every open stream at this interval.
    pub federation_interval: Option<Duration>,
    /// Drop every open stream at this interval, as [`ServerHandle::drop_streams`] does.
    pub drop_every: Option<Duration>,
    /// Append every node message taken to this file before acknowledging it, and read it at
    /// start: duplicates are then recognised across restarts (see `sessions`).
    pub journal: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            token: None,
            tls: None,
            latency: Duration::from_millis(50),
            error_rate: 0.0,
            federation_interval: Some(Duration::from_secs(10)),
            drop_every: None,
            journal: None,
        }
    }
}

/// Why a governance node did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting out of range, named as [`ServerConfig`] names it.
    #[error("{setting} {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
    /// The address could not be bound (taken, or not this host's).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The journal cannot be opened or read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// tonic refused the TLS settings.
    #[error("invalid TLS settings for {addr}: {source}")]
    TlsSettings {
        addr: SocketAddr,
        #[source]
        source: tonic::transport::Error,
    },
}

impl ServerConfig {
    /// Checks the settings and reads the TLS files, before anything is bound or started.
    pub fn check(&self) -> Result<(), ServerError> {
        self.validate()?;
        if let Some(tls) = &self.tls {
            tls.server()?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ServerError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(ServerError::Invalid {
                setting: "error_rate",
                problem: format!("must be within 0..=1, got {}", self.error_rate),
            });
        }
        // tokio's interval panics on a zero period.
        for (setting, period) in [
            ("federation_interval", self.federation_interval),
            ("drop_every", self.drop_every),
        ] {
            if period == Some(Duration::ZERO) {
                return Err(ServerError::Invalid {
                    setting,
                    problem: "must be longer than zero".into(),
                });
            }
        }
        Ok(())
    }
}

/// Starts governance nodes.
pub struct GovernanceServer;

impl GovernanceServer {
    /// Binds `config.listen` (an error names the address when it is taken), spawns the
    /// server on the current Tokio runtime and returns its handle. Dropping the handle stops
    /// the server in the background; [`ServerHandle::shutdown`] stops it and waits.
    pub async fn start(config: ServerConfig, meter: &Meter) -> Result<ServerHandle, ServerError> {
        config.check()?;
        let listen_error = |source| ServerError::Listen {
            addr: config.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;

        let builder = server_builder(&config, local_addr)?;
        let shared = Arc::new(Shared::new(&config, meter)?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = serve(builder, meter, listener, shared.clone(), stopped);
        let mut tickers = Vec::new();
        if let Some(period) = config.federation_interval {
            tickers.push(every(
                period,
                shared.clone(),
                Shared::push_federation_update,
            ));
        }
        if let Some(period) = config.drop_every {
            tickers.push(every(period, shared.clone(), Shared::drop_streams));
        }
        tracing::info!(address = %local_addr, tls = config.tls.is_some(), token = config.token.is_some(), "governance node listening");
        Ok(ServerHandle {
            shared,
            local_addr,
            tls: config.tls.is_some(),
            stop: Some(stop),
            server: Some(server),
            tickers,
        })
    }
}

/// The tonic server with its keep-alive and, when configured, TLS.
fn server_builder(
    config: &ServerConfig,
    local_addr: SocketAddr,
) -> Result<tonic::transport::Server, ServerError> {
    let builder = tonic::transport::Server::builder()
        // A node that vanished without closing its connection would otherwise hold its
        // stream (and its task) open forever.
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    match &config.tls {
        Some(tls) => builder
            .tls_config(tls.server()?)
            .map_err(|source| ServerError::TlsSettings {
                addr: local_addr,
                source,
            }),
        None => Ok(builder),
    }
}

/// Serves the governance stream on `listener` until `stopped` resolves, every call measured
/// by the RPC conventions (`rpc.server.call.duration`; the stream's handler traces it).
fn serve(
    builder: tonic::transport::Server,
    meter: &Meter,
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stopped: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    let service = GovernanceStreamServer::new(stream::Node::new(shared));
    // Signature answers are small frames: Nagle would hold them back for the peer's ACK.
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(conn) = &conn {
            let _ = conn.set_nodelay(true);
        }
        conn
    });
    let serve = builder
        .layer(RpcServerLayer::new(meter))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        });
    tokio::spawn(async move {
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "the governance node stopped serving");
        }
    })
}

/// Runs `action` every `period`, starting one period from now.
fn every(period: Duration, shared: Arc<Shared>, action: fn(&Shared)) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            action(&shared);
        }
    })
}

/// A running governance node.
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    tickers: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL a client connects to: `http://…` or, with TLS, `https://…`. An unspecified
    /// listen address is given as loopback, the address a local client can reach.
    pub fn endpoint(&self) -> String {
        endpoint_for(self.local_addr, self.tls)
    }

    /// Ends every open stream with `Status::unavailable`, as a failing governance node would.
    pub fn drop_streams(&self) {
        self.shared.drop_streams();
    }

    /// Sends `message` as is on every open stream (tests inject malformed messages this way);
    /// returns how many streams took it (a stream whose queue is full skips it).
    pub fn broadcast(&self, message: GovernanceMessage) -> usize {
        self.shared.broadcast(message)
    }

    /// How many streams are open.
    pub fn open_streams(&self) -> usize {
        lock(&self.shared.streams).len()
    }

    /// The ids of the signature requests received, in arrival order (the last 10 000).
    pub fn requests_seen(&self) -> Vec<String> {
        lock(&self.shared.seen).iter().cloned().collect()
    }

    /// How many node messages arrived, of any type, including ones without a payload.
    pub fn messages_received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Drops every stream, stops accepting, and waits for open connections to close, at
    /// most about 2 s; after that it stops waiting for them. The port is free afterwards
    /// either way.
    pub async fn shutdown(mut self) {
        self.begin_stop();
        let Some(mut server) = self.server.take() else {
            return;
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
            .await
            .is_err()
        {
            tracing::warn!(address = %self.local_addr, "governance node connections did not close in time; no longer waiting for them");
            server.abort();
            // Awaiting the aborted task drops the listener before we return.
            let _ = server.await;
        }
        tracing::info!(address = %self.local_addr, "governance node stopped");
    }

    fn begin_stop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.drop_streams();
        for ticker in self.tickers.drain(..) {
            ticker.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // A forgotten handle must not leave a server, its tickers and its port behind.
        self.begin_stop();
    }
}

fn endpoint_for(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_a_reachable_address_and_the_scheme() {
        assert_eq!(
            endpoint_for("127.0.0.1:4000".parse().unwrap(), false),
            "http://127.0.0.1:4000"
        );
        assert_eq!(
            endpoint_for("0.0.0.0:4000".parse().unwrap(), true),
            "https://127.0.0.1:4000"
        );
        assert_eq!(
            endpoint_for("[::]:4000".parse().unwrap(), false),
            "http://[::1]:4000"
        );
    }

    #[test]
    fn invalid_settings_are_refused_before_binding() {
        let ok = ServerConfig::default();
        assert!(ok.validate().is_ok());
        for rate in [-0.1, 1.5, f64::NAN] {
            let err = ServerConfig {
                error_rate: rate,
                ..ok.clone()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(err.contains("error_rate"), "{err}");
        }
        let err = ServerConfig {
            drop_every: Some(Duration::ZERO),
            ..ok.clone()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("drop_every"), "{err}");
        let err = ServerConfig {
            federation_interval: Some(Duration::ZERO),
            ..ok
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("federation_interval"), "{err}");
    }
}
