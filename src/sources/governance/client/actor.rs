//! The StreamActor's loop: one task owns the connection, the buffer and the pending requests,
//! so none of them needs a lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::metrics::Meter;
use tokio::sync::{mpsc, watch};

use super::connection::{self, Connection, next_inbound};
use super::policy::OutboundBuffer;
use super::{Command, GovernanceError, Reply, Shared, StreamConfig};
use crate::sources::catalog::governance::{
    GovernanceMessageType, GovernanceMetrics, GrpcCode, InvalidMessageReason,
};
use crate::sources::governance::propagation;
use crate::sources::governance::proto::governance_message::Payload as Inbound;
use crate::sources::governance::proto::node_message::Payload as Outbound;
use crate::sources::governance::proto::{
    Acknowledgement, FederationUpdate, GovernanceMessage, Heartbeat, NodeMessage, SignatureResponse,
};
use fastrand::Rng;

struct Pending {
    reply: Reply,
    sent: Instant,
}

pub(super) struct Actor {
    config: StreamConfig,
    m: GovernanceMetrics,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    stop: watch::Receiver<bool>,
    buffer: OutboundBuffer<NodeMessage>,
    pending: HashMap<String, Pending>,
    failures: u32,
    attempts: u64,
    rng: Rng,
}

fn outbound_type(m: &NodeMessage) -> GovernanceMessageType {
    match &m.payload {
        Some(Outbound::SignatureRequest(_)) => GovernanceMessageType::SignatureRequest,
        Some(Outbound::Heartbeat(_)) => GovernanceMessageType::Heartbeat,
        Some(Outbound::Acknowledgement(_)) => GovernanceMessageType::Acknowledgement,
        None => GovernanceMessageType::Unknown,
    }
}

