//! The StreamActor: the node's end of the governance stream.
//!
//! It connects (and reconnects, with exponential backoff and jitter), buffers outgoing
//! messages while disconnected and flushes them in order on reconnect, correlates each
//! signature response with its request (latency, timeouts reported to the caller), measures
//! federation update processing, and handles every received message in a span that continues
//! the sender's trace. Its metrics are the catalogue's governance family.
//!
//! ```no_run
//! use alys_telemetry::sources::governance::client::{StreamActor, StreamConfig};
//!
//! # async fn example(telemetry: &alys_telemetry::TelemetryGuard) -> Result<(), Box<dyn std::error::Error>> {
//! let stream = StreamActor::spawn(StreamConfig::new("http://governance:50051"), &telemetry.meter())?;
//! let response = stream.request_signature(b"peg-out 42".to_vec()).await?;
//! println!("signed {}", response.request_id);
//! stream.shutdown().await;
//! # Ok(()) }
//! ```

mod actor;
mod connection;
mod policy;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

pub use policy::{OutboundBuffer, ReconnectPolicy};

use super::proto::node_message::Payload;
use super::proto::{FederationUpdate, NodeMessage, SignatureRequest, SignatureResponse};
use super::{TlsFiles, Token, propagation};

/// How the StreamActor reaches its governance node.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `http://host:port`, or `https://…` with [`tls`](Self::tls).
    pub endpoint: String,
    /// Sent as `authorization: Bearer …`; never logged.
    pub token: Option<Token>,
    pub tls: Option<TlsFiles>,
    /// The name the server's certificate must carry; default: the endpoint's host.
    pub tls_domain: Option<String>,
    pub reconnect: ReconnectPolicy,
    /// Messages kept while disconnected; beyond it the oldest are dropped (and counted).
    pub buffer_capacity: usize,
    /// How long a signature request may wait for its response.
    pub request_timeout: Duration,
    /// Between heartbeats while connected.
    pub heartbeat_interval: Duration,
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
            connect_timeout: Duration::from_secs(5),
        }
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
    /// The StreamActor has stopped.
    #[error("the governance stream has stopped")]
    Stopped,
}

/// Why the StreamActor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The endpoint is not a URI.
    #[error("invalid governance endpoint {endpoint:?}: {source}")]
    InvalidEndpoint {
        endpoint: String,
        #[source]
        source: http::uri::InvalidUri,
    },
    /// The endpoint names no host to connect to.
    #[error("governance endpoint {endpoint:?} has no host")]
    NoHost { endpoint: String },
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
    /// Validates `config` and starts the actor on the current Tokio runtime.
    pub fn spawn(config: StreamConfig, meter: &Meter) -> Result<StreamHandle, StartError> {
        let uri: http::Uri =
            config
                .endpoint
                .parse()
                .map_err(|source| StartError::InvalidEndpoint {
                    endpoint: config.endpoint.clone(),
                    source,
                })?;
        if uri.host().is_none() {
            return Err(StartError::NoHost {
                endpoint: config.endpoint.clone(),
            });
        }
        let runtime = tokio::runtime::Handle::try_current()?;
        let (commands, command_rx) = mpsc::channel(1024);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            connected: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            attempts: Mutex::new(Vec::new()),
            federation: watch::channel(None).0,
            next_request: AtomicU64::new(1),
        });
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
    /// the request timeout). The request runs in a span whose context travels with it.
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
            let (reply, answer) = oneshot::channel();
            let message = NodeMessage {
                trace_context: propagation::inject_current(),
                payload: Some(Payload::SignatureRequest(SignatureRequest {
                    request_id: id.clone(),
                    payload,
                })),
            };
            self.commands
                .send(Command::Request { id, message, reply })
                .await
                .map_err(|_| GovernanceError::Stopped)?;
            answer.await.unwrap_or(Err(GovernanceError::Stopped))
        }
        .instrument(span)
        .await
    }

    /// Sends a message without waiting for an answer (buffered while disconnected).
    pub async fn send(&self, message: NodeMessage) -> Result<(), GovernanceError> {
        self.commands
            .send(Command::Send(message))
            .await
            .map_err(|_| GovernanceError::Stopped)
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Messages waiting in the buffer for a connection.
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

    /// The latest federation membership.
    pub fn federation(&self) -> watch::Receiver<Option<FederationUpdate>> {
        self.shared.federation.subscribe()
    }

    /// Stops the actor and waits for it.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
