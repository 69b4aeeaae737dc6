//! The governance stream's delivery guarantee (docs/governance-stream.md, "Delivery"): below
//! the buffer's capacity every message reaches the governance node once and in order, however
//! often the governance node is killed; whatever is given up is counted under its reason;
//! expired requests are not delivered, and late work is refused.

use crate::support;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::node::BIN;
use crate::support::{Proc, TempDir, free_port, wait_until_async};
use alys_node::governance_node::{GovernanceServer, ServerConfig, read_journal};
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::governance::client::{
    GovernanceError, ReconnectPolicy, SESSION_METADATA, StreamActor, StreamConfig, StreamHandle,
};
use alys_telemetry::sources::governance::proto::governance_message::Payload as Inbound;
use alys_telemetry::sources::governance::proto::governance_stream_client::GovernanceStreamClient;
use alys_telemetry::sources::governance::proto::node_message::Payload as Outbound;
use alys_telemetry::sources::governance::proto::{Acknowledgement, NodeMessage, SignatureRequest};

type Metrics = support::metrics::Registry;

/// A federation acknowledgement numbered `n`: the journal records it as `acknowledgement:n`.
fn numbered(n: u64) -> NodeMessage {
    NodeMessage {
        payload: Some(Outbound::Acknowledgement(Acknowledgement {
            federation_version: n,
        })),
        ..NodeMessage::default()
    }
}

fn client_config(addr: SocketAddr, capacity: usize) -> StreamConfig {
    let mut config = StreamConfig::new(format!("http://{addr}"));
    config.buffer_capacity = capacity;
    config.reconnect = ReconnectPolicy {
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
            .with_jitter(0.2),
        reset_after: Duration::from_secs(30),
    };
    config.connect_timeout = Duration::from_secs(1);
    config.heartbeat_interval = Duration::from_millis(200);
    config.liveness_timeout = Duration::from_secs(2);
    config
}

/// The governance node as a program: a journalling one, killed with SIGKILL between runs.
struct Journalling {
    addr: SocketAddr,
    journal: std::path::PathBuf,
    proc: Option<Proc>,
}

impl Journalling {
    fn new(dir: &Path) -> Journalling {
        Journalling {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            journal: dir.join("journal"),
            proc: None,
        }
    }

    /// Starts it on its address and waits until it listens (a port still held by the
    /// previous run makes it exit: it is started again).
    fn start(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut cmd = Command::new(BIN);
            cmd.args([
                "governance-server",
                "--grpc-listen",
                &self.addr.to_string(),
                "--journal",
                &self.journal.display().to_string(),
                "--latency",
                "1ms",
                "--federation-interval",
                "1h",
                "--no-pull",
                "--no-push",
            ]);
            let mut proc = Proc::spawn(cmd, "governance-server");
            while proc.is_running() && Instant::now() < deadline {
                if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                    self.proc = Some(proc);
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(
                Instant::now() < deadline,
                "the governance node did not start:\n{}",
                proc.output_tail(20)
            );
        }
    }

    fn kill(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.signal("KILL");
            proc.wait_exit(Duration::from_secs(10));
        }
    }

    /// The versions of `session`'s acknowledgements in the journal, in the order taken.
    fn taken(&self, session: &str) -> Vec<u64> {
        read_journal(&self.journal)
            .unwrap()
            .into_iter()
            .filter(|(s, ..)| s == session)
            .map(|(_, _, what, _)| {
                what.strip_prefix("acknowledgement:")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected journal entry {what}"))
            })
            .collect()
    }
}

/// Sends `1..=count` one every `pace`, while the governance node is killed and started again
/// at random moments, `kills` times; ends with it running.
async fn send_through_kills(
    node: &mut Journalling,
    client: &StreamHandle,
    count: u64,
    pace: Duration,
    kills: usize,
) {
    let sender = {
        let client = client.clone();
        tokio::spawn(async move {
            for n in 1..=count {
                client.send(numbered(n)).await.unwrap();
                tokio::time::sleep(pace).await;
            }
        })
    };
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..400))).await;
        node.kill();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..300))).await;
        tokio::task::block_in_place(|| node.start());
    }
    sender.await.unwrap();
}

