//! The executor: events in, jobs out. An accepted event is matched to its rule's actions, one
//! job each; the jobs go through a bounded queue to the workers; an attempt runs the action
//! (or takes its result from the cache); a failed attempt is retried after a backoff, up to
//! a limit, and the job then goes to the dead-letter queue. An event ends when its last job
//! does.
//!
//! Traces: an event's processing is a span (`event.process`), a child of whatever span was
//! current when it was submitted (the HTTP server span of the request that brought it), open
//! from its arrival to the end of its last job. The event's context travels with each job
//! through the queue, and every attempt is a span (`action.attempt`) of the event's trace,
//! its parent the event's span; a retry also links to the attempt before it. After a
//! restart, the attempts of recovered jobs continue the trace the checkpoint kept.
//!
//! Here: the handle, its configuration and the types of its API. Beside it: the state behind
//! its lock (`state`), the submission path (`submit`), the workers with their retries and
//! dead letters (`worker`), checkpoints and recovery (`checkpointing`), what it shows of its
//! jobs and events (`views`) and its gauges (`gauges`).

mod checkpointing;
mod gauges;
mod state;
mod submit;
mod views;
mod worker;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::tasks::TaskMonitor;
use opentelemetry::Context;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::TraceContextExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use self::gauges::observe_gauges;
use self::state::{Queued, State};
use crate::actions::Simulation;
use crate::cache::ResultCache;
use crate::checkpoint::{CheckpointStore, JobId};
use crate::dedup::Dedup;
use crate::metrics::{ActionKind, ExecutorMetrics, TaskKind};

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Workers taking jobs off the queue.
    pub workers: usize,
    /// Jobs the queue holds; an event whose jobs do not fit within `admission_wait` is
    /// refused.
    pub queue_capacity: usize,
    pub admission_wait: Duration,
    /// Retries after a job's first attempt; the job is dead-lettered when the last fails.
    pub max_retries: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// An attempt still running after this is stopped and counts as timed out.
    pub action_timeout: Duration,
    pub cache_ttl: Duration,
    pub cache_capacity_bytes: u64,
    /// Event ids remembered for deduplication.
    pub dedup_capacity: usize,
    /// Ended events kept (with their jobs) for `GET /events/{id}` and `GET /jobs/{id}`.
    pub retain_events: usize,
    /// Dead letters kept, the oldest dropped first.
    pub dead_letter_capacity: usize,
    /// Where checkpoints are saved; none keeps nothing across restarts.
    pub checkpoint_path: Option<std::path::PathBuf>,
    pub checkpoint_interval: Duration,
    pub simulation: Simulation,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            workers: 4,
            queue_capacity: 64,
            admission_wait: Duration::from_millis(250),
            max_retries: 3,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
                .with_jitter(0.2),
            action_timeout: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(30),
            cache_capacity_bytes: 1 << 20,
            dedup_capacity: 10_000,
            retain_events: 10_000,
            dead_letter_capacity: 1_000,
            checkpoint_path: None,
            checkpoint_interval: Duration::from_secs(5),
            simulation: Simulation::default(),
        }
    }
}

/// An event as `POST /events` takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventIn {
    /// Its id, for deduplication; the executor makes one when it is missing.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// What the event is about (`order-42`).
    #[serde(default)]
    pub entity: String,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// What became of a submitted event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Submitted {
    /// Its jobs are queued.
    Accepted {
        event_id: String,
        jobs: Vec<JobId>,
        trace_id: Option<String>,
    },
    /// No rule matched its type: processed, nothing to run.
    Unmatched { event_id: String },
    /// Its id arrived recently: not processed again.
    Duplicate { event_id: String },
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    #[error("the queue is full: retry later")]
    QueueFull,
    #[error("the event makes {jobs} jobs, more than the queue's {capacity}")]
    TooManyJobs { jobs: usize, capacity: usize },
    #[error("the executor is stopping")]
    Stopping,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    RetryWaiting,
    Succeeded,
    DeadLettered,
}

impl JobState {
    fn ended(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::DeadLettered)
    }
}

/// A job as `GET /jobs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: JobId,
    pub event_id: String,
    pub event_type: String,
    pub entity: String,
    pub action: ActionKind,
    pub state: JobState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub result: Option<String>,
    /// Whether its result came from the cache.
    pub from_cache: bool,
    pub trace_id: Option<String>,
}

/// An event as `GET /events/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    pub event_type: String,
    pub entity: String,
    /// `in_flight`, or how it ended: `succeeded`, `dead_lettered`, `unmatched`.
    pub state: String,
    pub jobs: Vec<JobId>,
    pub remaining: usize,
    pub trace_id: Option<String>,
}

/// The executor. Cloning shares it.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    config: ExecutorConfig,
    metrics: ExecutorMetrics,
    tasks: TaskMonitor<TaskKind>,
    state: Mutex<State>,
    queue: mpsc::Sender<Queued>,
    receiver: tokio::sync::Mutex<mpsc::Receiver<Queued>>,
    cache: ResultCache,
    dedup: Dedup,
    checkpoints: Option<CheckpointStore>,
    stop: watch::Sender<bool>,
    /// The workers and the checkpointer, awaited at shutdown.
    running: Mutex<Vec<JoinHandle<()>>>,
}

impl Executor {
    /// The executor, its metrics on `meter` and its tasks measured by `tasks`. Nothing runs
    /// until [`start`](Self::start).
    pub fn new(config: ExecutorConfig, meter: &Meter, tasks: TaskMonitor<TaskKind>) -> Executor {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let inner = Arc::new(Inner {
            metrics: ExecutorMetrics::new(meter),
            tasks,
            state: Mutex::new(State {
                next_job: 1,
                ..State::default()
            }),
            queue,
            receiver: tokio::sync::Mutex::new(receiver),
            cache: ResultCache::new(config.cache_ttl, config.cache_capacity_bytes),
            dedup: Dedup::new(config.dedup_capacity),
            checkpoints: config.checkpoint_path.clone().map(CheckpointStore::new),
            stop: watch::Sender::new(false),
            running: Mutex::new(Vec::new()),
            config,
        });
        observe_gauges(&inner, meter);
        Executor { inner }
    }

    /// Starts the workers and, with a checkpoint path, the checkpointer.
    pub fn start(&self) {
        let mut running = lock(&self.inner.running);
        for _ in 0..self.inner.config.workers {
            let executor = self.clone();
            running.push(self.inner.tasks.spawn(TaskKind::Worker, executor.work()));
        }
        if self.inner.checkpoints.is_some() {
            let executor = self.clone();
            running.push(
                self.inner
                    .tasks
                    .spawn(TaskKind::Checkpointer, executor.checkpoint_periodically()),
            );
        }
    }

    /// Stops: no more events are accepted or jobs taken; the attempts under way get `grace`
    /// to end (then they are dropped, and their jobs stay pending); a last checkpoint keeps
    /// every job that has not ended.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop.send_replace(true);
        let deadline = tokio::time::Instant::now() + grace;
        let running = std::mem::take(&mut *lock(&self.inner.running));
        for mut task in running {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        if self.inner.checkpoints.is_some() {
            let executor = self.clone();
            match tokio::task::spawn_blocking(move || executor.save_checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "the last checkpoint was not saved"),
                Err(error) => tracing::error!(%error, "the last checkpoint's save failed"),
            }
        }
    }

    /// Resolves once the executor is stopping.
    async fn stopped(&self) {
        let mut stop = self.inner.stop.subscribe();
        let _ = stop.wait_for(|stop| *stop).await;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a thread panicked holding it; the data is still whole.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The trace id of `cx` in hex, when it is in a trace.
fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
