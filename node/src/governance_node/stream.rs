//! One node's stream: authentication, the reader task, message handling and the outbound
//! side that a drop can end with an error.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::sessions::Taken;
use super::{DROPPED_MESSAGE, Shared, StreamEntry, lock};
use alys_telemetry::sources::catalog::governance::GovernanceMessageType;
use alys_telemetry::sources::catalog::governance_node::SkipReason;
use alys_telemetry::sources::catalog::labels::Outcome;
use alys_telemetry::sources::governance::client::SESSION_METADATA;
use alys_telemetry::sources::governance::propagation;
use alys_telemetry::sources::governance::proto::governance_message::Payload as Outgoing;
use alys_telemetry::sources::governance::proto::governance_stream_server::GovernanceStream;
use alys_telemetry::sources::governance::proto::node_message::Payload as Incoming;
use alys_telemetry::sources::governance::proto::{
    GovernanceMessage, Heartbeat, NodeMessage, Receipt, SignatureRequest, SignatureResponse,
};

/// Answers queued per stream before broadcasts to a node that does not read are skipped.
const OUTBOUND_CAPACITY: usize = 256;

/// The gRPC service.
pub(super) struct Node {
    shared: Arc<Shared>,
}

impl Node {
    pub(super) fn new(shared: Arc<Shared>) -> Node {
        Node { shared }
    }
}

#[tonic::async_trait]
impl GovernanceStream for Node {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        request: Request<Streaming<NodeMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let shared = &self.shared;
        if let Err(status) = authenticate(shared.token.as_ref(), request.metadata()) {
            shared.metrics.auth_failures.add(1);
            // Never the presented value: it may be a real token meant for someone else.
            tracing::warn!(peer = ?request.remote_addr(), "refused a stream: missing or wrong token");
            return Err(status);
        }
        let session = session_of(request.metadata());
        let (tx, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let (stop_reader, reader_stopped) = oneshot::channel();
        let (stop_outbound, outbound_stopped) = oneshot::channel();
        let id = shared.next_stream.fetch_add(1, Ordering::Relaxed);
        {
            let mut streams = lock(&shared.streams);
            // Checked under the lock that shutdown drains: no stream slips in after the drain.
            if shared.closing.load(Ordering::Relaxed) {
                return Err(Status::unavailable("the governance node is shutting down"));
            }
            let entry = StreamEntry {
                tx: tx.clone(),
                stop_reader,
                stop_outbound,
            };
            streams.insert(id, entry);
        }
        if let Some(session) = &session {
            lock(&shared.sessions).attach(session, id, tx.clone());
        }
        shared.metrics.stream_delta(1);
        let registration = Registration {
            shared: shared.clone(),
            id,
            session,
        };
        tracing::info!(stream = id, peer = ?request.remote_addr(), "node stream opened");
        tokio::spawn(read(registration, request.into_inner(), tx, reader_stopped));
        Ok(Response::new(Outbound {
            rx,
            dropped: Some(outbound_stopped),
            ended: false,
        }))
    }
}

fn authenticate(
    token: Option<&alys_telemetry::sources::governance::Token>,
    metadata: &MetadataMap,
) -> Result<(), Status> {
    let Some(token) = token else { return Ok(()) };
    let presented = metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token.matches_bearer(presented) {
        Ok(())
    } else {
        Err(Status::unauthenticated("missing or wrong token"))
    }
}

/// The node's session (`alys-session-id`), when it names one a governance node can keep.
fn session_of(metadata: &MetadataMap) -> Option<String> {
    let value = metadata.get(SESSION_METADATA)?.to_str().ok()?;
    let usable = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    usable.then(|| value.to_string())
}

/// Unregisters a stream however its reader task ends (including a panic or an abort).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
    session: Option<String>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.shared.streams).remove(&self.id);
        if let Some(session) = &self.session {
            lock(&self.shared.sessions).detach(session, self.id);
        }
        self.shared.metrics.stream_delta(-1);
        tracing::info!(stream = self.id, "node stream closed");
    }
}

/// Reads the node's messages until it closes its side, the stream fails or is reset, the
/// outbound side is gone, or the governance node drops the stream.
async fn read(
    registration: Registration,
    mut inbound: Streaming<NodeMessage>,
    tx: mpsc::Sender<GovernanceMessage>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let next = tokio::select! {
            _ = &mut stopped => break,
            _ = tx.closed() => break,
            next = inbound.message() => next,
        };
        match next {
            Ok(Some(message)) => handle(
                &registration.shared,
                registration.session.as_deref(),
                message,
                &tx,
            ),
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(stream = registration.id, code = ?status.code(), "node stream failed");
                break;
            }
        }
    }
}

