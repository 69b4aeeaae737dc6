//! The StreamActor's loop: one task owns the connection, the outbox and the pending requests,
//! so none of them needs a lock. Nothing in the loop waits on the governance node: a
//! connection attempt, the next received message and room on the stream are all branches of
//! one `select!`, so a stop, a command or an expiry is never held up by a peer.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::metrics::Meter;
use tokio::sync::{mpsc, watch};

use super::connection::{self, Link, next_inbound, room};
use super::outbox::Outbox;
use super::{Command, GovernanceError, Reply, Shared, StreamConfig};
use crate::proto::node_message::Payload as Outbound;
use crate::proto::{Heartbeat, NodeMessage};
use alys_telemetry_catalog::governance::{
    GiveUpReason, GovernanceMessageType, GovernanceMetrics, GrpcCode,
};
use alys_telemetry_core::throttle::Throttle;
use alys_telemetry_http::rpc::RpcClientLayer;
use fastrand::Rng;

/// How often deadlines and the connection's liveness are checked.
const SWEEP: Duration = Duration::from_millis(50);
/// At most one line per interval for each repeated warning.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// A request waiting for its response.
pub(super) struct Pending {
    pub reply: Reply,
    pub asked: Instant,
    pub deadline: Instant,
    pub message_id: u64,
    /// The request, once the governance node acknowledged it: written again after a
    /// reconnect (the governance node answers a duplicate again), so that an answer lost
    /// with its connection is asked for once more.
    pub acknowledged: Option<NodeMessage>,
}

type Attempt = Pin<Box<dyn Future<Output = Result<Link, GrpcCode>> + Send>>;

pub(super) struct Actor {
    pub(super) config: Arc<StreamConfig>,
    pub(super) m: GovernanceMetrics,
    /// Every stream the actor opens goes through it (`rpc.client.call.duration`).
    rpc: RpcClientLayer,
    pub(super) shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    stop: watch::Receiver<bool>,
    pub(super) outbox: Outbox<NodeMessage>,
    pub(super) pending: HashMap<String, Pending>,
    /// Acknowledged requests still waiting for their answer, to write again on a new link.
    pub(super) rewrite: Vec<NodeMessage>,
    link: Option<Link>,
    pub(super) last_heard: Instant,
    failures: u32,
    attempts: u64,
    rng: Rng,
    pub(super) warnings: Warnings,
}

/// The rate limits of the actor's repeated warnings.
pub(super) struct Warnings {
    pub unknown: Throttle,
    pub malformed: Throttle,
    pub lost: Throttle,
}

pub(super) fn outbound_type(m: &NodeMessage) -> GovernanceMessageType {
    match &m.payload {
        Some(Outbound::SignatureRequest(_)) => GovernanceMessageType::SignatureRequest,
        Some(Outbound::Heartbeat(_)) => GovernanceMessageType::Heartbeat,
        Some(Outbound::Acknowledgement(_)) => GovernanceMessageType::Acknowledgement,
        None => GovernanceMessageType::Unknown,
    }
}

