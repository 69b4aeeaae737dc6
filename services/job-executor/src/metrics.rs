//! The executor's metrics, named as seed 003 names them, declared with the library's derives
//! (typed labels, every counter at 0 from start-up, the naming rules checked when it
//! compiles), and the label sets and task kinds they are recorded under. How they differ from
//! the seed (the labels added, the histograms in milliseconds without a unit) is on the
//! catalogue page, docs/services/job-executor.md ([`catalog`](crate::catalog)).

use alys_telemetry::sources::catalog::instruments::{
    Counter, CounterVec, Gauge, Histogram, HistogramVec,
};
use alys_telemetry::sources::catalog::{LabelValue, MetricFamily, Observed};
use serde::{Deserialize, Serialize};

// Every duration's bucket bounds, in milliseconds, are the seed's `MetricsConfig` defaults.
const WHY_EVENTS: &str =
    "seed 003's event metrics: how many events are processed and how long they take";
const WHY_ACTIONS: &str =
    "seed 003's action metrics: its success-rate panel and HighActionFailureRate alert";
const WHY_QUEUE: &str = "seed 003's queue metrics: its QueueDepthHigh alert and queue panels";
const WHY_CACHE: &str = "seed 003's cache metrics: its CacheHitRateLow alert";
const WHY_DEDUP: &str = "seed 003's dedup metrics: how often events arrive twice";
const WHY_CHECKPOINT: &str = "seed 003's checkpoint metrics: durable progress and recoveries";

/// An action a rule runs for an event (`action`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Posts the event to a subscriber's URL.
    Webhook,
    /// Sends a notification e-mail.
    Email,
    /// Indexes the event's entity for search.
    SearchIndex,
    /// Charges or refunds a payment.
    Payment,
}

/// How an event's processing ended (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum EventOutcome {
    /// Every job of the event succeeded.
    Succeeded,
    /// At least one job of the event went to the dead-letter queue.
    DeadLettered,
    /// No rule matched the event's type: nothing to run.
    Unmatched,
}

/// What a recovery at start-up found (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum RecoveryOutcome {
    /// A checkpoint was read: its pending jobs were queued again, its dead letters kept.
    Restored,
    /// No checkpoint existed: a first start.
    Empty,
    /// A checkpoint existed but could not be read; the executor starts empty.
    Unreadable,
}

/// The executor's kinds of task (`task` on the library's `alys_task_*` metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum TaskKind {
    /// The HTTP API's server.
    Server,
    /// A worker: takes jobs off the queue and runs their attempts.
    Worker,
    /// One run of an action (cancelled when it times out).
    Action,
    /// Waits a job's backoff, then queues it again.
    RetryTimer,
    /// Saves checkpoints; queues the jobs a recovery found.
    Checkpointer,
    /// Sends the service's own events to its API.
    Driver,
}

#[derive(MetricFamily)]
#[family(title = "job executor")]
pub struct ExecutorMetrics {
    /// Events processed to the end, by outcome
    #[metric(name = "events_processed_total", labels(outcome), why = WHY_EVENTS)]
    pub events_processed: CounterVec<EventOutcome>,
    /// Time from an event's arrival to the end of its last job, in milliseconds
    #[metric(
        name = "event_processing_duration_ms",
        labels(outcome),
        buckets = [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0],
        why = WHY_EVENTS
    )]
    pub event_processing_duration: HistogramVec<EventOutcome>,
    /// Actions run (a result from the cache runs none), by action
    #[metric(name = "actions_executed_total", labels(action), why = WHY_ACTIONS)]
    pub actions_executed: CounterVec<ActionKind>,
    /// Actions that succeeded, by action
    #[metric(name = "action_success_total", labels(action), why = WHY_ACTIONS)]
    pub action_success: CounterVec<ActionKind>,
    /// Actions that failed, timed-out ones included, by action
    #[metric(name = "action_failure_total", labels(action), why = WHY_ACTIONS)]
    pub action_failure: CounterVec<ActionKind>,
    /// Time an action ran, in milliseconds, by action
    #[metric(
        name = "action_duration_ms",
        labels(action),
        buckets = [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0],
        why = WHY_ACTIONS
    )]
    pub action_duration: HistogramVec<ActionKind>,
    /// Actions stopped at their timeout, by action
    #[metric(name = "action_timeout_total", labels(action), why = WHY_ACTIONS)]
    pub action_timeout: CounterVec<ActionKind>,
    /// Jobs put on the queue: new ones and ones a recovery found
    #[metric(name = "queue_jobs_enqueued_total", why = WHY_QUEUE)]
    pub jobs_enqueued: Counter,
    /// Jobs that ended successfully
    #[metric(name = "queue_jobs_processed_total", why = WHY_QUEUE)]
    pub jobs_processed: Counter,
    /// Retries scheduled after a failed attempt
    #[metric(name = "queue_retry_total", why = WHY_QUEUE)]
    pub retries: Counter,
    /// Jobs moved to the dead-letter queue after their last attempt failed
    #[metric(name = "queue_deadletter_total", why = WHY_QUEUE)]
    pub dead_letters: Counter,
    /// Action results found in the cache
    #[metric(name = "cache_hits_total", why = WHY_CACHE)]
    pub cache_hits: Counter,
    /// Action results looked up and not found in the cache
    #[metric(name = "cache_misses_total", why = WHY_CACHE)]
    pub cache_misses: Counter,
    /// Events checked against the ids seen recently
    #[metric(name = "dedup_checks_total", why = WHY_DEDUP)]
    pub dedup_checks: Counter,
    /// Events whose id was seen recently: not processed again
    #[metric(name = "dedup_duplicates_found_total", why = WHY_DEDUP)]
    pub dedup_duplicates: Counter,
    /// Checkpoints saved
    #[metric(name = "checkpoint_saves_total", why = WHY_CHECKPOINT)]
    pub checkpoint_saves: Counter,
    /// Time to save a checkpoint, in milliseconds
    #[metric(
        name = "checkpoint_save_duration_ms",
        buckets = [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0],
        why = WHY_CHECKPOINT
    )]
    pub checkpoint_save_duration: Histogram,
    /// Recoveries from a checkpoint at start-up, by what they found
    #[metric(name = "checkpoint_recovery_total", labels(outcome), why = WHY_CHECKPOINT)]
    pub checkpoint_recoveries: CounterVec<RecoveryOutcome>,
    /// Events accepted whose jobs have not all ended
    #[metric(name = "events_in_flight", why = WHY_EVENTS)]
    pub events_in_flight: Observed<Gauge>,
    /// Jobs waiting in the queue for a worker
    #[metric(name = "queue_depth", why = WHY_QUEUE)]
    pub queue_depth: Observed<Gauge>,
    /// Share of cache lookups that found a result, in percent (0 before the first lookup)
    #[metric(name = "cache_hit_rate", why = WHY_CACHE)]
    pub cache_hit_rate: Observed<Gauge>,
    /// Bytes of the cached results and their keys
    #[metric(name = "cache_size_bytes", unit = "By", why = WHY_CACHE)]
    pub cache_size: Observed<Gauge>,
    /// Share of checked events that were duplicates, in percent (0 before the first check)
    #[metric(name = "dedup_hit_rate", why = WHY_DEDUP)]
    pub dedup_hit_rate: Observed<Gauge>,
}

/// `part` of `whole` in percent; 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
