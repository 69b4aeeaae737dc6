//! The actor system: messages, mailboxes, supervision and health (seed 000 plan B, seed 001
//! phase 2). The metered mailbox and the supervisor record these.

use super::MetricDef;

const SEED0: &str = "seed 000 (actor communication metrics)";
const SEED1: &str = "seed 001 phase 2 (actor metrics)";

/// Queueing and hand-over times: from a tenth of a millisecond up.
const WAIT_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

pub const MESSAGES: MetricDef = MetricDef::counter(
    "alys_actor_messages_total",
    "",
    "Messages handled by actors, by outcome",
    &["actor_type", "message_type", "outcome"],
)
.from(SEED1);
pub const MESSAGE_LATENCY: MetricDef = MetricDef::histogram(
    "alys_actor_message_latency_seconds",
    "s",
    "Time an actor spends processing one message",
    &["actor_type"],
    &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
)
.from(SEED1);
pub const MAILBOX_WAIT: MetricDef = MetricDef::histogram(
    "alys_actor_mailbox_wait_seconds",
    "s",
    "Time a message waits in a mailbox before handling starts",
    &["actor_type"],
    WAIT_BUCKETS,
)
.from("seed 001 phase 2 (wait time analysis)");
pub const INTER_ACTOR_LATENCY: MetricDef = MetricDef::histogram(
    "alys_inter_actor_message_latency_seconds",
    "s",
    "Time from send to the start of handling, between two actors",
    &["from_actor", "to_actor", "message_type"],
    WAIT_BUCKETS,
)
.from(SEED0)
.limit(1000);
pub const MAILBOX_SIZE: MetricDef = MetricDef::gauge(
    "alys_actor_mailbox_size",
    "",
    "Messages waiting in actor mailboxes",
    &["actor_type"],
)
.from(SEED1);
pub const MAILBOX_BACKPRESSURE: MetricDef = MetricDef::counter(
    "alys_actor_mailbox_backpressure_total",
    "",
    "Sends that met a full mailbox: blocked (waited) or refused",
    &["actor_type", "outcome"],
)
.from("seed 001 phase 2 (backpressure detection)");
pub const RESTARTS: MetricDef = MetricDef::counter(
    "alys_actor_restarts_total",
    "",
    "Actor restarts after failures",
    &["actor_type", "reason"],
)
.from(SEED1);
pub const LIFECYCLE_TRANSITIONS: MetricDef = MetricDef::counter(
    "alys_actor_lifecycle_transitions_total",
    "",
    "Actor lifecycle state transitions",
    &["actor", "from_state", "to_state"],
)
.from(SEED0);
pub const LIFECYCLE_DURATION: MetricDef = MetricDef::histogram(
    "alys_actor_lifecycle_duration_seconds",
    "s",
    "Time to spawn, stop or recover an actor",
    &["actor_type", "step"],
    &[0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0],
)
.from("seed 000 (spawning, stopping and recovery timings)");
pub const SUPERVISION_RESTARTS: MetricDef = MetricDef::counter(
    "alys_supervision_tree_restarts_total",
    "",
    "Restarts performed by supervisors",
    &["supervisor", "child_actor", "restart_reason"],
)
.from(SEED0);
pub const DEPENDENCY_HEALTH: MetricDef = MetricDef::gauge(
    "alys_actor_dependency_health_status",
    "",
    "Health of an actor's dependency (0=unhealthy, 1=healthy)",
    &["actor", "dependency"],
)
.from(SEED0);
pub const THROUGHPUT: MetricDef = MetricDef::gauge(
    "alys_actor_message_throughput_per_second",
    "",
    "Messages handled over the last 60 s, per second (a count over a window, not 1/latency)",
    &["actor_type"],
)
.from(SEED1);
pub const SUCCESS_RATE: MetricDef = MetricDef::gauge(
    "alys_actor_success_rate",
    "",
    "Share of messages handled successfully over the last 60 s, 0 to 1 (1 when idle)",
    &["actor_type"],
)
.from("seed 001 phase 2 (per-actor success and error rates)");
pub const SYSTEM_HEALTHY: MetricDef = MetricDef::gauge(
    "alys_actor_system_healthy",
    "",
    "1 when at least 80 % of actors are healthy and 95 % of messages succeed, else 0",
    &[],
)
.from("seed 001 phase 2 (actor system health)");
pub const HEALTHY_COUNT: MetricDef = MetricDef::gauge(
    "alys_actor_healthy_count",
    "",
    "Actors whose success rate over the window is at least 95 %",
    &[],
)
.from("seed 001 phase 2 (ActorSystemUnhealthy alert)");
pub const TOTAL_COUNT: MetricDef = MetricDef::gauge(
    "alys_actor_total_count",
    "",
    "Actors under supervision",
    &[],
)
.from("seed 001 phase 2 (ActorSystemUnhealthy alert)");

pub const ALL: &[MetricDef] = &[
    MESSAGES,
    MESSAGE_LATENCY,
    MAILBOX_WAIT,
    INTER_ACTOR_LATENCY,
    MAILBOX_SIZE,
    MAILBOX_BACKPRESSURE,
    RESTARTS,
    LIFECYCLE_TRANSITIONS,
    LIFECYCLE_DURATION,
    SUPERVISION_RESTARTS,
    DEPENDENCY_HEALTH,
    THROUGHPUT,
    SUCCESS_RATE,
    SYSTEM_HEALTHY,
    HEALTHY_COUNT,
    TOTAL_COUNT,
];
