//! The StreamActor against a real tonic governance node on loopback: buffering and ordered
//! flush across a server restart, backoff between reconnect attempts, correlation latency and
//! timeouts, one trace across both ends, authentication, and robustness to bad messages.

use crate::support::wait_until_async;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alys_node::governance_node::{GovernanceServer, ServerConfig, ServerHandle};
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::governance::Token;
use alys_telemetry::sources::governance::client::{
    GovernanceError, ReconnectPolicy, StreamActor, StreamConfig, StreamHandle,
};
use alys_telemetry::sources::governance::proto::governance_message::Payload as Inbound;
use alys_telemetry::sources::governance::proto::node_message::Payload as Outbound;
use alys_telemetry::sources::governance::proto::{
    FederationUpdate, GovernanceMessage, NodeMessage, SignatureRequest, SignatureResponse,
};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rusty_fork::rusty_fork_test;
use tracing_subscriber::layer::SubscriberExt;

type Metrics = crate::support::metrics::Registry;

fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy {
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(400)),
        reset_after: Duration::from_secs(30),
    }
}

fn server_config(listen: SocketAddr) -> ServerConfig {
    ServerConfig {
        listen,
        latency: Duration::from_millis(10),
        federation_interval: None,
        ..ServerConfig::default()
    }
}

async fn start_server(config: ServerConfig, metrics: &Metrics) -> ServerHandle {
    GovernanceServer::start(config, &metrics.meter())
        .await
        .unwrap()
}

fn request(id: &str) -> NodeMessage {
    NodeMessage {
        trace_context: Default::default(),
        payload: Some(Outbound::SignatureRequest(SignatureRequest {
            request_id: id.to_string(),
            payload: id.as_bytes().to_vec(),
        })),
        ..Default::default()
    }
}

async fn connected_client(
    server: &ServerHandle,
    metrics: &Metrics,
    tweak: impl FnOnce(&mut StreamConfig),
) -> StreamHandle {
    let mut config = StreamConfig::new(server.endpoint());
    config.reconnect = fast_reconnect();
    tweak(&mut config);
    let client = StreamActor::spawn(config, &metrics.meter()).unwrap();
    let c = client.clone();
    wait_until_async(
        "the stream to connect",
        Duration::from_secs(10),
        move || c.is_connected(),
    )
    .await;
    client
}

