//! Property tests of what the StreamActor does with the governance node's messages: any bytes
//! the stream's codec would accept, and any well-formed message in any order, are handled
//! without a panic, and leave the outbox and the pending requests consistent with what the
//! messages said.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use prost::Message;
use tokio::sync::{mpsc, oneshot, watch};

use super::super::actor::{Actor, Pending};
use super::super::{Command, GovernanceError, Shared, StreamConfig};
use crate::proto::governance_message::Payload as Inbound;
use crate::proto::node_message::Payload as Outbound;
use crate::proto::{
    FederationUpdate, GovernanceMessage, Heartbeat, NodeMessage, Receipt, SignatureRequest,
    SignatureResponse,
};

/// Requests waiting when the messages arrive: `req-0` … `req-{REQUESTS - 1}`.
const REQUESTS: usize = 6;
const CAPACITY: usize = 8;

type Answer = oneshot::Receiver<Result<SignatureResponse, GovernanceError>>;

/// An actor that never connects, holding `REQUESTS` requests in its outbox, each waiting for
/// its answer. The command and stop senders are returned so that the actor's channels stay
/// open.
fn actor_with_requests() -> (
    Actor,
    Vec<Answer>,
    mpsc::Sender<Command>,
    watch::Sender<bool>,
) {
    let (commands, command_rx) = mpsc::channel(1);
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared::new("properties".into()));
    let mut config = StreamConfig::new("http://127.0.0.1:1");
    config.buffer_capacity = CAPACITY;
    let meter = opentelemetry::global::meter("inbound-properties");
    let mut actor = Actor::new(config, &meter, shared, command_rx, stop_rx);
    let mut answers = Vec::new();
    for n in 0..REQUESTS {
        let id = format!("req-{n}");
        let deadline = Instant::now() + Duration::from_secs(600);
        let request = NodeMessage {
            payload: Some(Outbound::SignatureRequest(SignatureRequest {
                request_id: id.clone(),
                payload: vec![n as u8],
            })),
            ..NodeMessage::default()
        };
        let message_id = actor.keep(request, Some(deadline));
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            reply,
            asked: Instant::now(),
            deadline,
            message_id,
            acknowledged: None,
        };
        actor.pending.insert(id, pending);
        answers.push(answer);
    }
    (actor, answers, commands, stop)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "req-[0-9]{1,2}", any::<String>()]
}

fn trace_context() -> impl Strategy<Value = HashMap<String, String>> {
    let key = prop_oneof![Just("traceparent".to_string()), any::<String>()];
    let value = prop_oneof![
        "00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]",
        "[0-9a-f-]{0,60}",
        any::<String>(),
    ];
    proptest::collection::hash_map(key, value, 0..3)
}