fn given_up(metrics: &Metrics, reason: &str) -> f64 {
    metrics
        .value(
            "alys_governance_messages_given_up_total",
            &[("reason", reason)],
        )
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_capacity_every_message_arrives_once_in_order_through_random_kills() {
    let dir = TempDir::new("delivery");
    let mut node = Journalling::new(&dir.path);
    tokio::task::block_in_place(|| node.start());
    let metrics = Metrics::new();
    let client = StreamActor::spawn(client_config(node.addr, 10_000), &metrics.meter()).unwrap();

    // Sending lasts about as long as the kills do.
    const COUNT: u64 = 1_500;
    send_through_kills(&mut node, &client, COUNT, Duration::from_millis(5), 15).await;
    let c = client.clone();
    wait_until_async(
        "every message acknowledged",
        Duration::from_secs(60),
        move || c.buffered() == 0,
    )
    .await;

    // Exactly once, in order: the journal holds 1..=COUNT and nothing else.
    let taken = node.taken(client.session());
    let expected: Vec<u64> = (1..=COUNT).collect();
    assert_eq!(taken.len(), expected.len(), "{taken:?}");
    assert_eq!(taken, expected);
    for reason in ["buffer_full", "expired", "cancelled"] {
        assert_eq!(given_up(&metrics, reason), 0.0, "{reason}");
    }
    assert!(
        metrics
            .value("alys_governance_reconnect_attempts_total", &[])
            .unwrap()
            >= 15.0
    );
    client.shutdown().await;
    node.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_capacity_what_is_dropped_is_counted_and_the_rest_arrives_once_in_order() {
    let dir = TempDir::new("delivery-overflow");
    let mut node = Journalling::new(&dir.path);
    tokio::task::block_in_place(|| node.start());
    let metrics = Metrics::new();
    let client = StreamActor::spawn(client_config(node.addr, 20), &metrics.meter()).unwrap();

    // The governance node is down while 100 messages are sent to a 20-slot buffer, then
    // comes and goes.
    node.kill();
    for n in 1..=100 {
        client.send(numbered(n)).await.unwrap();
    }
    let c = client.clone();
    wait_until_async("a full buffer", Duration::from_secs(5), move || {
        c.buffered() == 20
    })
    .await;
    // From here on the sender waits for the stream at each restart: below capacity again,
    // nothing more may be dropped, however the kills fall.
    let restarted = async |node: &mut Journalling| {
        tokio::task::block_in_place(|| node.start());
        let c = client.clone();
        wait_until_async("reconnected", Duration::from_secs(10), move || {
            c.is_connected()
        })
        .await;
    };
    restarted(&mut node).await;
    for n in 101..=300 {
        // Below capacity, as the comment above says: on a loaded machine the acknowledgements
        // can lag 20 messages behind, and a 21st would evict one the node already has but has
        // not acknowledged yet (counted as given up, yet taken: the CI run of 9d0718f counted
        // 81). A sender that respects the buffer waits for room.
        let c = client.clone();
        wait_until_async("room in the buffer", Duration::from_secs(30), move || {
            c.buffered() < 20
        })
        .await;
        client.send(numbered(n)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..5))).await;
        if n % 40 == 0 {
            node.kill();
            let c = client.clone();
            wait_until_async("the loss noticed", Duration::from_secs(10), move || {
                !c.is_connected()
            })
            .await;
            restarted(&mut node).await;
        }
    }
    let c = client.clone();
    wait_until_async(
        "every message acknowledged",
        Duration::from_secs(60),
        move || c.buffered() == 0,
    )
    .await;

    // The oldest 80 of the outage made room, counted; the rest arrived once, in order:
    // sent = taken + counted, nothing lost without a trace.
    let taken = node.taken(client.session());
    assert_eq!(taken, (81..=300).collect::<Vec<u64>>());
    assert_eq!(given_up(&metrics, "buffer_full"), 80.0);
    assert_eq!(
        metrics.value("alys_governance_buffer_dropped_total", &[]),
        Some(80.0)
    );
    client.shutdown().await;
    node.kill();
}

