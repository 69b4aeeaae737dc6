//! Instrumented tasks: what tokio-metrics' `TaskMonitor` measures of a service's futures and
//! spawned tasks (polls, busy time, time scheduled before a poll, the delay to the first
//! poll), per kind of task, and how each task ended. The monitor of `alys-telemetry-tasks`
//! records these; the totals are read from its monitors when metrics are collected.

use crate::instruments::{CounterVec, LabelValues};
use crate::{LabelValue, MetricFamily, Observed};

/// Why an executor's operators look at it.
const EXECUTOR: &str =
    "operators see which kind of task is busy, starved of the runtime, or failing";

/// The task family, generic over the service's own kinds of task (`task`).
#[derive(MetricFamily)]
#[family(title = "tasks", crate = crate)]
pub struct TaskMetrics<K: LabelValues> {
    /// Tasks ended, by how they ended
    #[metric(name = "alys_task_outcomes_total", labels(task, outcome), why = EXECUTOR)]
    pub outcomes: CounterVec<(K, TaskOutcome)>,
    /// Tasks instrumented
    #[metric(name = "alys_task_instrumented_total", labels(task), why = EXECUTOR)]
    pub instrumented: Observed<CounterVec<K>>,
    /// Times tasks were polled
    #[metric(name = "alys_task_polls_total", labels(task), why = EXECUTOR)]
    pub polls: Observed<CounterVec<K>>,
    /// Time spent polling tasks: their busy time
    #[metric(name = "alys_task_busy_seconds_total", unit = "s", labels(task), why = EXECUTOR)]
    pub busy: Observed<CounterVec<K>>,
    /// Time tasks waited to be polled after they were woken
    #[metric(
        name = "alys_task_scheduled_seconds_total",
        unit = "s",
        labels(task),
        why = "a runtime too busy to poll what is ready shows here before anywhere else"
    )]
    pub scheduled: Observed<CounterVec<K>>,
    /// Time from instrumenting tasks to their first poll
    #[metric(
        name = "alys_task_first_poll_delay_seconds_total",
        unit = "s",
        labels(task),
        why = "tasks spawned faster than the runtime starts them wait here"
    )]
    pub first_poll_delay: Observed<CounterVec<K>>,
}

/// How a task ended (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum TaskOutcome {
    /// It completed: `Ok`, or a value that is not a `Result`.
    Succeeded,
    /// It completed with `Err`.
    Failed,
    /// It was dropped before it completed (aborted, or its owner went away).
    Cancelled,
}
