//! Node metrics from seeds 000 and 001 that the pipeline core's demo records. The remaining
//! families (migration, transaction pool, peers, system, actors, governance) join here.

use super::{MetricDef, MetricKind};

pub const ACTOR_MESSAGES: MetricDef = MetricDef {
    name: "alys_actor_messages_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Messages processed by actors",
    labels: &["actor_type", "message_type"],
    buckets: &[],
    source: "seed 000 (actor metrics), seed 001 phase 2",
};

pub const ACTOR_MESSAGE_LATENCY: MetricDef = MetricDef {
    name: "alys_actor_message_latency_seconds",
    kind: MetricKind::Histogram,
    unit: "s",
    help: "Time an actor spends processing one message",
    labels: &["actor_type"],
    buckets: &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
    source: "seed 000 (actor metrics)",
};

pub const SYNC_CURRENT_HEIGHT: MetricDef = MetricDef {
    name: "alys_sync_current_height",
    kind: MetricKind::Gauge,
    unit: "",
    help: "Current synchronized block height",
    labels: &[],
    buckets: &[],
    source: "seed 000 (sync metrics)",
};

pub const SYNC_TARGET_HEIGHT: MetricDef = MetricDef {
    name: "alys_sync_target_height",
    kind: MetricKind::Gauge,
    unit: "",
    help: "Target block height reported by peers",
    labels: &[],
    buckets: &[],
    source: "seed 000 (sync metrics)",
};

pub const BLOCK_PRODUCTION_DURATION: MetricDef = MetricDef {
    name: "alys_block_production_duration_seconds",
    kind: MetricKind::Histogram,
    unit: "s",
    help: "Time to produce a block",
    labels: &["validator"],
    buckets: &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0],
    source: "seed 000 (block production), seed 001",
};

pub const ALL: &[MetricDef] = &[
    ACTOR_MESSAGES,
    ACTOR_MESSAGE_LATENCY,
    SYNC_CURRENT_HEIGHT,
    SYNC_TARGET_HEIGHT,
    BLOCK_PRODUCTION_DURATION,
];