#[tokio::test]
async fn expired_requests_leave_the_buffer_counted_and_are_never_delivered() {
    let metrics = Metrics::new();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        latency: Duration::from_millis(10),
        federation_interval: None,
        ..ServerConfig::default()
    };
    let server = GovernanceServer::start(config.clone(), &metrics.meter())
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut client_config = client_config(addr, 100);
    client_config.request_timeout = Duration::from_millis(300);
    let client = StreamActor::spawn(client_config, &metrics.meter()).unwrap();
    let c = client.clone();
    wait_until_async("connected", Duration::from_secs(10), move || {
        c.is_connected()
    })
    .await;
    server.shutdown().await;
    let c = client.clone();
    wait_until_async("disconnected", Duration::from_secs(10), move || {
        !c.is_connected()
    })
    .await;

    // Five callers give up while the governance node is away.
    let callers: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.request_signature(vec![i]).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(
            caller.await.unwrap(),
            Err(GovernanceError::Timeout(Duration::from_millis(300)))
        );
    }
    assert_eq!(given_up(&metrics, "expired"), 5.0);
    assert_eq!(client.buffered(), 0, "expired requests left the buffer");

    let server = GovernanceServer::start(
        ServerConfig {
            listen: addr,
            ..config
        },
        &metrics.meter(),
    )
    .await
    .unwrap();
    let c = client.clone();
    wait_until_async("reconnected", Duration::from_secs(10), move || {
        c.is_connected()
    })
    .await;
    let fresh = client.request_signature(b"fresh".to_vec()).await.unwrap();
    // Only the fresh request reached the governance node; no late answer came back.
    assert_eq!(server.requests_seen(), [fresh.request_id]);
    assert_eq!(
        metrics.value(
            "alys_governance_invalid_messages_total",
            &[("reason", "uncorrelated")]
        ),
        Some(0.0)
    );
    client.shutdown().await;
    server.shutdown().await;
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A request numbered `id` in a session, with a deadline.
fn tracked_request(id: u64, request_id: &str, deadline_unix_ms: i64) -> NodeMessage {
    NodeMessage {
        trace_context: HashMap::new(),
        payload: Some(Outbound::SignatureRequest(SignatureRequest {
            request_id: request_id.into(),
            payload: request_id.as_bytes().to_vec(),
        })),
        message_id: id,
        deadline_unix_ms,
    }
}

#[tokio::test]
async fn the_governance_node_acknowledges_refuses_late_work_and_answers_a_duplicate_once() {
    let metrics = Metrics::new();
    let server = GovernanceServer::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            latency: Duration::from_millis(10),
            federation_interval: None,
            ..ServerConfig::default()
        },
        &metrics.meter(),
    )
    .await
    .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(server.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert(SESSION_METADATA, "raw-session-1".parse().unwrap());
    let mut inbound = GovernanceStreamClient::new(channel)
        .stream(request)
        .await
        .unwrap()
        .into_inner();
    let mut next = async move || {
        tokio::time::timeout(Duration::from_secs(5), inbound.message())
            .await
            .expect("a message in time")
            .unwrap()
            .unwrap()
            .payload
    };

    // Late work: acknowledged, not signed.
    tx.send(tracked_request(1, "late", unix_ms() - 1_000))
        .await
        .unwrap();
    assert!(matches!(next().await, Some(Inbound::Receipt(r)) if r.message_id == 1));
    // Fresh work: acknowledged, then answered.
    tx.send(tracked_request(2, "fresh", unix_ms() + 60_000))
        .await
        .unwrap();
    assert!(matches!(next().await, Some(Inbound::Receipt(r)) if r.message_id == 2));
    let answered = |p: Option<Inbound>| match p {
        Some(Inbound::SignatureResponse(r)) => r.request_id,
        other => panic!("expected an answer, got {other:?}"),
    };
    assert_eq!(answered(next().await), "fresh");
    // The same id again (a re-send after a reconnect): acknowledged, answered again from
    // memory, not signed again.
    tx.send(tracked_request(2, "fresh", unix_ms() + 60_000))
        .await
        .unwrap();
    assert!(matches!(next().await, Some(Inbound::Receipt(r)) if r.message_id == 2));
    assert_eq!(answered(next().await), "fresh");
    assert_eq!(server.requests_seen(), ["fresh"]);
    for (reason, n) in [("expired", 1.0), ("duplicate", 1.0)] {
        assert_eq!(
            metrics.value(
                "alys_governance_server_messages_skipped_total",
                &[("reason", reason)]
            ),
            Some(n),
            "{reason}"
        );
    }
    assert_eq!(
        metrics.value(
            "alys_governance_server_requests_total",
            &[("outcome", "success")]
        ),
        Some(1.0)
    );
    drop(tx);
    server.shutdown().await;
}