fn payload() -> impl Strategy<Value = Option<Inbound>> {
    let response = (text(), proptest::collection::vec(any::<u8>(), 0..8), text()).prop_map(
        |(request_id, signature, error)| {
            Inbound::SignatureResponse(SignatureResponse {
                request_id,
                signature,
                error,
            })
        },
    );
    let update = (
        prop_oneof![Just(0u64), any::<u64>()],
        proptest::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(|(version, members)| {
            Inbound::FederationUpdate(FederationUpdate { version, members })
        });
    let heartbeat =
        any::<i64>().prop_map(|sent_at_unix_ms| Inbound::Heartbeat(Heartbeat { sent_at_unix_ms }));
    let receipt = prop_oneof![0..(REQUESTS as u64 + 4), any::<u64>()]
        .prop_map(|message_id| Inbound::Receipt(Receipt { message_id }));
    proptest::option::weighted(0.9, prop_oneof![response, update, heartbeat, receipt])
}

fn message() -> impl Strategy<Value = GovernanceMessage> {
    (trace_context(), payload()).prop_map(|(trace_context, payload)| GovernanceMessage {
        trace_context,
        payload,
    })
}

/// What the messages should have done, computed from them alone.
#[derive(Default)]
struct Expected {
    /// The first correlated response of each request.
    answers: HashMap<String, SignatureResponse>,
    /// The highest receipt.
    receipt: u64,
    /// The last federation update with a version and members.
    federation: Option<FederationUpdate>,
    acknowledgements: usize,
}

impl Expected {
    fn of(messages: &[GovernanceMessage]) -> Self {
        let mut e = Expected::default();
        for m in messages {
            match &m.payload {
                Some(Inbound::SignatureResponse(r)) => {
                    let ours = (0..REQUESTS).any(|n| r.request_id == format!("req-{n}"));
                    if ours && !e.answers.contains_key(&r.request_id) {
                        e.answers.insert(r.request_id.clone(), r.clone());
                    }
                }
                Some(Inbound::Receipt(r)) => e.receipt = e.receipt.max(r.message_id),
                Some(Inbound::FederationUpdate(u)) if u.version != 0 && !u.members.is_empty() => {
                    e.federation = Some(u.clone());
                    e.acknowledgements += 1;
                }
                _ => {}
            }
        }
        e
    }
}

/// Handles `messages` and checks the actor against [`Expected`].
fn handle_and_check(messages: Vec<GovernanceMessage>) -> Result<(), TestCaseError> {
    let expected = Expected::of(&messages);
    let (mut actor, answers, _commands, _stop) = actor_with_requests();
    for m in messages {
        actor.inbound(m);
    }

    for (n, mut answer) in answers.into_iter().enumerate() {
        let id = format!("req-{n}");
        match (answer.try_recv(), expected.answers.get(&id)) {
            (Ok(got), Some(r)) => {
                let want = if r.error.is_empty() {
                    Ok(r.clone())
                } else {
                    Err(GovernanceError::Refused(r.error.clone()))
                };
                prop_assert_eq!(got, want);
                prop_assert!(!actor.pending.contains_key(&id));
            }
            (Err(oneshot::error::TryRecvError::Empty), None) => {
                prop_assert!(actor.pending.contains_key(&id), "{id} forgotten");
            }
            (got, want) => prop_assert!(false, "{id}: got {got:?}, expected {want:?}"),
        }
    }

    let left: Vec<_> = actor.outbox.drain();
    prop_assert!(left.len() <= CAPACITY);
    prop_assert!(left.windows(2).all(|w| w[0].id < w[1].id), "out of order");
    for entry in &left {
        match &entry.item.payload {
            // A request stays until its receipt or its answer.
            Some(Outbound::SignatureRequest(r)) => {
                prop_assert!(entry.id > expected.receipt);
                prop_assert!(!expected.answers.contains_key(&r.request_id));
            }
            Some(Outbound::Acknowledgement(_)) => {}
            other => prop_assert!(false, "unexpected in the outbox: {other:?}"),
        }
    }
    // Nothing the governance node has not acknowledged or answered is gone, unless the
    // acknowledgements of federation updates pushed it out of the full outbox.
    let unanswered_unreceipted = (0..REQUESTS)
        .filter(|n| (*n as u64 + 1) > expected.receipt)
        .filter(|n| !expected.answers.contains_key(&format!("req-{n}")))
        .count();
    let requests_left = left
        .iter()
        .filter(|e| matches!(e.item.payload, Some(Outbound::SignatureRequest(_))))
        .count();
    if expected.acknowledgements + REQUESTS <= CAPACITY {
        prop_assert_eq!(requests_left, unanswered_unreceipted);
    }

    let federation = actor.shared.federation.borrow().clone();
    prop_assert_eq!(federation, expected.federation);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever bytes arrive, what decodes is handled.
    #[test]
    fn any_bytes_that_decode_are_handled(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8)
    ) {
        let messages = frames
            .iter()
            .filter_map(|bytes| GovernanceMessage::decode(bytes.as_slice()).ok())
            .collect();
        handle_and_check(messages)?;
    }

    /// Valid encodings with bytes changed: close to what the codec accepts, so most decode
    /// into messages with damaged fields.
    #[test]
    fn damaged_encodings_are_handled(
        m in message(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = m.encode_to_vec();
        if !bytes.is_empty() {
            for (at, value) in damage {
                let at = at.index(bytes.len());
                bytes[at] = value;
            }
        }
        let messages = GovernanceMessage::decode(bytes.as_slice()).ok().into_iter().collect();
        handle_and_check(messages)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Any sequence of messages: responses to requests that exist or not (again, empty,
    /// refused), receipts of any id, updates without a version or members, heartbeats,
    /// messages without a payload, and any trace context.
    #[test]
    fn any_messages_in_any_order_are_handled_as_they_say(
        messages in proptest::collection::vec(message(), 0..24)
    ) {
        handle_and_check(messages)?;
    }
}
