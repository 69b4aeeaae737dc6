//! The governance stream under a peer's faults: a frozen governance node (SIGSTOP) is
//! noticed by the HTTP/2 keep-alive and the stream recovers after SIGCONT; a server that
//! sends its headers and then nothing is noticed by the unanswered heartbeats; a flood of bad
//! messages gives a bounded number of log lines, every message counted.

use crate::support;

use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::node::{BIN, Demo};
use crate::support::{Proc, free_port, wait_until, wait_until_async};
use alys_node::governance_node::{GovernanceServer, ServerConfig};
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::governance::client::{ReconnectPolicy, StreamActor, StreamConfig};
use alys_telemetry::sources::governance::proto::governance_message::Payload as Inbound;
use alys_telemetry::sources::governance::proto::governance_stream_server::{
    GovernanceStream, GovernanceStreamServer,
};
use alys_telemetry::sources::governance::proto::{
    FederationUpdate, GovernanceMessage, NodeMessage,
};
use tokio_stream::Stream;

type Metrics = support::metrics::Registry;

fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy {
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(500)),
        reset_after: Duration::from_secs(30),
    }
}

fn status(metrics: &Metrics) -> Option<f64> {
    metrics.value("alys_governance_connection_status", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_governance_node_is_noticed_and_the_stream_recovers_after_sigcont() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = Command::new(BIN);
    cmd.args([
        "governance-server",
        "--grpc-listen",
        &addr.to_string(),
        "--latency",
        "1ms",
        "--no-pull",
        "--no-push",
    ]);
    let governance = Proc::spawn(cmd, "governance-server");
    wait_until("the governance node", Duration::from_secs(20), || {
        TcpStream::connect(addr).ok()
    });
    let metrics = Metrics::new();
    let mut config = StreamConfig::new(format!("http://{addr}"));
    config.reconnect = fast_reconnect();
    config.connect_timeout = Duration::from_secs(1);
    // Only the transport's keep-alive can notice here: the liveness timeout is far away.
    config.keepalive_interval = Duration::from_millis(300);
    config.keepalive_timeout = Duration::from_millis(700);
    config.liveness_timeout = Duration::from_secs(600);
    let bound = config.dead_peer_bound();
    assert_eq!(bound, Duration::from_millis(1_000));
    let client = StreamActor::spawn(config, &metrics.meter()).unwrap();
    let c = client.clone();
    wait_until_async("connected", Duration::from_secs(10), move || {
        c.is_connected()
    })
    .await;
    client.request_signature(b"before".to_vec()).await.unwrap();

    governance.signal("STOP");
    let c = client.clone();
    let noticed = wait_until_async("the freeze noticed", Duration::from_secs(10), move || {
        !c.is_connected()
    })
    .await;
    eprintln!("the freeze was noticed after {noticed:?} (bound {bound:?})");
    assert!(
        noticed < bound + Duration::from_millis(500),
        "noticed after {noticed:?} (bound {bound:?})"
    );
    assert_eq!(status(&metrics), Some(0.0));
    // It keeps trying (each attempt bounded by the connect timeout) while frozen.
    let attempts = client.attempt_times().len();
    let c = client.clone();
    wait_until_async(
        "attempts while frozen",
        Duration::from_secs(10),
        move || c.attempt_times().len() >= attempts + 2,
    )
    .await;

    governance.signal("CONT");
    let c = client.clone();
    wait_until_async("the stream back", Duration::from_secs(15), move || {
        c.is_connected()
    })
    .await;
    assert_eq!(status(&metrics), Some(1.0));
    client.request_signature(b"after".to_vec()).await.unwrap();
    client.shutdown().await;
}

/// A governance node that opens the stream (headers sent) and then says nothing, not even
/// to heartbeats; its HTTP/2 layer still answers PINGs.
struct Silent;

type Nothing = Pin<Box<dyn Stream<Item = Result<GovernanceMessage, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl GovernanceStream for Silent {
    type StreamStream = Nothing;

    async fn stream(
        &self,
        _request: tonic::Request<tonic::Streaming<NodeMessage>>,
    ) -> Result<tonic::Response<Nothing>, tonic::Status> {
        Ok(tonic::Response::new(Box::pin(tokio_stream::pending())))
    }
}

#[tokio::test]
async fn a_server_that_sends_headers_and_then_nothing_is_noticed_by_its_silence() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(GovernanceStreamServer::new(Silent))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let metrics = Metrics::new();
    let mut config = StreamConfig::new(format!("http://{addr}"));
    config.reconnect = fast_reconnect();
    config.heartbeat_interval = Duration::from_millis(200);
    config.liveness_timeout = Duration::from_millis(1_000);
    // PINGs are answered: the keep-alive alone would never notice.
    config.keepalive_interval = Duration::from_millis(200);
    config.keepalive_timeout = Duration::from_millis(500);
    let client = StreamActor::spawn(config, &metrics.meter()).unwrap();
    let c = client.clone();
    wait_until_async("connected", Duration::from_secs(10), move || {
        c.is_connected()
    })
    .await;
    let c = client.clone();
    let noticed = wait_until_async("the silence noticed", Duration::from_secs(10), move || {
        !c.is_connected()
    })
    .await;
    eprintln!("the silence was noticed after {noticed:?} (liveness timeout 1 s)");
    assert!(
        noticed < Duration::from_millis(2_000),
        "noticed after {noticed:?}"
    );
    assert_eq!(status(&metrics), Some(0.0));
    let m = &metrics;
    wait_until_async("the silence counted", Duration::from_secs(5), || {
        m.value(
            "alys_governance_stream_errors_total",
            &[("code", "deadline_exceeded")],
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    // And it reconnects (to the same silent server), again and again.
    let c = client.clone();
    wait_until_async("a reconnect", Duration::from_secs(10), move || {
        c.attempt_times().len() >= 2
    })
    .await;
    client.shutdown().await;
    server.abort();
}

#[test]
fn a_flood_of_bad_messages_gives_a_bounded_number_of_log_lines() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let server = runtime
        .block_on(GovernanceServer::start(
            ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                federation_interval: None,
                ..ServerConfig::default()
            },
            &metrics.meter(),
        ))
        .unwrap();
    let demo = Demo::start(
        &["--no-push", "--governance-endpoint", &server.endpoint()],
        &[],
    );
    wait_until("the demo's stream", Duration::from_secs(20), || {
        (server.open_streams() == 1).then_some(())
    });

    // 10,000 unknown and 10,000 malformed messages, as fast as the stream takes them.
    const EACH: usize = 10_000;
    let unknown = GovernanceMessage::default();
    let malformed = GovernanceMessage {
        payload: Some(Inbound::FederationUpdate(FederationUpdate {
            version: 0,
            members: vec![],
        })),
        ..GovernanceMessage::default()
    };
    let started = Instant::now();
    for message in [unknown, malformed] {
        let mut sent = 0;
        while sent < EACH {
            assert!(started.elapsed() < Duration::from_secs(60), "sent {sent}");
            if server.broadcast(message.clone()) == 1 {
                sent += 1;
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    wait_until("every message counted", Duration::from_secs(30), || {
        let e = demo.exposition();
        let counted = |reason| {
            e.sum(
                "alys_governance_invalid_messages_total",
                &[("reason", reason)],
            )
        };
        (counted("unknown_type") == Some(EACH as f64) && counted("malformed") == Some(EACH as f64))
            .then_some(())
    });
    let lines = demo
        .proc
        .stdout()
        .lines()
        .filter(|l| l.contains("skipped governance messages"))
        .count();
    eprintln!("{lines} log lines for {} bad messages", 2 * EACH);
    // One line per reason per 30 s, the flood lasted seconds: at most two each.
    assert!(
        (2..=4).contains(&lines),
        "{lines} lines for {} messages",
        2 * EACH
    );
    assert!(
        demo.proc.stdout().contains("occurrences="),
        "a line says how many it stands for"
    );
    drop(demo);
    runtime.block_on(server.shutdown());
}