fn handle(
    shared: &Arc<Shared>,
    session: Option<&str>,
    message: NodeMessage,
    tx: &mpsc::Sender<GovernanceMessage>,
) {
    shared.received.fetch_add(1, Ordering::Relaxed);
    let origin = match (session, message.message_id) {
        (Some(session), id) if id > 0 => {
            if !take(shared, session, &message, tx) {
                return;
            }
            Some((session.to_string(), id))
        }
        _ => None,
    };
    let Some(payload) = message.payload else {
        // A newer node may send payloads this version does not know; the stream goes on.
        if let Some(occurrences) = shared.warnings.unknown.occurred() {
            tracing::warn!(
                message_type = GovernanceMessageType::Unknown.as_str(),
                occurrences,
                "skipped node messages without a known payload"
            );
        }
        return;
    };
    let parent = propagation::extract(&message.trace_context);
    match payload {
        Incoming::SignatureRequest(request) => {
            signature_request(shared, request, parent, tx, origin)
        }
        Incoming::Heartbeat(_) => heartbeat(parent, tx),
        Incoming::Acknowledgement(ack) => {
            let span = tracing::info_span!(
                parent: None,
                "governance_node.acknowledgement",
                otel.name = "governance_node.acknowledgement",
                message_type = GovernanceMessageType::Acknowledgement.as_str(),
            );
            let _ = span.set_parent(parent);
            let _entered = span.enter();
            tracing::debug!(
                federation_version = ack.federation_version,
                "node acknowledged a federation update"
            );
        }
    }
}

/// Takes a tracked message of `session`: acknowledges it (and everything before it), and
/// says whether to act on it. A duplicate is acknowledged again (and a request's answer given
/// again, if it is known); work past its deadline is acknowledged and refused.
fn take(
    shared: &Shared,
    session: &str,
    message: &NodeMessage,
    tx: &mpsc::Sender<GovernanceMessage>,
) -> bool {
    let id = message.message_id;
    let expired = message.deadline_unix_ms > 0 && now_unix_ms() > message.deadline_unix_ms;
    let (taken, last, again) = {
        let mut sessions = lock(&shared.sessions);
        let taken = sessions.take(session, id, expired, &describe(message));
        let again = (taken == Taken::Duplicate)
            .then(|| sessions.answer(session, id))
            .flatten();
        (taken, sessions.last(session), again)
    };
    // Cumulative: a receipt lost to a full queue is covered by the next one.
    let receipt = GovernanceMessage {
        payload: Some(Outgoing::Receipt(Receipt { message_id: last })),
        ..GovernanceMessage::default()
    };
    let _ = tx.try_send(receipt);
    match taken {
        Taken::New => true,
        Taken::Duplicate => {
            shared.metrics.skipped.add(SkipReason::Duplicate, 1);
            if let Some(answer) = again {
                let _ = tx.try_send(answer);
            }
            false
        }
        Taken::Expired => {
            shared.metrics.skipped.add(SkipReason::Expired, 1);
            tracing::debug!(message_id = id, "refused work past its deadline");
            false
        }
    }
}

/// What a journal line says of a message: its type, and the request id or version.
fn describe(message: &NodeMessage) -> String {
    match &message.payload {
        Some(Incoming::SignatureRequest(r)) => format!("signature_request:{}", r.request_id),
        Some(Incoming::Acknowledgement(a)) => {
            format!("acknowledgement:{}", a.federation_version)
        }
        Some(Incoming::Heartbeat(_)) => "heartbeat".into(),
        None => "unknown".into(),
    }
}