pub(super) fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Polls the connection attempt in progress; never resolves without one.
async fn attempt_done(attempt: &mut Option<Attempt>) -> Result<Link, GrpcCode> {
    match attempt {
        Some(a) => a.await,
        None => std::future::pending().await,
    }
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
            rpc: connection::rpc_layer(&config, meter),
            outbox: Outbox::new(config.buffer_capacity),
            config: Arc::new(config),
            m,
            shared,
            commands,
            stop,
            pending: HashMap::new(),
            rewrite: Vec::new(),
            link: None,
            last_heard: Instant::now(),
            failures: 0,
            attempts: 0,
            rng: Rng::new(),
            warnings: Warnings {
                unknown: Throttle::new(WARN_INTERVAL),
                malformed: Throttle::new(WARN_INTERVAL),
                lost: Throttle::new(WARN_INTERVAL),
            },
        }
    }

    pub(super) async fn run(mut self) {
        let mut attempt: Option<Attempt> = None;
        let mut next_attempt = tokio::time::Instant::now();
        let mut sweep = tokio::time::interval(SWEEP);
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_interval);
        loop {
            let idle = self.link.is_none() && attempt.is_none();
            if idle && tokio::time::Instant::now() >= next_attempt {
                attempt = Some(self.start_attempt());
            }
            let idle = self.link.is_none() && attempt.is_none();
            let connected = self.link.is_some();
            let writer = self
                .has_outgoing()
                .then(|| self.link.as_ref().map(|l| l.outbound.clone()))
                .flatten();
            let can_write = writer.is_some();
            tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                opened = attempt_done(&mut attempt) => {
                    attempt = None;
                    match opened {
                        Ok(link) => self.connected(link),
                        Err(code) => next_attempt = self.failed(code),
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                message = next_inbound(&mut self.link) => match message {
                    Ok(Some(message)) => self.inbound(message),
                    Ok(None) => next_attempt = self.disconnected(GrpcCode::Unavailable),
                    Err(status) => {
                        next_attempt = self.disconnected(GrpcCode::from_number(status.code() as i32));
                    }
                },
                permit = room(writer), if can_write => {
                    match permit {
                        Ok(permit) => self.write_next(permit),
                        Err(_) => next_attempt = self.disconnected(GrpcCode::Unavailable),
                    }
                }
                _ = tokio::time::sleep_until(next_attempt), if idle => {}
                _ = sweep.tick() => {
                    self.expire();
                    if let Some(at) = self.check_liveness() {
                        next_attempt = at;
                    }
                }
                _ = heartbeat.tick(), if connected => {
                    if let Some(at) = self.heartbeat() {
                        next_attempt = at;
                    }
                }
            }
        }
        self.stopped();
    }

    fn start_attempt(&mut self) -> Attempt {
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
        Box::pin(connection::open(
            self.config.clone(),
            self.shared.session.clone(),
            self.rpc.clone(),
        ))
    }

    /// A new link: everything unacknowledged is written on it again, in order.
    fn connected(&mut self, link: Link) {
        tracing::info!(
            endpoint = %alys_telemetry_config::redact_userinfo(&self.config.endpoint),
            "governance stream connected"
        );
        self.m.connection_status.set(1.0);
        self.m
            .connected_since
            .set(unix_ms(SystemTime::now()) as f64 / 1000.0);
        self.shared.connected.store(true, Ordering::Relaxed);
        self.last_heard = Instant::now();
        let mut acknowledged: Vec<(u64, NodeMessage)> = self
            .pending
            .values()
            .filter_map(|p| p.acknowledged.clone().map(|m| (p.message_id, m)))
            .collect();
        // Newest last: `write_next` pops from the end.
        acknowledged.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        self.rewrite = acknowledged.into_iter().map(|(_, m)| m).collect();
        self.outbox.unwrite_all();
        self.link = Some(link);
    }

    /// A failed attempt: counted, and the next one scheduled.
    fn failed(&mut self, code: GrpcCode) -> tokio::time::Instant {
        self.failures += 1;
        self.m.stream_errors.add(code, 1);
        tracing::debug!(
            ?code,
            failures = self.failures,
            "governance stream connection failed"
        );
        let delay = self
            .config
            .reconnect
            .delay(self.failures - 1, self.rng.f64());
        tokio::time::Instant::now() + delay
    }

    /// Notes a lost link and returns when to try again.
    pub(super) fn disconnected(&mut self, code: GrpcCode) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let Some(lost) = self.link.take() else {
            return now;
        };
        self.m.stream_errors.add(code, 1);
        self.m.connection_status.set(0.0);
        self.m.connected_since.set(0.0);
        self.shared.connected.store(false, Ordering::Relaxed);
        self.outbox.unwrite_all();
        self.rewrite.clear();
        // A connection that held for a while was healthy: start the backoff afresh. One
        // that broke soon after it was made counts as a failure, so a server that accepts
        // and drops at once is not hammered.
        if lost.since.elapsed() >= self.config.reconnect.reset_after {
            self.failures = 0;
        }
        let delay = self.config.reconnect.delay(self.failures, self.rng.f64());
        self.failures += 1;
        if let Some(times) = self.warnings.lost.occurred() {
            tracing::warn!(
                ?code,
                delay_ms = delay.as_millis() as u64,
                times,
                "governance stream lost; reconnecting"
            );
        }
        now + delay
    }

    /// A governance node that answers nothing, not even heartbeats, for the liveness
    /// timeout is gone (or frozen): give the link up and reconnect.
    fn check_liveness(&mut self) -> Option<tokio::time::Instant> {
        self.link.as_ref()?;
        let silent = self.last_heard.elapsed();
        if silent < self.config.liveness_timeout {
            return None;
        }
        tracing::warn!(
            silent_ms = silent.as_millis() as u64,
            "the governance node stopped answering; giving the connection up"
        );
        Some(self.disconnected(GrpcCode::DeadlineExceeded))
    }

    /// Sends a heartbeat if there is room (a full stream misses one, it does not wait).
    fn heartbeat(&mut self) -> Option<tokio::time::Instant> {
        let link = self.link.as_ref()?;
        let beat = NodeMessage {
            payload: Some(Outbound::Heartbeat(Heartbeat {
                sent_at_unix_ms: unix_ms(SystemTime::now()),
            })),
            ..NodeMessage::default()
        };
        match link.outbound.try_send(beat) {
            Ok(()) => {
                self.m.sent.add(GovernanceMessageType::Heartbeat, 1);
                None
            }
            Err(mpsc::error::TrySendError::Full(_)) => None,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Some(self.disconnected(GrpcCode::Unavailable))
            }
        }
    }

    fn has_outgoing(&self) -> bool {
        !self.rewrite.is_empty() || self.outbox.has_unwritten()
    }

    /// Writes the next message: acknowledged requests still unanswered first (they are older
    /// than anything unacknowledged), then the outbox in order.
    fn write_next(&mut self, permit: mpsc::OwnedPermit<NodeMessage>) {
        let message = match self.rewrite.pop() {
            Some(message) => message,
            None => match self.outbox.write_next() {
                Some(entry) => entry.item.clone(),
                None => return,
            },
        };
        self.m.sent.add(outbound_type(&message), 1);
        permit.send(message);
    }

    /// Takes a command: a request is remembered with its deadline, and either is numbered
    /// and kept until acknowledged.
    fn command(&mut self, command: Command) {
        match command {
            Command::Request {
                id,
                message,
                reply,
                asked,
            } => {
                let deadline = asked + self.config.request_timeout;
                let message_id = self.keep(message, Some(deadline));
                self.pending.insert(
                    id,
                    Pending {
                        reply,
                        asked,
                        deadline,
                        message_id,
                        acknowledged: None,
                    },
                );
                self.m.pending.set(self.pending.len() as f64);
            }
            Command::Send(message) => {
                self.keep(message, None);
            }
        }
    }

    /// Numbers `message`, gives it its deadline and keeps it in the outbox; returns its id.
    pub(super) fn keep(&mut self, mut message: NodeMessage, deadline: Option<Instant>) -> u64 {
        let id = self.outbox.next_id();
        message.message_id = id;
        message.deadline_unix_ms = deadline.map_or(0, |d| {
            let left = d.saturating_duration_since(Instant::now());
            unix_ms(SystemTime::now() + left)
        });
        if self.outbox.push(message, deadline).is_some() {
            self.m.buffer_dropped.add(1);
            self.m.given_up.add(GiveUpReason::BufferFull, 1);
        }
        self.note_buffer();
        id
    }

    pub(super) fn note_buffer(&self) {
        self.m.buffer_size.set(self.outbox.len() as f64);
        self.shared
            .buffered
            .store(self.outbox.len(), Ordering::Relaxed);
    }

    /// Answers every request past its deadline (or whose caller no longer waits), and takes
    /// what it had not delivered out of the outbox, counted.
    fn expire(&mut self) {
        let now = Instant::now();
        let done: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now || p.reply.is_closed())
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            let abandoned = p.reply.is_closed();
            let reason = if abandoned {
                GiveUpReason::Cancelled
            } else {
                self.m.correlation_timeouts.add(1);
                let _ = p
                    .reply
                    .send(Err(GovernanceError::Timeout(self.config.request_timeout)));
                GiveUpReason::Expired
            };
            if self.outbox.remove(p.message_id).is_some() {
                self.m.given_up.add(reason, 1);
            }
        }
        // Tracked messages with a deadline of their own (none today but requests).
        for _ in self.outbox.expire(now) {
            self.m.given_up.add(GiveUpReason::Expired, 1);
        }
        self.m.pending.set(self.pending.len() as f64);
        self.note_buffer();
    }

    /// The end: requests in flight are cancelled, whatever is unacknowledged is given up,
    /// both counted; commands still queued are answered the same way.
    fn stopped(&mut self) {
        self.link = None;
        self.m.connection_status.set(0.0);
        self.m.connected_since.set(0.0);
        self.shared.connected.store(false, Ordering::Relaxed);
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            self.m.given_up.add(GiveUpReason::Cancelled, 1);
            if let Command::Request { reply, .. } = command {
                self.m.cancelled.add(1);
                let _ = reply.send(Err(GovernanceError::Cancelled));
            }
        }
        let cancelled = self.pending.len();
        for (_, p) in self.pending.drain() {
            self.m.cancelled.add(1);
            let _ = p.reply.send(Err(GovernanceError::Cancelled));
        }
        let given_up = self.outbox.drain().len();
        self.m
            .given_up
            .add(GiveUpReason::Cancelled, given_up as u64);
        self.m.pending.set(0.0);
        self.note_buffer();
        if cancelled + given_up > 0 {
            tracing::info!(
                cancelled_requests = cancelled,
                unacknowledged_messages = given_up,
                "governance stream stopped; requests in flight cancelled"
            );
        }
    }
}