#[tokio::test]
async fn counters_are_on_metrics_at_zero_before_their_first_event() {
    let metrics = Metrics::new();
    let server = start_server(server_config("127.0.0.1:0".parse().unwrap()), &metrics).await;
    let client = connected_client(&server, &metrics, |_| {}).await;
    // Connected at the first attempt: nothing reconnected, dropped, timed out or refused yet,
    // and each counter already says 0 instead of "No data".
    assert_eq!(client.attempt_times().len(), 1);
    let e = metrics.exposition();
    for name in [
        "alys_governance_reconnect_attempts_total",
        "alys_governance_buffer_dropped_total",
        "alys_governance_correlation_timeouts_total",
        "alys_governance_server_auth_failures_total",
    ] {
        assert_eq!(e.value(name, &[]), Ok(Some(0.0)), "{name}");
    }
    // A counter labelled by a closed set has every label value at 0.
    for reason in ["unknown_type", "malformed", "uncorrelated"] {
        assert_eq!(
            e.value(
                "alys_governance_invalid_messages_total",
                &[("reason", reason)]
            ),
            Ok(Some(0.0)),
            "{reason}"
        );
    }
    assert_eq!(
        e.matching("alys_governance_stream_errors_total", &[])
            .count(),
        17,
        "one series per gRPC code"
    );
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_restarted_server_receives_the_buffer_in_order_and_overflow_is_counted() {
    let metrics = Metrics::new();
    let server = start_server(server_config("127.0.0.1:0".parse().unwrap()), &metrics).await;
    let addr = server.local_addr();
    let client = connected_client(&server, &metrics, |c| c.buffer_capacity = 4).await;
    assert_eq!(
        metrics.value("alys_governance_connection_status", &[]),
        Some(1.0)
    );

    server.shutdown().await;
    let c = client.clone();
    wait_until_async("the client to notice", Duration::from_secs(10), move || {
        !c.is_connected()
    })
    .await;
    assert_eq!(
        metrics.value("alys_governance_connection_status", &[]),
        Some(0.0)
    );

    for i in 1..=6 {
        client.send(request(&format!("buf-{i}"))).await.unwrap();
    }
    let c = client.clone();
    wait_until_async(
        "six messages offered to a four-slot buffer",
        Duration::from_secs(5),
        move || c.buffered() == 4,
    )
    .await;
    assert_eq!(
        metrics.value("alys_governance_message_buffer_size", &[]),
        Some(4.0)
    );
    assert_eq!(
        metrics.value("alys_governance_buffer_dropped_total", &[]),
        Some(2.0)
    );

    let server = start_server(server_config(addr), &metrics).await;
    let s = &server;
    let started = Instant::now();
    while s.requests_seen().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "flush: {:?}",
            s.requests_seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The oldest two were dropped; the rest arrive in their original order.
    assert_eq!(server.requests_seen(), ["buf-3", "buf-4", "buf-5", "buf-6"]);
    assert!(client.is_connected());
    assert_eq!(
        metrics.value("alys_governance_connection_status", &[]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("alys_governance_message_buffer_size", &[]),
        Some(0.0)
    );
    assert!(
        metrics
            .value("alys_governance_reconnect_attempts_total", &[])
            .unwrap()
            >= 1.0
    );
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn reconnect_attempts_are_counted_and_back_off() {
    let metrics = Metrics::new();
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = StreamConfig::new(format!("http://{closed}"));
    config.reconnect = ReconnectPolicy {
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        reset_after: Duration::from_secs(30),
    };
    let client = StreamActor::spawn(config, &metrics.meter()).unwrap();
    let c = client.clone();
    wait_until_async("five attempts", Duration::from_secs(10), move || {
        c.attempt_times().len() >= 5
    })
    .await;
    let times = client.attempt_times();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // 100, 200, 400, 800 ms, within scheduling tolerance.
    for (i, gap) in gaps.iter().take(4).enumerate() {
        let expected = 0.1 * 2f64.powi(i as i32);
        assert!(
            *gap >= expected * 0.95 && *gap <= expected + 0.15,
            "gap {i}: {gap:.3} s, expected {expected:.3} s ({gaps:?})"
        );
    }
    let counted = metrics
        .value("alys_governance_reconnect_attempts_total", &[])
        .unwrap();
    assert!(
        counted >= (times.len() - 1) as f64,
        "{counted} for {} attempts",
        times.len()
    );
    assert!(
        metrics
            .value(
                "alys_governance_stream_errors_total",
                &[("code", "unavailable")]
            )
            .unwrap()
            >= 4.0
    );
    client.shutdown().await;
}

#[tokio::test]
async fn correlation_latency_follows_the_server_and_timeouts_reach_the_caller() {
    let metrics = Metrics::new();
    let mut config = server_config("127.0.0.1:0".parse().unwrap());
    config.latency = Duration::from_millis(300);
    let server = start_server(config, &metrics).await;
    let client = connected_client(&server, &metrics, |c| {
        c.request_timeout = Duration::from_secs(5)
    })
    .await;
    let response = client.request_signature(b"tx-1".to_vec()).await.unwrap();
    assert!(!response.signature.is_empty());
    let count = metrics
        .value(
            "alys_governance_request_correlation_duration_seconds_count",
            &[],
        )
        .unwrap();
    let sum = metrics
        .value(
            "alys_governance_request_correlation_duration_seconds_sum",
            &[],
        )
        .unwrap();
    assert_eq!(count, 1.0);
    assert!(
        (0.3..1.0).contains(&sum),
        "correlation took {sum} s for a 300 ms server"
    );
    client.shutdown().await;

    let client = connected_client(&server, &metrics, |c| {
        c.request_timeout = Duration::from_millis(100)
    })
    .await;
    let started = Instant::now();
    let err = client
        .request_signature(b"tx-2".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err, GovernanceError::Timeout(Duration::from_millis(100)));
    assert!(
        started.elapsed() < Duration::from_millis(290),
        "the caller hears of the timeout before the answer"
    );
    assert_eq!(
        metrics.value("alys_governance_correlation_timeouts_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("alys_governance_pending_requests", &[]),
        Some(0.0)
    );
    // The late answer is not taken for someone else's.
    let m = &metrics;
    wait_until_async("the late answer", Duration::from_secs(5), || {
        m.value(
            "alys_governance_invalid_messages_total",
            &[("reason", "uncorrelated")],
        ) == Some(1.0)
    })
    .await;
    client.shutdown().await;
    server.shutdown().await;
}

rusty_fork_test! {
    #[test]
    fn one_trace_spans_request_governance_node_and_response() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let spans = InMemorySpanExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let metrics = Metrics::new();
            let server = start_server(server_config("127.0.0.1:0".parse().unwrap()), &metrics).await;
            let client = connected_client(&server, &metrics, |_| {}).await;
            client.request_signature(b"tx".to_vec()).await.unwrap();
            client.shutdown().await;
            server.shutdown().await;
        });
        let _ = tracer.force_flush();
        let all = spans.get_finished_spans().unwrap();
        let find = |name: &str| -> &SpanData {
            all.iter().find(|s| s.name == name).unwrap_or_else(|| {
                panic!(
                    "no {name} in {:?}",
                    all.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
        };
        let request = find("stream.signature_request");
        let handled = find("governance_node.signature_request");
        let response = find("stream.handle_signature_response");
        let trace = request.span_context.trace_id();
        assert_eq!(handled.span_context.trace_id(), trace);
        assert_eq!(response.span_context.trace_id(), trace);
        assert_eq!(handled.parent_span_id, request.span_context.span_id());
        assert_eq!(response.parent_span_id, handled.span_context.span_id());
    }
}

rusty_fork_test! {
    #[test]
    fn an_unsampled_request_travels_as_flags_00_and_stays_unsampled() {
        use opentelemetry::context::FutureExt as _;
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
        };
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let spans = InMemorySpanExporter::default();
        // Parent-based, and every root sampled: a span anywhere that did not learn "unsampled"
        // from its parent would be a sampled root.
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let trace_id = TraceId::from(0x5ad1_7e57_0000_0000_0000_0000_0000_0013u128);
        let unsampled = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from(0x00f0_67aa_0ba9_02b7u64),
            TraceFlags::default(),
            false,
            TraceState::default(),
        ));
        runtime.block_on(async {
            let metrics = Metrics::new();
            let server = start_server(server_config("127.0.0.1:0".parse().unwrap()), &metrics).await;
            let client = connected_client(&server, &metrics, |_| {}).await;
            client
                .request_signature(b"tx".to_vec())
                .with_context(unsampled)
                .await
                .unwrap();
            client.shutdown().await;
            server.shutdown().await;
        });
        let _ = tracer.force_flush();
        let all = spans.get_finished_spans().unwrap();
        let names: Vec<&str> = all.iter().map(|s| s.name.as_ref()).collect();
        for name in [
            "stream.signature_request",
            "governance_node.signature_request",
            "stream.handle_signature_response",
        ] {
            assert!(!names.contains(&name), "{name} was recorded: {names:?}");
        }
        assert!(all.iter().all(|s| s.span_context.trace_id() != trace_id));
    }
}

/// Collects everything the process logs, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_wrong_token_is_refused_counted_and_never_shown() {
    let secret = "tok-3f9a1c2e-right";
    let wrong = "tok-77b0d4e1-wrong";
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let metrics = Metrics::new();
        let mut config = server_config("127.0.0.1:0".parse().unwrap());
        config.token = Some(Token::new(secret));
        let server = start_server(config, &metrics).await;

        let mut refused = StreamConfig::new(server.endpoint());
        refused.reconnect = fast_reconnect();
        refused.token = Some(Token::new(wrong));
        let debug = format!("{refused:?}");
        assert!(!debug.contains(wrong), "{debug}");
        let client = StreamActor::spawn(refused, &metrics.meter()).unwrap();
        let m = &metrics;
        wait_until_async("a counted refusal", Duration::from_secs(10), || {
            m.value("alys_governance_server_auth_failures_total", &[])
                .unwrap_or(0.0)
                >= 1.0
                && m.value(
                    "alys_governance_stream_errors_total",
                    &[("code", "unauthenticated")],
                )
                .unwrap_or(0.0)
                    >= 1.0
        })
        .await;
        assert!(!client.is_connected());
        client.shutdown().await;

        // The right token is let in.
        let ok = connected_client(&server, &metrics, |c| c.token = Some(Token::new(secret))).await;
        ok.request_signature(b"tx".to_vec()).await.unwrap();
        ok.shutdown().await;
        server.shutdown().await;
    });
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(!log.is_empty(), "nothing was logged");
    assert!(
        !log.contains(secret) && !log.contains(wrong),
        "a token leaked:\n{log}"
    );
}