/// Signs in a task of its own: a slow signature must not hold up the rest of the stream.
fn signature_request(
    shared: &Arc<Shared>,
    request: SignatureRequest,
    parent: opentelemetry::Context,
    tx: &mpsc::Sender<GovernanceMessage>,
    origin: Option<(String, u64)>,
) {
    shared.record_seen(&request.request_id);
    let span = tracing::info_span!(
        parent: None,
        "governance_node.signature_request",
        otel.name = "governance_node.signature_request",
        message_type = GovernanceMessageType::SignatureRequest.as_str(),
        request_id = %request.request_id,
        outcome = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    let answer = sign_and_answer(shared.clone(), request, tx.clone(), origin, span.clone());
    tokio::spawn(answer.instrument(span));
}

/// Answers a heartbeat at once, in its span's context.
fn heartbeat(parent: opentelemetry::Context, tx: &mpsc::Sender<GovernanceMessage>) {
    let span = tracing::info_span!(
        parent: None,
        "governance_node.heartbeat",
        otel.name = "governance_node.heartbeat",
        message_type = GovernanceMessageType::Heartbeat.as_str(),
    );
    let _ = span.set_parent(parent);
    let _entered = span.enter();
    let answer = GovernanceMessage {
        trace_context: propagation::inject(&span.context()),
        payload: Some(Outgoing::Heartbeat(Heartbeat {
            sent_at_unix_ms: now_unix_ms(),
        })),
    };
    // A node that does not read its stream misses a heartbeat, not the whole reader.
    if tx.try_send(answer).is_err() {
        tracing::debug!("heartbeat answer skipped: the node is not reading");
    }
}

/// Simulates signing inside the request's span and answers with that span's context. A
/// tracked request's answer is kept for its session and sent on the session's stream of the
/// moment: if the node reconnected meanwhile, the answer follows it.
async fn sign_and_answer(
    shared: Arc<Shared>,
    request: SignatureRequest,
    tx: mpsc::Sender<GovernanceMessage>,
    origin: Option<(String, u64)>,
    span: tracing::Span,
) {
    if origin.is_none() {
        tokio::select! {
            _ = tokio::time::sleep(shared.latency) => {}
            // Nobody would read the answer.
            _ = tx.closed() => return,
        }
    } else {
        tokio::time::sleep(shared.latency).await;
    }
    let refused = if request.request_id.is_empty() {
        Some("a signature request needs a request_id")
    } else if shared.error_rate > 0.0 && fastrand::f64() < shared.error_rate {
        Some("the governance node refused to sign")
    } else {
        None
    };
    let (signature, error, outcome) = match refused {
        Some(why) => (Vec::new(), why.to_string(), Outcome::Failure),
        None => (sign(&request.payload), String::new(), Outcome::Success),
    };
    span.record("outcome", outcome.as_str());
    shared.metrics.requests.add(outcome, 1);
    let answer = GovernanceMessage {
        trace_context: propagation::inject(&span.context()),
        payload: Some(Outgoing::SignatureResponse(SignatureResponse {
            request_id: request.request_id,
            signature,
            error,
        })),
    };
    let to = match origin {
        Some((session, id)) => lock(&shared.sessions)
            .answered(&session, id, answer.clone())
            .unwrap_or(tx),
        None => tx,
    };
    if to.send(answer).await.is_err() {
        tracing::debug!("the stream closed before the signature answer");
    }
}

/// A stand-in signature: 32 bytes, a pure function of the payload (FNV-1a, four lanes).
fn sign(payload: &[u8]) -> Vec<u8> {
    (0u64..4)
        .flat_map(|lane| {
            let seed = 0xcbf2_9ce4_8422_2325u64 ^ lane.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            payload
                .iter()
                .fold(seed, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                })
                .to_be_bytes()
        })
        .collect()
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The governance node's side of a stream: queued messages until the node goes away, or one
/// `Unavailable` error, ahead of anything still queued, when the governance node drops it.
pub struct Outbound {
    rx: mpsc::Receiver<GovernanceMessage>,
    dropped: Option<oneshot::Receiver<()>>,
    ended: bool,
}

impl Stream for Outbound {
    type Item = Result<GovernanceMessage, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(dropped) = self.dropped.as_mut() {
            match Pin::new(dropped).poll(cx) {
                Poll::Ready(Ok(())) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(Status::unavailable(DROPPED_MESSAGE))));
                }
                // The reader ended without a drop: deliver what is queued, then end.
                Poll::Ready(Err(_)) => self.dropped = None,
                Poll::Pending => {}
            }
        }
        self.rx.poll_recv(cx).map(|next| next.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt as _;

    #[test]
    fn signatures_are_deterministic_and_depend_on_the_payload() {
        assert_eq!(sign(b"tx-1"), sign(b"tx-1"));
        assert_ne!(sign(b"tx-1"), sign(b"tx-2"));
        assert_eq!(sign(b"").len(), 32);
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = alys_telemetry::sources::governance::Token::new("s3cret");
        let mut metadata = MetadataMap::new();
        assert!(authenticate(None, &metadata).is_ok());
        let refused = authenticate(Some(&token), &metadata).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        metadata.insert("authorization", "Bearer wrong".parse().unwrap());
        assert!(authenticate(Some(&token), &metadata).is_err());
        metadata.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(authenticate(Some(&token), &metadata).is_ok());
    }

    #[tokio::test]
    async fn a_drop_ends_the_outbound_side_with_unavailable_ahead_of_queued_messages() {
        let (tx, rx) = mpsc::channel(4);
        let (stop, stopped) = oneshot::channel();
        let mut outbound = Outbound {
            rx,
            dropped: Some(stopped),
            ended: false,
        };
        tx.send(GovernanceMessage::default()).await.unwrap();
        assert!(matches!(outbound.next().await, Some(Ok(_))));
        tx.send(GovernanceMessage::default()).await.unwrap();
        stop.send(()).unwrap();
        let status = outbound.next().await.unwrap().unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (tonic::Code::Unavailable, DROPPED_MESSAGE)
        );
        assert!(outbound.next().await.is_none());
    }

    #[tokio::test]
    async fn without_a_drop_the_outbound_side_drains_then_ends() {
        let (tx, rx) = mpsc::channel(4);
        let (stop, stopped) = oneshot::channel::<()>();
        let mut outbound = Outbound {
            rx,
            dropped: Some(stopped),
            ended: false,
        };
        tx.send(GovernanceMessage::default()).await.unwrap();
        drop((stop, tx));
        assert!(matches!(outbound.next().await, Some(Ok(_))));
        assert!(outbound.next().await.is_none());
    }
}
