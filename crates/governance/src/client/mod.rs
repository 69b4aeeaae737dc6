//! The StreamActor: the node's end of the governance stream.
//!
//! It connects (and reconnects, with exponential backoff and jitter), numbers every outgoing
//! message but heartbeats and keeps it until the governance node acknowledges it, writes
//! again after a reconnect whatever was not acknowledged, in its original order, gives up
//! (and counts) what expires or overflows the buffer, notices a governance node that has gone
//! silent (HTTP/2 keep-alive, and heartbeats that are not answered), correlates each
//! signature response with its request (latency, timeouts reported to the caller), measures
//! federation update processing, and handles every received message in a span that continues
//! the sender's trace. Its metrics are the catalogue's governance family.
//!
//! ```no_run
//! use alys_telemetry_governance::client::{StreamActor, StreamConfig};
//!
//! # async fn example(meter: &opentelemetry::metrics::Meter) -> Result<(), Box<dyn std::error::Error>> {
//! let stream = StreamActor::spawn(StreamConfig::new("http://governance:50051"), meter)?;
//! let response = stream.request_signature(b"peg-out 42".to_vec()).await?;
//! println!("signed {}", response.request_id);
//! stream.shutdown().await;
//! # Ok(()) }
//! ```

mod actor;
mod connection;
mod inbound;
mod outbox;
mod policy;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

pub use connection::SESSION_METADATA;
pub use policy::ReconnectPolicy;

use super::proto::node_message::Payload;
use super::proto::{FederationUpdate, NodeMessage, SignatureRequest, SignatureResponse};
use super::{TlsError, TlsFiles, Token, propagation};
use alys_telemetry_catalog::governance::GrpcCode;
use alys_telemetry_config::redact_userinfo;

/// How the StreamActor reaches its governance node.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `http://host:port`, or `https://…` with [`tls`](Self::tls). Shown with its user
    /// information redacted.
    pub endpoint: String,
    /// Sent as `authorization: Bearer …`; never logged.
    pub token: Option<Token>,
    pub tls: Option<TlsFiles>,
    /// The name the server's certificate must carry; default: the endpoint's host.
    pub tls_domain: Option<String>,
    pub reconnect: ReconnectPolicy,
    /// Messages kept until the governance node acknowledges them (while disconnected, and in
    /// flight); beyond it the oldest are dropped (and counted).
    pub buffer_capacity: usize,
    /// How long a signature request may wait for its response; also its deadline, which
    /// travels with it.
    pub request_timeout: Duration,
    /// Between heartbeats while connected.
    pub heartbeat_interval: Duration,
    /// A connection over which nothing arrives for this long is given up and replaced: the
    /// governance node answers every heartbeat, so silence means it is gone or frozen.
    pub liveness_timeout: Duration,
    /// HTTP/2 PING interval, and how long an unanswered PING may wait before the transport
    /// closes the connection (a frozen peer, a path that drops packets).
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Bound on establishing a connection and opening the stream.
    pub connect_timeout: Duration,
}

impl StreamConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        StreamConfig {
            endpoint: endpoint.into(),
            token: None,
            tls: None,
            tls_domain: None,
            reconnect: ReconnectPolicy::default(),
            buffer_capacity: 1_000,
            request_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(5),
            liveness_timeout: Duration::from_secs(15),
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The longest a dead governance node can look connected: the earlier of the
    /// liveness timeout and an unanswered keep-alive PING (15 s with the defaults).
    pub fn dead_peer_bound(&self) -> Duration {
        self.liveness_timeout
            .min(self.keepalive_interval + self.keepalive_timeout)
    }

