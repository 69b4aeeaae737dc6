//! The governance node over real gRPC on loopback: answers, refusals, authentication, drops,
//! federation updates, broadcasts, trace continuity, shutdown and TLS, seen by a raw tonic
//! client.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::support::{TempDir, wait_until_async};
use alys_node::governance_node::{DROPPED_MESSAGE, GovernanceServer, ServerConfig, ServerHandle};
use alys_telemetry::sources::governance::proto::governance_message::Payload as Outgoing;
use alys_telemetry::sources::governance::proto::governance_stream_client::GovernanceStreamClient;
use alys_telemetry::sources::governance::proto::node_message::Payload as Incoming;
use alys_telemetry::sources::governance::proto::{
    Acknowledgement, GovernanceMessage, Heartbeat, NodeMessage, SignatureRequest,
};
use alys_telemetry::sources::governance::{TlsFiles, Token};
use alys_test_support::own_process::block_on;
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use rusty_fork::rusty_fork_test;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};
use tracing_subscriber::layer::SubscriberExt as _;

/// Bound on every wait: generous for a loaded machine, short enough to fail a hang.
const WAIT: Duration = Duration::from_secs(5);

/// Metrics into a Prometheus registry, one per test.
struct Metrics(crate::support::metrics::Registry);

impl Metrics {
    fn new() -> Metrics {
        Metrics(crate::support::metrics::Registry::new())
    }

    async fn start(&self, config: ServerConfig) -> ServerHandle {
        GovernanceServer::start(config, &self.0.meter())
            .await
            .unwrap()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.value(name, labels)
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        latency: Duration::from_millis(10),
        federation_interval: None,
        ..ServerConfig::default()
    }
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A raw node: one governance stream.
struct Node {
    tx: mpsc::Sender<NodeMessage>,
    inbound: Streaming<GovernanceMessage>,
}

impl Node {
    async fn connect(endpoint: &str, token: Option<&str>) -> Result<Node, Status> {
        let channel = bounded(
            "connect",
            Endpoint::from_shared(endpoint.to_string())
                .unwrap()
                .connect(),
        )
        .await
        .unwrap();
        Node::open(channel, token).await
    }

    async fn open(channel: Channel, token: Option<&str>) -> Result<Node, Status> {
        let (tx, rx) = mpsc::channel(64);
        let mut request = Request::new(ReceiverStream::new(rx));
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let mut client = GovernanceStreamClient::new(channel);
        let inbound = bounded("the stream to open", client.stream(request))
            .await?
            .into_inner();
        Ok(Node { tx, inbound })
    }

    async fn send(&self, message: NodeMessage) {
        self.tx.send(message).await.unwrap();
    }

    /// The next message; the stream ending without an error fails the test.
    /// Sends a heartbeat and expects one back: the stream is alive.
    async fn assert_alive(&mut self) {
        self.send(heartbeat()).await;
        assert!(matches!(
            self.next().await.unwrap().payload,
            Some(Outgoing::Heartbeat(_))
        ));
    }