fn inbound_type(m: &GovernanceMessage) -> GovernanceMessageType {
    match &m.payload {
        Some(Inbound::SignatureResponse(_)) => GovernanceMessageType::SignatureResponse,
        Some(Inbound::FederationUpdate(_)) => GovernanceMessageType::FederationUpdate,
        Some(Inbound::Heartbeat(_)) => GovernanceMessageType::Heartbeat,
        None => GovernanceMessageType::Unknown,
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Actor {
    pub(super) fn new(
        config: StreamConfig,
        meter: &Meter,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        // Connection status, buffer and pending requests start at 0: the catalogue declares
        // them so, and they are true before the first connection.
        let m = GovernanceMetrics::new(meter);
        Actor {
            buffer: OutboundBuffer::new(config.buffer_capacity),
            config,
            m,
            shared,
            commands,
            stop,
            pending: HashMap::new(),
            failures: 0,
            attempts: 0,
            rng: Rng::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut conn: Option<Connection> = None;
        let mut next_attempt = tokio::time::Instant::now();
        let mut sweep = tokio::time::interval(Duration::from_millis(50));
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_interval);
        loop {
            if conn.is_none() && tokio::time::Instant::now() >= next_attempt {
                conn = self.connect().await;
                if conn.is_none() {
                    let delay = self
                        .config
                        .reconnect
                        .delay(self.failures - 1, self.rng.f64());
                    next_attempt = tokio::time::Instant::now() + delay;
                }
            }
            let connected = conn.is_some();
            tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                command = self.commands.recv() => match command {
                    Some(command) => {
                        if !self.command(command, conn.as_ref()).await {
                            self.disconnected(&mut conn, GrpcCode::Unavailable, &mut next_attempt);
                        }
                    }
                    None => break,
                },
                message = next_inbound(&mut conn) => match message {
                    Ok(Some(message)) => self.inbound(message, conn.as_ref()).await,
                    Ok(None) => self.disconnected(&mut conn, GrpcCode::Unavailable, &mut next_attempt),
                    Err(status) => {
                        let code = GrpcCode::from_code(status.code());
                        self.disconnected(&mut conn, code, &mut next_attempt);
                    }
                },
                _ = tokio::time::sleep_until(next_attempt), if !connected => {}
                _ = sweep.tick(), if !self.pending.is_empty() => self.expire(),
                _ = heartbeat.tick(), if connected => {
                    let beat = NodeMessage {
                        trace_context: Default::default(),
                        payload: Some(Outbound::Heartbeat(Heartbeat {
                            sent_at_unix_ms: unix_now().as_millis() as i64,
                        })),
                    };
                    if !self.deliver(beat, conn.as_ref()).await {
                        self.disconnected(&mut conn, GrpcCode::Unavailable, &mut next_attempt);
                    }
                }
            }
        }
        self.m.connection_status.set(0.0);
        self.shared.connected.store(false, Ordering::Relaxed);
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(GovernanceError::Stopped));
        }
    }

    /// One attempt to connect and open the stream; on success, flushes the buffer in order.
    async fn connect(&mut self) -> Option<Connection> {
        self.attempts += 1;
        if self.attempts > 1 {
            self.m.reconnect_attempts.add(1);
        }
        {
            let mut times = self
                .shared
                .attempts
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if times.len() >= 1000 {
                times.remove(0);
            }
            times.push(Instant::now());
        }
        match connection::open(&self.config).await {
            Ok(conn) => {
                tracing::info!(
                    endpoint = self.config.endpoint.as_str(),
                    "governance stream connected"
                );
                self.m.connection_status.set(1.0);
                self.m.connected_since.set(unix_now().as_secs_f64());
                self.shared.connected.store(true, Ordering::Relaxed);
                while let Some(message) = self.buffer.pop() {
                    if let Err(mpsc::error::SendError(message)) = self.forward(message, &conn).await
                    {
                        self.keep(message, true);
                        self.note_buffer();
                        return None;
                    }
                }
                self.note_buffer();
                Some(conn)
            }
            Err(code) => {
                self.failures += 1;
                self.m.stream_errors.add(code, 1);
                tracing::debug!(
                    ?code,
                    failures = self.failures,
                    "governance stream connection failed"
                );
                None
            }
        }
    }

    /// Notes a lost connection and schedules the next attempt.
    fn disconnected(
        &mut self,
        conn: &mut Option<Connection>,
        code: GrpcCode,
        next_attempt: &mut tokio::time::Instant,
    ) {
        let Some(lost) = conn.take() else { return };
        self.m.stream_errors.add(code, 1);
        self.m.connection_status.set(0.0);
        self.m.connected_since.set(0.0);
        self.shared.connected.store(false, Ordering::Relaxed);
        // A connection that held for a while was healthy: start the backoff afresh. One
        // that broke soon after it was made counts as a failure, so a server that accepts
        // and drops at once is not hammered.
        if lost.since.elapsed() >= self.config.reconnect.reset_after {
            self.failures = 0;
        }
        let delay = self.config.reconnect.delay(self.failures, self.rng.f64());
        self.failures += 1;
        *next_attempt = tokio::time::Instant::now() + delay;
        tracing::warn!(
            ?code,
            delay_ms = delay.as_millis() as u64,
            "governance stream lost; reconnecting"
        );
    }

    /// Handles a command; false when the connection turned out to be gone.
    async fn command(&mut self, command: Command, conn: Option<&Connection>) -> bool {
        let message = match command {
            Command::Request { id, message, reply } => {
                self.pending.insert(
                    id,
                    Pending {
                        reply,
                        sent: Instant::now(),
                    },
                );
                self.m.pending.set(self.pending.len() as f64);
                message
            }
            Command::Send(message) => message,
        };
        self.deliver(message, conn).await
    }

    /// Sends now if connected, else buffers; false when the connection turned out to be gone
    /// (the message is then buffered, not lost).
    async fn deliver(&mut self, message: NodeMessage, conn: Option<&Connection>) -> bool {
        match conn {
            Some(conn) => match self.forward(message, conn).await {
                Ok(()) => true,
                Err(mpsc::error::SendError(message)) => {
                    self.keep(message, false);
                    self.note_buffer();
                    false
                }
            },
            None => {
                self.keep(message, false);
                self.note_buffer();
                true
            }
        }
    }

    async fn forward(
        &self,
        message: NodeMessage,
        conn: &Connection,
    ) -> Result<(), mpsc::error::SendError<NodeMessage>> {
        let kind = outbound_type(&message);
        conn.outbound.send(message).await?;
        self.m.sent.add(kind, 1);
        Ok(())
    }

    fn keep(&mut self, message: NodeMessage, front: bool) {
        let dropped = if front {
            self.buffer.push_front(message)
        } else {
            self.buffer.push(message)
        };
        if dropped.is_some() {
            self.m.buffer_dropped.add(1);
        }
    }

    fn note_buffer(&self) {
        self.m.buffer_size.set(self.buffer.len() as f64);
        self.shared
            .buffered
            .store(self.buffer.len(), Ordering::Relaxed);
    }

    /// Answers every request past its timeout with an error.
    fn expire(&mut self) {
        let limit = self.config.request_timeout;
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent.elapsed() >= limit)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                self.m.correlation_timeouts.add(1);
                let _ = p.reply.send(Err(GovernanceError::Timeout(limit)));
            }
        }
        self.m.pending.set(self.pending.len() as f64);
    }

    /// Handles one received message in the sender's trace: in a span when the sender's
    /// trace is sampled, in its context without a span when it is not (W3C flags 00), in a
    /// new trace decided first when the message carries none.
    async fn inbound(&mut self, message: GovernanceMessage, conn: Option<&Connection>) {
        let kind = inbound_type(&message);
        self.m.received.add(kind, 1);
        let scope = propagation::handling_scope(&message.trace_context, || {
            tracing::info_span!(
                parent: None,
                "stream.handle",
                otel.name = format!("stream.handle_{}", kind.as_str()),
                message_type = kind.as_str(),
            )
        });
        let answer = scope
            .instrument(async {
                match message.payload {
                    None => {
                        self.m.invalid.add(InvalidMessageReason::UnknownType, 1);
                        tracing::warn!("skipped a governance message of an unknown type");
                        None
                    }
                    Some(Inbound::SignatureResponse(response)) => {
                        self.signature_response(response);
                        None
                    }
                    Some(Inbound::FederationUpdate(update)) => self.federation_update(update),
                    Some(Inbound::Heartbeat(_)) => None,
                }
            })
            .await;
        if let Some(ack) = answer {
            self.deliver(ack, conn).await;
        }
    }

    /// Correlates a response with its pending request and answers the requester.
    fn signature_response(&mut self, response: SignatureResponse) {
        if response.request_id.is_empty() {
            self.m.invalid.add(InvalidMessageReason::Malformed, 1);
            tracing::warn!("skipped a signature response without a request id");
            return;
        }
        let Some(p) = self.pending.remove(&response.request_id) else {
            self.m.invalid.add(InvalidMessageReason::Uncorrelated, 1);
            tracing::debug!(
                request_id = response.request_id,
                "response to no pending request"
            );
            return;
        };
        self.m.correlation.record(p.sent.elapsed().as_secs_f64());
        self.m.pending.set(self.pending.len() as f64);
        let answer = if response.error.is_empty() {
            Ok(response)
        } else {
            Err(GovernanceError::Refused(response.error))
        };
        let _ = p.reply.send(answer);
    }

    /// Takes a new federation membership; returns its acknowledgement.
    fn federation_update(&mut self, update: FederationUpdate) -> Option<NodeMessage> {
        if update.version == 0 || update.members.is_empty() {
            self.m.invalid.add(InvalidMessageReason::Malformed, 1);
            tracing::warn!("skipped a federation update without version or members");
            return None;
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
        Some(NodeMessage {
            trace_context: propagation::inject_current(),
            payload: Some(Outbound::Acknowledgement(Acknowledgement {
                federation_version: version,
            })),
        })
    }
}
