//! The actor system: messages, mailboxes, supervision and health. The metered mailbox and the
//! supervisor of `alys-telemetry-actors` record these; mailbox depth,
//! throughput and health are observed when metrics are collected.

use crate::instruments::{CounterVec, Gauge, GaugeVec, HistogramVec, LabelValues};
use crate::{LabelValue, MetricFamily, Observed};

/// The name the Alys actor dashboard and the actor alert rules query.
const DASHBOARD_NAME: &str = "the name the Alys actor dashboard and the actor alert rules query";

/// The actor family's instruments, shared by every mailbox and supervisor of an
/// `ActorSystem` (crate `alys-telemetry-actors`). Generic over the service's own kinds
/// of actor (`A`, the `actor_type` values) and of message (`M`, `message_type`); the node's
/// are [`ActorType`](crate::labels::ActorType) and [`MessageType`](crate::labels::MessageType).
#[derive(MetricFamily)]
#[family(title = "actors", crate = crate)]
pub struct ActorMetrics<A: LabelValues, M: LabelValues> {
    /// Messages handled by actors, by outcome
    #[metric(name = "alys_actor_messages_total", labels(actor_type, message_type, outcome), why = DASHBOARD_NAME)]
    pub messages: CounterVec<(A, M, MessageOutcome)>,
    /// Time an actor spends processing one message
    #[metric(
        name = "alys_actor_message_latency_seconds",
        unit = "s",
        labels(actor_type),
        buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        why = DASHBOARD_NAME
    )]
    pub message_latency: HistogramVec<A>,
    // Also the wait in front of each actor, summed by `to_actor`: a histogram of its own
    // for that would record the same value a second time on every message.
    /// Time from send to the start of handling, between two actors
    #[metric(
        name = "alys_inter_actor_message_latency_seconds",
        unit = "s",
        labels(from_actor, to_actor, message_type),
        buckets = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        limit = 1000,
        why = DASHBOARD_NAME
    )]
    pub inter_actor_latency: HistogramVec<(A, A, M)>,
    /// Sends that met a full mailbox: blocked (waited) or refused
    #[metric(
        name = "alys_actor_mailbox_backpressure_total",
        labels(actor_type, outcome),
        why = "the ActorMailboxBackpressure alert fires on it"
    )]
    pub backpressure: CounterVec<(A, BackpressureOutcome)>,
    /// Actor restarts after failures
    #[metric(name = "alys_actor_restarts_total", labels(actor_type, reason), why = DASHBOARD_NAME)]
    pub restarts: CounterVec<(A, RestartReason)>,
    /// Actor lifecycle state transitions
    #[metric(
        name = "alys_actor_lifecycle_transitions_total",
        labels(actor, from_state, to_state),
        why = DASHBOARD_NAME
    )]
    pub transitions: CounterVec<(A, LifecycleState, LifecycleState)>,
    /// Time to spawn, stop or recover an actor
    #[metric(
        name = "alys_actor_lifecycle_duration_seconds",
        unit = "s",
        labels(actor_type, step),
        buckets = [0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0],
        why = "the actor dashboard shows spawning, stopping and recovery times"
    )]
    pub lifecycle_duration: HistogramVec<(A, LifecycleStep)>,
    /// Restarts performed by supervisors
    #[metric(
        name = "alys_supervision_tree_restarts_total",
        labels(supervisor, child_actor, restart_reason),
        why = DASHBOARD_NAME
    )]
    pub supervision_restarts: CounterVec<(A, A, RestartReason)>,
    /// Health of an actor's dependency (0=unhealthy, 1=healthy)
    #[metric(
        name = "alys_actor_dependency_health_status",
        labels(actor, dependency),
        start = absent("0 means unhealthy: a dependency is unknown until it is reported"),
        why = DASHBOARD_NAME
    )]
    pub dependency_health: GaugeVec<(A, A)>,
    /// Messages waiting in actor mailboxes
    #[metric(name = "alys_actor_mailbox_size", labels(actor_type), why = DASHBOARD_NAME)]
    pub mailbox_size: Observed<GaugeVec<A>>,
    /// Messages handled over the last 60 s, per second (a count over a window, not 1/latency)
    #[metric(name = "alys_actor_message_throughput_per_second", labels(actor_type), why = DASHBOARD_NAME)]
    pub throughput: Observed<GaugeVec<A>>,
    /// Share of messages handled successfully over the last 60 s, 0 to 1 (1 when idle)
    #[metric(
        name = "alys_actor_success_rate",
        labels(actor_type),
        why = "operators see each actor's success and error rate"
    )]
    pub success_rate: Observed<GaugeVec<A>>,
    /// 1 when at least 80 % of actors are healthy and 95 % of messages succeed, else 0
    #[metric(
        name = "alys_actor_system_healthy",
        why = "the ActorSystemUnhealthy alert fires on it"
    )]
    pub system_healthy: Observed<Gauge>,
    /// Actors whose success rate over the window is at least 95 %
    #[metric(
        name = "alys_actor_healthy_count",
        why = "the ActorSystemUnhealthy alert divides it by the total count"
    )]
    pub healthy_count: Observed<Gauge>,
    /// Actors under supervision
    #[metric(
        name = "alys_actor_total_count",
        why = "the ActorSystemUnhealthy alert divides the healthy count by it"
    )]
    pub total_count: Observed<Gauge>,
}

/// How handling a message ended (`outcome` of `alys_actor_messages_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum MessageOutcome {
    Processed,
    Failed,
}

/// What happened to a send into a full mailbox (`outcome` of back-pressure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum BackpressureOutcome {
    /// The sender waited for room.
    Blocked,
    /// The message was refused (try_send on a full mailbox).
    Refused,
}

/// Actor lifecycle states (`from_state`, `to_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum LifecycleState {
    Spawning,
    Running,
    Stopping,
    Stopped,
    Failed,
    Restarting,
    Recovering,
}

/// Why a supervisor restarted an actor (`reason`, `restart_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum RestartReason {
    Panic,
    Error,
    Timeout,
    HealthCheck,
    Dependency,
    Manual,
}

/// Which lifecycle step a duration measures (`step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum LifecycleStep {
    Spawn,
    Stop,
    Recovery,
}
