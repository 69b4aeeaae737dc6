//! What the StreamActor does with each message from the governance node: receipts free the
//! outbox, responses answer their requests, federation updates are taken and acknowledged,
//! and anything unknown or malformed is counted and skipped (with one warning per interval,
//! however many arrive).

use std::time::Instant;

use super::GovernanceError;
use super::actor::Actor;
use crate::propagation;
use crate::proto::governance_message::Payload as Inbound;
use crate::proto::node_message::Payload as Outbound;
use crate::proto::{
    Acknowledgement, FederationUpdate, GovernanceMessage, NodeMessage, Receipt, SignatureResponse,
};
use alys_telemetry_catalog::governance::{GovernanceMessageType, InvalidMessageReason};

pub(super) fn inbound_type(m: &GovernanceMessage) -> GovernanceMessageType {
    match &m.payload {
        Some(Inbound::SignatureResponse(_)) => GovernanceMessageType::SignatureResponse,
        Some(Inbound::FederationUpdate(_)) => GovernanceMessageType::FederationUpdate,
        Some(Inbound::Heartbeat(_)) => GovernanceMessageType::Heartbeat,
        Some(Inbound::Receipt(_)) => GovernanceMessageType::Receipt,
        None => GovernanceMessageType::Unknown,
    }
}

impl Actor {
    /// Handles one received message in the sender's trace: in a span when the sender's
    /// trace is sampled, in its context without a span when it is not (W3C flags 00), in a
    /// new trace decided first when the message carries none. Anything received proves the
    /// governance node alive.
    pub(super) fn inbound(&mut self, message: GovernanceMessage) {
        self.last_heard = Instant::now();
        let kind = inbound_type(&message);
        self.m.received.add(kind, 1);
        let Some(payload) = message.payload else {
            self.invalid(InvalidMessageReason::UnknownType);
            return;
        };
        // Receipts and heartbeats are the stream's own bookkeeping: no span each.
        let payload = match payload {
            Inbound::Receipt(receipt) => return self.receipt(receipt),
            Inbound::Heartbeat(_) => return,
            other => other,
        };
        let scope = propagation::handling_scope(&message.trace_context, || {
            tracing::info_span!(
                parent: None,
                "stream.handle",
                otel.name = format!("stream.handle_{}", kind.as_str()),
                message_type = kind.as_str(),
            )
        });
        scope.in_scope(|| match payload {
            Inbound::SignatureResponse(response) => self.signature_response(response),
            Inbound::FederationUpdate(update) => self.federation_update(update),
            Inbound::Receipt(_) | Inbound::Heartbeat(_) => {}
        });
    }

    /// Counts a skipped message; warns once per interval with the number since.
    fn invalid(&mut self, reason: InvalidMessageReason) {
        self.m.invalid.add(reason, 1);
        let (throttle, what) = match reason {
            InvalidMessageReason::UnknownType => (&self.warnings.unknown, "of an unknown type"),
            InvalidMessageReason::Malformed => (
                &self.warnings.malformed,
                "missing what it needs (an id, a version or members)",
            ),
            // A late answer is expected after a timeout: counted, not worth a warning.
            InvalidMessageReason::Uncorrelated => return,
        };
        if let Some(occurrences) = throttle.occurred() {
            tracing::warn!(
                reason = reason.as_str(),
                occurrences,
                "skipped governance messages {what}"
            );
        }
    }

    /// The governance node has everything up to `message_id`: those leave the outbox;
    /// requests among them wait for their answer with the request kept for a reconnect.
    fn receipt(&mut self, receipt: Receipt) {
        for entry in self.outbox.acknowledge(receipt.message_id) {
            if let Some(p) = self.pending.values_mut().find(|p| p.message_id == entry.id) {
                p.acknowledged = Some(entry.item);
            }
        }
        self.note_buffer();
    }

    /// Correlates a response with its pending request and answers the requester.
    fn signature_response(&mut self, response: SignatureResponse) {
        if response.request_id.is_empty() {
            return self.invalid(InvalidMessageReason::Malformed);
        }
        let Some(p) = self.pending.remove(&response.request_id) else {
            self.invalid(InvalidMessageReason::Uncorrelated);
            tracing::debug!(
                request_id = response.request_id,
                "response to no pending request"
            );
            return;
        };
        // An answer is a receipt for its request too.
        if self.outbox.remove(p.message_id).is_some() {
            self.note_buffer();
        }
        self.m.correlation.record(p.asked.elapsed().as_secs_f64());
        self.m.pending.set(self.pending.len() as f64);
        let answer = if response.error.is_empty() {
            Ok(response)
        } else {
            Err(GovernanceError::Refused(response.error))
        };
        let _ = p.reply.send(answer);
    }

    /// Takes a new federation membership and acknowledges it (a tracked message).
    fn federation_update(&mut self, update: FederationUpdate) {
        if update.version == 0 || update.members.is_empty() {
            return self.invalid(InvalidMessageReason::Malformed);
        }
        let started = Instant::now();
        let version = update.version;
        tracing::info!(
            version,
            members = update.members.len(),
            "federation updated"
        );
        self.shared.federation.send_replace(Some(update));
        self.m
            .federation_update
            .record(started.elapsed().as_secs_f64());
        let ack = NodeMessage {
            trace_context: propagation::inject_current(),
            payload: Some(Outbound::Acknowledgement(Acknowledgement {
                federation_version: version,
            })),
            ..NodeMessage::default()
        };
        self.keep(ack, None);
    }
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