    /// Checks everything that can be checked before connecting: the endpoint (http or
    /// https, with a host), the TLS files (read now, so a missing file stops start-up
    /// instead of failing every reconnect), and the durations.
    pub fn check(&self) -> Result<(), StartError> {
        let shown = redact_userinfo(&self.endpoint).into_owned();
        let uri: http::Uri =
            self.endpoint
                .parse()
                .map_err(|source| StartError::InvalidEndpoint {
                    endpoint: shown.clone(),
                    source,
                })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(StartError::Scheme { endpoint: shown });
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(StartError::NoHost { endpoint: shown });
        }
        if let Some(tls) = &self.tls {
            let domain = self.tls_domain().unwrap_or_default();
            tls.client(&domain)?;
        }
        for (setting, d) in [
            ("request_timeout", self.request_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("liveness_timeout", self.liveness_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("keepalive_timeout", self.keepalive_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                return Err(StartError::Invalid {
                    setting,
                    problem: "must be longer than zero".into(),
                });
            }
        }
        if self.buffer_capacity == 0 {
            return Err(StartError::Invalid {
                setting: "buffer_capacity",
                problem: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The name the server's certificate must carry.
    fn tls_domain(&self) -> Result<String, GrpcCode> {
        if let Some(domain) = &self.tls_domain {
            return Ok(domain.clone());
        }
        let uri: http::Uri = self
            .endpoint
            .parse()
            .map_err(|_| GrpcCode::InvalidArgument)?;
        Ok(uri.host().unwrap_or("localhost").to_string())
    }
}

/// Why a request got no signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    /// No response within the request timeout.
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The governance node answered with a refusal.
    #[error("the governance node refused: {0}")]
    Refused(String),
    /// The StreamActor stopped before the response came: the request was cancelled.
    #[error("cancelled: the governance stream stopped before the response")]
    Cancelled,
    /// The StreamActor had stopped before the request.
    #[error("the governance stream has stopped")]
    Stopped,
}

/// Why the StreamActor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The endpoint is not a URI (shown with its user information redacted).
    #[error("invalid governance endpoint {endpoint:?}: {source}")]
    InvalidEndpoint {
        endpoint: String,
        #[source]
        source: http::uri::InvalidUri,
    },
    /// The endpoint names no host to connect to.
    #[error("governance endpoint {endpoint:?} has no host")]
    NoHost { endpoint: String },
    /// The endpoint is neither http nor https.
    #[error("governance endpoint {endpoint:?} must start with http:// or https://")]
    Scheme { endpoint: String },
    /// The TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A setting out of range, named as [`StreamConfig`] names it.
    #[error("governance stream {setting} {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
    /// Called outside a Tokio runtime.
    #[error("the StreamActor must start inside a Tokio runtime: {0}")]
    NoRuntime(#[from] tokio::runtime::TryCurrentError),
}

pub(crate) type Reply = oneshot::Sender<Result<SignatureResponse, GovernanceError>>;

pub(crate) enum Command {
    Request {
        id: String,
        message: NodeMessage,
        reply: Reply,
        /// When the caller asked: its deadline counts from here.
        asked: Instant,
    },
    Send(NodeMessage),
}

/// What the handle can see of the actor.
pub(crate) struct Shared {
    pub connected: AtomicBool,
    pub buffered: AtomicUsize,
    pub attempts: Mutex<Vec<Instant>>,
    pub federation: watch::Sender<Option<FederationUpdate>>,
    pub next_request: AtomicU64,
    /// Names this StreamActor's messages to the governance node (random, per actor).
    pub session: Arc<str>,
}

impl Shared {
    /// Nothing seen yet: disconnected, nothing buffered, no federation, requests from 1.
    pub(crate) fn new(session: Arc<str>) -> Shared {
        Shared {
            connected: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            attempts: Mutex::new(Vec::new()),
            federation: watch::channel(None).0,
            next_request: AtomicU64::new(1),
            session,
        }
    }
}

/// A handle on the running StreamActor. Cloning shares it.
#[derive(Clone)]
pub struct StreamHandle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// The node's end of the governance stream.
pub struct StreamActor;

impl StreamActor {
    /// Validates `config` ([`StreamConfig::check`]) and starts the actor on the current
    /// Tokio runtime.
    pub fn spawn(config: StreamConfig, meter: &Meter) -> Result<StreamHandle, StartError> {
        config.check()?;
        let runtime = tokio::runtime::Handle::try_current()?;
        let (commands, command_rx) = mpsc::channel(1024);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(format!("{:032x}", fastrand::u128(..)).into()));
        let actor = actor::Actor::new(config, meter, shared.clone(), command_rx, stop_rx);
        let task = runtime.spawn(actor.run());
        Ok(StreamHandle {
            commands,
            shared,
            stop: Arc::new(stop),
            task: Arc::new(Mutex::new(Some(task))),
        })
    }
}

impl StreamHandle {
    /// Asks the governance node to sign `payload` and waits for the correlated response (or
    /// the request timeout, which is also the deadline the message carries). The request
    /// runs in a span whose context travels with it. A stop answers it with
    /// [`GovernanceError::Cancelled`] at once.
    pub async fn request_signature(
        &self,
        payload: Vec<u8>,
    ) -> Result<SignatureResponse, GovernanceError> {
        let n = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
        let id = format!("req-{n}");
        let span = tracing::info_span!(
            "stream.signature_request",
            otel.name = "stream.signature_request",
            request_id = id.as_str(),
        );
        async {
            let asked = Instant::now();
            let (reply, answer) = oneshot::channel();
            let message = NodeMessage {
                trace_context: propagation::inject_current(),
                payload: Some(Payload::SignatureRequest(SignatureRequest {
                    request_id: id.clone(),
                    payload,
                })),
                ..NodeMessage::default()
            };
            let command = Command::Request {
                id,
                message,
                reply,
                asked,
            };
            self.commands
                .send(command)
                .await
                .map_err(|_| GovernanceError::Stopped)?;
            answer.await.unwrap_or(Err(GovernanceError::Cancelled))
        }
        .instrument(span)
        .await
    }

    /// Sends a message without waiting for an answer: numbered, kept until acknowledged,
    /// written again after a reconnect (its `message_id` and `deadline_unix_ms` are set by
    /// the actor).
    pub async fn send(&self, message: NodeMessage) -> Result<(), GovernanceError> {
        self.commands
            .send(Command::Send(message))
            .await
            .map_err(|_| GovernanceError::Stopped)
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Messages the governance node has not acknowledged yet.
    pub fn buffered(&self) -> usize {
        self.shared.buffered.load(Ordering::Relaxed)
    }

    /// When each connection attempt started (the last 1000).
    pub fn attempt_times(&self) -> Vec<Instant> {
        self.shared
            .attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The session id the governance node knows this actor's messages by.
    pub fn session(&self) -> &str {
        &self.shared.session
    }

    /// The latest federation membership.
    pub fn federation(&self) -> watch::Receiver<Option<FederationUpdate>> {
        self.shared.federation.subscribe()
    }

    /// Stops the actor and waits for it: requests in flight are answered
    /// [`GovernanceError::Cancelled`] at once and counted, unacknowledged messages are
    /// counted as given up (`reason="cancelled"`); nothing waits for the governance node.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
