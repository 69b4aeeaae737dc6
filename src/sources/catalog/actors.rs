//! The actor system: messages, mailboxes, supervision and health. The metered mailbox and the
//! supervisor of [`sources::actors`](crate::sources::actors) record these; mailbox depth,
//! throughput and health are observed when metrics are collected.

use super::family::metric_family;
use super::labels::{ActorType, MessageType, label_enum};

/// The name the Alys actor dashboard and the actor alert rules query.
const DASHBOARD_NAME: &str = "the name the Alys actor dashboard and the actor alert rules query";

metric_family! {
    /// The actor family's instruments, shared by every mailbox and supervisor of an
    /// [`ActorSystem`](crate::sources::actors::ActorSystem).
    pub struct ActorMetrics, "actors" {
        /// Messages handled by actors, by outcome
        pub messages: counter("alys_actor_messages_total") {
            labels: { actor_type: ActorType, message_type: MessageType, outcome: MessageOutcome },
            why: DASHBOARD_NAME,
        },
        /// Time an actor spends processing one message
        pub message_latency: histogram("alys_actor_message_latency_seconds") {
            unit: "s",
            labels: { actor_type: ActorType },
            buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
            why: DASHBOARD_NAME,
        },
        // Also the wait in front of each actor, summed by `to_actor`: a histogram of its own
        // for that would record the same value a second time on every message.
        /// Time from send to the start of handling, between two actors
        pub inter_actor_latency: histogram("alys_inter_actor_message_latency_seconds") {
            unit: "s",
            labels: { from_actor: ActorType, to_actor: ActorType, message_type: MessageType },
            buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
            limit: 1000,
            why: DASHBOARD_NAME,
        },
        /// Sends that met a full mailbox: blocked (waited) or refused
        pub backpressure: counter("alys_actor_mailbox_backpressure_total") {
            labels: { actor_type: ActorType, outcome: BackpressureOutcome },
            why: "the ActorMailboxBackpressure alert fires on it",
        },
        /// Actor restarts after failures
        pub restarts: counter("alys_actor_restarts_total") {
            labels: { actor_type: ActorType, reason: RestartReason },
            why: DASHBOARD_NAME,
        },
        /// Actor lifecycle state transitions
        pub transitions: counter("alys_actor_lifecycle_transitions_total") {
            labels: { actor: ActorType, from_state: LifecycleState, to_state: LifecycleState },
            why: DASHBOARD_NAME,
        },
        /// Time to spawn, stop or recover an actor
        pub lifecycle_duration: histogram("alys_actor_lifecycle_duration_seconds") {
            unit: "s",
            labels: { actor_type: ActorType, step: LifecycleStep },
            buckets: [0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0],
            why: "the actor dashboard shows spawning, stopping and recovery times",
        },
        /// Restarts performed by supervisors
        pub supervision_restarts: counter("alys_supervision_tree_restarts_total") {
            labels: { supervisor: ActorType, child_actor: ActorType, restart_reason: RestartReason },
            why: DASHBOARD_NAME,
        },
        /// Health of an actor's dependency (0=unhealthy, 1=healthy)
        pub dependency_health: gauge("alys_actor_dependency_health_status") {
            labels: { actor: ActorType, dependency: ActorType },
            start: absent("0 means unhealthy: a dependency is unknown until it is reported"),
            why: DASHBOARD_NAME,
        },
    }
    observed {
        /// Messages waiting in actor mailboxes
        mailbox_size: gauge("alys_actor_mailbox_size") {
            labels: { actor_type: ActorType },
            why: DASHBOARD_NAME,
        },
        /// Messages handled over the last 60 s, per second (a count over a window, not 1/latency)
        throughput: gauge("alys_actor_message_throughput_per_second") {
            labels: { actor_type: ActorType },
            why: DASHBOARD_NAME,
        },
        /// Share of messages handled successfully over the last 60 s, 0 to 1 (1 when idle)
        success_rate: gauge("alys_actor_success_rate") {
            labels: { actor_type: ActorType },
            why: "operators see each actor's success and error rate",
        },
        /// 1 when at least 80 % of actors are healthy and 95 % of messages succeed, else 0
        system_healthy: gauge("alys_actor_system_healthy") {
            why: "the ActorSystemUnhealthy alert fires on it",
        },
        /// Actors whose success rate over the window is at least 95 %
        healthy_count: gauge("alys_actor_healthy_count") {
            why: "the ActorSystemUnhealthy alert divides it by the total count",
        },
        /// Actors under supervision
        total_count: gauge("alys_actor_total_count") {
            why: "the ActorSystemUnhealthy alert divides the healthy count by it",
        },
    }
}

label_enum! {
    /// How handling a message ended (`outcome` of `alys_actor_messages_total`).
    pub enum MessageOutcome {
        Processed => "processed",
        Failed => "failed",
    }
}

label_enum! {
    /// What happened to a send into a full mailbox (`outcome` of back-pressure).
    pub enum BackpressureOutcome {
        /// The sender waited for room.
        Blocked => "blocked",
        /// The message was refused (try_send on a full mailbox).
        Refused => "refused",
    }
}

label_enum! {
    /// Actor lifecycle states (`from_state`, `to_state`).
    pub enum LifecycleState {
        Spawning => "spawning",
        Running => "running",
        Stopping => "stopping",
        Stopped => "stopped",
        Failed => "failed",
        Restarting => "restarting",
        Recovering => "recovering",
    }
}

label_enum! {
    /// Why a supervisor restarted an actor (`reason`, `restart_reason`).
    pub enum RestartReason {
        Panic => "panic",
        Error => "error",
        Timeout => "timeout",
        HealthCheck => "health_check",
        Dependency => "dependency",
        Manual => "manual",
    }
}

label_enum! {
    /// Which lifecycle step a duration measures (`step`).
    pub enum LifecycleStep {
        Spawn => "spawn",
        Stop => "stop",
        Recovery => "recovery",
    }
}