#[tokio::test]
async fn bad_messages_are_counted_and_skipped_and_resets_are_reconnects() {
    let metrics = Metrics::new();
    let server = start_server(server_config("127.0.0.1:0".parse().unwrap()), &metrics).await;
    let client = connected_client(&server, &metrics, |_| {}).await;
    server.broadcast(GovernanceMessage {
        trace_context: Default::default(),
        payload: None,
    });
    server.broadcast(GovernanceMessage {
        trace_context: Default::default(),
        payload: Some(Inbound::SignatureResponse(SignatureResponse::default())),
    });
    server.broadcast(GovernanceMessage {
        trace_context: Default::default(),
        payload: Some(Inbound::FederationUpdate(FederationUpdate {
            version: 0,
            members: vec![],
        })),
    });
    let m = &metrics;
    wait_until_async("three skipped messages", Duration::from_secs(5), || {
        m.value(
            "alys_governance_invalid_messages_total",
            &[("reason", "unknown_type")],
        ) == Some(1.0)
            && m.value(
                "alys_governance_invalid_messages_total",
                &[("reason", "malformed")],
            ) == Some(2.0)
    })
    .await;
    // The stream survived: a request still goes through on it.
    assert!(client.is_connected());
    client.request_signature(b"tx".to_vec()).await.unwrap();

    // A valid update is taken and acknowledged.
    server.broadcast(GovernanceMessage {
        trace_context: Default::default(),
        payload: Some(Inbound::FederationUpdate(FederationUpdate {
            version: 7,
            members: vec!["member-1".into(), "member-2".into()],
        })),
    });
    let mut federation = client.federation();
    tokio::time::timeout(
        Duration::from_secs(5),
        federation.wait_for(|f| f.as_ref().is_some_and(|f| f.version == 7)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        metrics.value(
            "alys_federation_update_processing_duration_seconds_count",
            &[]
        ),
        Some(1.0)
    );

    // The server resets the stream mid-flight: a reconnect, not a crash.
    server.drop_streams();
    let c = client.clone();
    wait_until_async("the reset to be seen", Duration::from_secs(5), move || {
        m.value(
            "alys_governance_stream_errors_total",
            &[("code", "unavailable")],
        )
        .unwrap_or(0.0)
            >= 1.0
            || !c.is_connected()
    })
    .await;
    let c = client.clone();
    wait_until_async("the reconnection", Duration::from_secs(10), move || {
        c.is_connected()
    })
    .await;
    client
        .request_signature(b"tx-after-reset".to_vec())
        .await
        .unwrap();
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_stream_runs_over_tls_with_a_token() {
    let dir = crate::support::TempDir::new("stream-tls");
    crate::support::tls::make_certificates(&dir.path).unwrap();
    let metrics = Metrics::new();
    let token = Token::new("tls-token-5c1d");
    let mut config = server_config("127.0.0.1:0".parse().unwrap());
    config.token = Some(token.clone());
    config.tls = Some(alys_telemetry::sources::governance::TlsFiles {
        ca: None,
        cert: Some(dir.path.join("server.pem")),
        key: Some(dir.path.join("server.key")),
    });
    let server = start_server(config, &metrics).await;
    assert!(server.endpoint().starts_with("https://"));
    // The certificate names "localhost"; the endpoint is an address.
    let client = connected_client(&server, &metrics, |c| {
        c.token = Some(token.clone());
        c.tls_domain = Some("localhost".into());
        c.tls = Some(alys_telemetry::sources::governance::TlsFiles {
            ca: Some(dir.path.join("ca.pem")),
            ..Default::default()
        });
    })
    .await;
    client
        .request_signature(b"over tls".to_vec())
        .await
        .unwrap();
    client.shutdown().await;

    // Without the CA the server is not trusted: no connection, and the failure is counted.
    let mut untrusting = StreamConfig::new(server.endpoint());
    untrusting.reconnect = fast_reconnect();
    untrusting.token = Some(token);
    untrusting.tls_domain = Some("localhost".into());
    untrusting.tls = Some(alys_telemetry::sources::governance::TlsFiles::default());
    let client = StreamActor::spawn(untrusting, &metrics.meter()).unwrap();
    let c = client.clone();
    wait_until_async("two failed attempts", Duration::from_secs(10), move || {
        c.attempt_times().len() >= 2
    })
    .await;
    assert!(!client.is_connected());
    client.shutdown().await;
    server.shutdown().await;
}

/// The stream's full gRPC method, as `rpc.method` names it.
const STREAM_METHOD: &str = "alys.governance.v1.GovernanceStream/Stream";

/// Calls of the stream recorded by one end, with `labels`.
fn stream_calls(metrics: &Metrics, end: &str, labels: &[(&str, &str)]) -> f64 {
    let name = format!("rpc_{end}_call_duration_seconds_count");
    let mut all = vec![("rpc_system_name", "grpc"), ("rpc_method", STREAM_METHOD)];
    all.extend_from_slice(labels);
    metrics.value(&name, &all).unwrap_or(0.0)
}

#[tokio::test]
async fn both_ends_measure_the_stream_as_a_grpc_call_that_lasts_as_long_as_it_is_open() {
    let metrics = Metrics::new();
    let server = start_server(server_config("127.0.0.1:0".parse().unwrap()), &metrics).await;
    let client = connected_client(&server, &metrics, |_| {}).await;
    client.request_signature(b"tx".to_vec()).await.unwrap();
    // Open, with traffic on it: the call goes on, neither end has recorded it.
    assert_eq!(stream_calls(&metrics, "server", &[]), 0.0);
    assert_eq!(stream_calls(&metrics, "client", &[]), 0.0);

    // The governance node ends the stream UNAVAILABLE in its trailers: one failed call at
    // each end, the client's naming the server it called.
    server.drop_streams();
    let port = server.local_addr().port().to_string();
    let unavailable = [
        ("rpc_response_status_code", "UNAVAILABLE"),
        ("error_type", "UNAVAILABLE"),
    ];
    let mut at_client = unavailable.to_vec();
    at_client.extend([
        ("server_address", "127.0.0.1"),
        ("server_port", port.as_str()),
    ]);
    let m = &metrics;
    wait_until_async(
        "both ends to record the dropped stream",
        Duration::from_secs(10),
        || {
            stream_calls(m, "server", &unavailable) == 1.0
                && stream_calls(m, "client", &at_client) == 1.0
        },
    )
    .await;

    // The client reconnects, then stops: its open stream is cancelled, an error for the
    // client that gave up on it.
    let c = client.clone();
    wait_until_async("the reconnection", Duration::from_secs(10), move || {
        c.is_connected()
    })
    .await;
    client.shutdown().await;
    let cancelled = [
        ("rpc_response_status_code", "CANCELLED"),
        ("error_type", "CANCELLED"),
    ];
    wait_until_async(
        "the stopped client's stream to end",
        Duration::from_secs(10),
        || stream_calls(m, "client", &cancelled) == 1.0 && stream_calls(m, "server", &[]) == 2.0,
    )
    .await;
    // The server records the stream's end too: CANCELLED by the client's reset (or OK, had
    // the client's half-close reached it first), no error of the server's either way.
    let server_errors: f64 = metrics
        .exposition()
        .matching("rpc_server_call_duration_seconds_count", &[])
        .filter(|s| s.labels.contains_key("error_type"))
        .map(|s| s.value)
        .sum();
    assert_eq!(server_errors, 1.0, "{}", metrics.text());
    // Histograms, under the conventions' names as the Prometheus exporter writes them.
    let text = metrics.text();
    for histogram in [
        "rpc_server_call_duration_seconds",
        "rpc_client_call_duration_seconds",
    ] {
        assert!(text.contains(&format!("{histogram}_bucket{{")), "{text}");
    }
    server.shutdown().await;
}