    async fn next(&mut self) -> Result<GovernanceMessage, Status> {
        match bounded("a message from the governance node", self.inbound.message()).await {
            Ok(Some(message)) => Ok(message),
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => Err(status),
        }
    }
}

fn request(id: &str, payload: &[u8]) -> NodeMessage {
    NodeMessage {
        trace_context: HashMap::new(),
        payload: Some(Incoming::SignatureRequest(SignatureRequest {
            request_id: id.to_string(),
            payload: payload.to_vec(),
        })),
        ..Default::default()
    }
}

fn heartbeat() -> NodeMessage {
    NodeMessage {
        trace_context: HashMap::new(),
        payload: Some(Incoming::Heartbeat(Heartbeat { sent_at_unix_ms: 1 })),
        ..Default::default()
    }
}

fn expect_response(
    message: GovernanceMessage,
) -> alys_telemetry::sources::governance::proto::SignatureResponse {
    match message.payload {
        Some(Outgoing::SignatureResponse(response)) => response,
        other => panic!("expected a signature response, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signature_request_is_answered_with_its_id_after_the_latency() {
    let metrics = Metrics::new();
    let latency = Duration::from_millis(200);
    let server = metrics
        .start(ServerConfig {
            latency,
            ..config()
        })
        .await;
    let mut node = Node::connect(&server.endpoint(), None).await.unwrap();

    let sent = Instant::now();
    node.send(request("req-1", b"peg-out-tx")).await;
    let response = expect_response(node.next().await.unwrap());
    assert!(
        sent.elapsed() >= latency,
        "answered after {:?}",
        sent.elapsed()
    );
    assert_eq!(response.request_id, "req-1");
    assert!(response.error.is_empty(), "{}", response.error);
    assert_eq!(response.signature.len(), 32);

    // The same payload signs the same way: the signature is a function of it.
    node.send(request("req-2", b"peg-out-tx")).await;
    let again = expect_response(node.next().await.unwrap());
    assert_eq!(
        (again.request_id.as_str(), &again.signature),
        ("req-2", &response.signature)
    );
    wait_until_async("two successes counted", WAIT, || {
        metrics.value(
            "alys_governance_server_requests_total",
            &[("outcome", "success")],
        ) == Some(2.0)
    })
    .await;
    assert_eq!(
        metrics.value("alys_governance_server_streams", &[]),
        Some(1.0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_error_rate_of_one_refuses_every_request_and_counts_failures() {
    let metrics = Metrics::new();
    let server = metrics
        .start(ServerConfig {
            error_rate: 1.0,
            ..config()
        })
        .await;
    let mut node = Node::connect(&server.endpoint(), None).await.unwrap();
    for i in 0..5 {
        node.send(request(&format!("r{i}"), b"x")).await;
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        let response = expect_response(node.next().await.unwrap());
        assert!(
            !response.error.is_empty(),
            "request {} was signed",
            response.request_id
        );
        assert!(response.signature.is_empty());
        ids.push(response.request_id);
    }
    ids.sort();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
    wait_until_async("five failures counted", WAIT, || {
        metrics.value(
            "alys_governance_server_requests_total",
            &[("outcome", "failure")],
        ) == Some(5.0)
    })
    .await;
    let successes = metrics.value(
        "alys_governance_server_requests_total",
        &[("outcome", "success")],
    );
    assert!(matches!(successes, None | Some(0.0)), "{successes:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_counted_and_never_echoed() {
    let metrics = Metrics::new();
    let secret = "s3cret-governance-token";
    let server = metrics
        .start(ServerConfig {
            token: Some(Token::new(secret)),
            ..config()
        })
        .await;

    for presented in [None, Some("wrong-token"), Some("s3cret-governance-toke")] {
        let Err(status) = Node::connect(&server.endpoint(), presented).await else {
            panic!("a stream with token {presented:?} was accepted");
        };
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_eq!(status.message(), "missing or wrong token");
        assert!(!format!("{status:?}").contains(secret));
    }
    assert_eq!(server.open_streams(), 0);
    wait_until_async("three auth failures counted", WAIT, || {
        metrics.value("alys_governance_server_auth_failures_total", &[]) == Some(3.0)
    })
    .await;

    let mut node = Node::connect(&server.endpoint(), Some(secret))
        .await
        .unwrap();
    node.assert_alive().await;
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_streams_ends_them_with_unavailable_and_new_streams_work() {
    let metrics = Metrics::new();
    let server = metrics.start(config()).await;
    let mut first = Node::connect(&server.endpoint(), None).await.unwrap();
    let mut second = Node::connect(&server.endpoint(), None).await.unwrap();
    wait_until_async("two open streams", WAIT, || server.open_streams() == 2).await;

    server.drop_streams();
    for node in [&mut first, &mut second] {
        let status = node.next().await.unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unavailable, DROPPED_MESSAGE)
        );
    }
    assert_eq!(server.open_streams(), 0);
    wait_until_async("the stream gauge back to zero", WAIT, || {
        metrics.value("alys_governance_server_streams", &[]) == Some(0.0)
    })
    .await;

    let mut again = Node::connect(&server.endpoint(), None).await.unwrap();
    again.send(request("after-drop", b"x")).await;
    assert_eq!(
        expect_response(again.next().await.unwrap()).request_id,
        "after-drop"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn drop_every_drops_streams_periodically() {
    let metrics = Metrics::new();
    let server = metrics
        .start(ServerConfig {
            drop_every: Some(Duration::from_millis(100)),
            ..config()
        })
        .await;
    for _ in 0..2 {
        let mut node = Node::connect(&server.endpoint(), None).await.unwrap();
        assert_eq!(node.next().await.unwrap_err().code(), Code::Unavailable);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn federation_updates_arrive_with_increasing_versions() {
    let metrics = Metrics::new();
    let server = metrics
        .start(ServerConfig {
            federation_interval: Some(Duration::from_millis(50)),
            ..config()
        })
        .await;
    let mut node = Node::connect(&server.endpoint(), None).await.unwrap();
    let mut versions = Vec::new();
    while versions.len() < 3 {
        let Some(Outgoing::FederationUpdate(update)) = node.next().await.unwrap().payload else {
            panic!("expected only federation updates");
        };
        assert!(
            (3..=5).contains(&update.members.len()),
            "{:?}",
            update.members
        );
        for (n, member) in update.members.iter().enumerate() {
            assert_eq!(member, &format!("member-{}", n + 1));
        }
        versions.push(update.version);
    }
    assert!(versions[0] >= 1, "{versions:?}");
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_message_without_payload_is_skipped_and_the_stream_survives() {
    let metrics = Metrics::new();
    let server = metrics.start(config()).await;
    let mut node = Node::connect(&server.endpoint(), None).await.unwrap();
    node.send(NodeMessage::default()).await;
    node.send(NodeMessage {
        trace_context: HashMap::new(),
        payload: Some(Incoming::Acknowledgement(Acknowledgement {
            federation_version: 3,
        })),
        ..Default::default()
    })
    .await;
    node.send(request("after-unknown", b"x")).await;
    assert_eq!(
        expect_response(node.next().await.unwrap()).request_id,
        "after-unknown"
    );
    assert_eq!(server.messages_received(), 3);
    assert_eq!(server.requests_seen(), ["after-unknown"]);
    server.shutdown().await;
}

#[tokio::test]
async fn broadcast_reaches_every_open_stream_as_sent() {
    let metrics = Metrics::new();
    let server = metrics.start(config()).await;
    let mut a = Node::connect(&server.endpoint(), None).await.unwrap();
    let mut b = Node::connect(&server.endpoint(), None).await.unwrap();
    wait_until_async("two open streams", WAIT, || server.open_streams() == 2).await;
    let raw = GovernanceMessage {
        trace_context: HashMap::from([("x-test".to_string(), "raw".to_string())]),
        payload: None,
    };
    server.broadcast(raw.clone());
    assert_eq!(a.next().await.unwrap(), raw);
    assert_eq!(b.next().await.unwrap(), raw);
    server.shutdown().await;
}

#[tokio::test]
async fn requests_seen_keeps_arrival_order() {
    let metrics = Metrics::new();
    let server = metrics.start(config()).await;
    let mut node = Node::connect(&server.endpoint(), None).await.unwrap();
    let ids: Vec<String> = (0..50).map(|i| format!("buffered-{i}")).collect();
    for id in &ids {
        node.send(request(id, id.as_bytes())).await;
    }
    for _ in &ids {
        expect_response(node.next().await.unwrap());
    }
    assert_eq!(server.requests_seen(), ids);
    assert_eq!(server.messages_received(), 50);
    server.shutdown().await;
}

#[tokio::test]
async fn a_node_that_resets_its_stream_mid_flight_is_cleaned_up() {
    let metrics = Metrics::new();
    let server = metrics
        .start(ServerConfig {
            latency: Duration::from_millis(300),
            ..config()
        })
        .await;
    let node = Node::connect(&server.endpoint(), None).await.unwrap();
    node.send(request("abandoned", b"x")).await;
    wait_until_async("the request to arrive", WAIT, || {
        server.requests_seen().len() == 1
    })
    .await;
    drop(node);
    wait_until_async("the stream to be released", WAIT, || {
        server.open_streams() == 0
    })
    .await;
    wait_until_async("the stream gauge back to zero", WAIT, || {
        metrics.value("alys_governance_server_streams", &[]) == Some(0.0)
    })
    .await;

    let mut next = Node::connect(&server.endpoint(), None).await.unwrap();
    next.assert_alive().await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_bounded_ends_streams_and_frees_the_port() {
    let metrics = Metrics::new();
    let server = metrics.start(config()).await;
    let addr = server.local_addr();
    let mut node = Node::connect(&server.endpoint(), None).await.unwrap();
    wait_until_async("the stream to open", WAIT, || server.open_streams() == 1).await;

    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(node.next().await.unwrap_err().code(), Code::Unavailable);
    std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("{addr} still taken: {e}"));
}

#[tokio::test]
async fn starting_on_a_taken_port_fails_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let meter = Metrics::new().0.meter();
    let Err(err) = GovernanceServer::start(
        ServerConfig {
            listen: addr,
            ..config()
        },
        &meter,
    )
    .await
    else {
        panic!("started on a taken port");
    };
    let message = err.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the bind failure is kept as the cause"
    );
}

rusty_fork_test! {
    #[test]
    fn answers_continue_the_senders_trace_through_the_governance_nodes_span() {
        block_on(async {
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            let spans = InMemorySpanExporter::default();
            let tracer_provider = SdkTracerProvider::builder()
                .with_simple_exporter(spans.clone())
                .build();
            // Current-thread runtime: this thread's subscriber sees the server's tasks too.
            let _subscriber = tracing::subscriber::set_default(
                tracing_subscriber::registry()
                    .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("test"))),
            );
            let metrics = Metrics::new();
            let server = metrics
                .start(ServerConfig {
                    federation_interval: Some(Duration::from_millis(50)),
                    ..config()
                })
                .await;
            let mut node = Node::connect(&server.endpoint(), None).await.unwrap();

            let trace_id = TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128);
            let sender_span = SpanId::from(0x00f0_67aa_0ba9_02b7u64);
            let mut message = request("traced", b"x");
            message.trace_context.insert(
                "traceparent".into(),
                format!("00-{trace_id}-{sender_span}-01"),
            );
            node.send(message).await;
            let (answer, update) = loop {
                let message = node.next().await.unwrap();
                if let Some(Outgoing::SignatureResponse(_)) = message.payload {
                    let update = loop {
                        let next = node.next().await.unwrap();
                        if let Some(Outgoing::FederationUpdate(_)) = next.payload {
                            break next;
                        }
                    };
                    break (message, update);
                }
            };
            let answer_cx =
                alys_telemetry::sources::governance::propagation::extract(&answer.trace_context);
            let answer_span = answer_cx.span().span_context().clone();
            assert_eq!(
                answer_span.trace_id(),
                trace_id,
                "{:?}",
                answer.trace_context
            );
            assert_ne!(answer_span.span_id(), sender_span);

            let _ = tracer_provider.force_flush();
            let finished = spans.get_finished_spans().unwrap();
            let handling = finished
                .iter()
                .find(|s| s.name == "governance_node.signature_request")
                .unwrap_or_else(|| {
                    panic!(
                        "no handling span in {:?}",
                        finished.iter().map(|s| &s.name).collect::<Vec<_>>()
                    )
                });
            assert_eq!(handling.span_context.trace_id(), trace_id);
            assert_eq!(handling.parent_span_id, sender_span);
            assert_eq!(handling.span_context.span_id(), answer_span.span_id());
            let attribute = |key: &str| {
                handling
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.to_string())
            };
            assert_eq!(
                attribute("message_type").as_deref(),
                Some("signature_request")
            );
            assert_eq!(attribute("request_id").as_deref(), Some("traced"));
            assert_eq!(attribute("outcome").as_deref(), Some("success"));

            // Federation updates start traces of their own.
            let update_span =
                alys_telemetry::sources::governance::propagation::extract(&update.trace_context)
                    .span()
                    .span_context()
                    .clone();
            assert!(update_span.is_valid(), "{:?}", update.trace_context);
            assert_ne!(update_span.trace_id(), trace_id);
            server.shutdown().await;
        })
    }
}

#[tokio::test]
async fn tls_clients_with_the_ca_are_answered_and_plaintext_clients_fail() {
    let dir = TempDir::new("governance-tls");
    crate::support::tls::make_certificates(&dir.path).unwrap();
    let metrics = Metrics::new();
    let server = metrics
        .start(ServerConfig {
            tls: Some(TlsFiles {
                ca: None,
                cert: Some(dir.join("server.pem")),
                key: Some(dir.join("server.key")),
            }),
            ..config()
        })
        .await;
    assert!(
        server.endpoint().starts_with("https://127.0.0.1:"),
        "{}",
        server.endpoint()
    );

    let client_tls = TlsFiles {
        ca: Some(dir.join("ca.pem")),
        ..TlsFiles::default()
    }
    .client("localhost")
    .unwrap();
    let endpoint = Endpoint::from_shared(server.endpoint())
        .unwrap()
        .tls_config(client_tls)
        .unwrap();
    let channel = bounded("a TLS connection", endpoint.connect())
        .await
        .unwrap();
    let mut node = Node::open(channel, None).await.unwrap();
    node.send(request("over-tls", b"x")).await;
    assert_eq!(
        expect_response(node.next().await.unwrap()).request_id,
        "over-tls"
    );

    let plaintext = format!("http://{}", server.local_addr());
    let attempt = async {
        let channel = Endpoint::from_shared(plaintext)
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let mut node = Node::open(channel, None).await.map_err(|s| s.to_string())?;
        node.send(heartbeat()).await;
        node.next().await.map_err(|s| s.to_string())
    };
    let outcome = bounded("the plaintext attempt to fail", attempt).await;
    assert!(
        outcome.is_err(),
        "a plaintext client was answered: {outcome:?}"
    );
    server.shutdown().await;
}
