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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alys_telemetry::child_span;
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::tasks::TaskMonitor;
use alys_telemetry::sources::traces::TraceScope;
use opentelemetry::Context;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::actions::{self, Forced, Simulation};
use crate::cache::ResultCache;
use crate::checkpoint::{
    self, CheckpointError, CheckpointStore, DeadLetter, JobId, PendingEvent, PendingJob, Snapshot,
};
use crate::dedup::Dedup;
use crate::metrics::{
    ActionKind, EventOutcome, ExecutorMetrics, RecoveryOutcome, TaskKind, percent,
};

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

/// A job in the queue, with the context its attempt continues.
struct Queued {
    job: JobId,
    trace: Context,
}

struct Job {
    id: JobId,
    event_id: String,
    action: ActionKind,
    state: JobState,
    attempts: u32,
    last_error: Option<String>,
    result: Option<String>,
    from_cache: bool,
    /// The last attempt's span, which the next attempt links to.
    last_attempt: Option<SpanContext>,
}

struct EventRecord {
    id: String,
    event_type: String,
    entity: String,
    payload: Arc<serde_json::Value>,
    accepted_at_ms: u64,
    started: Instant,
    jobs: Vec<JobId>,
    remaining: usize,
    dead_lettered: bool,
    outcome: Option<EventOutcome>,
    /// The context its jobs' attempts continue.
    trace: Context,
    /// Its span, open until its last job ends (none after a recovery).
    scope: Option<TraceScope>,
}

#[derive(Default)]
struct State {
    next_job: JobId,
    jobs: HashMap<JobId, Job>,
    events: HashMap<String, EventRecord>,
    /// Ended events, oldest first: forgotten with their jobs beyond the retention.
    ended: VecDeque<String>,
    dead_letters: VecDeque<DeadLetter>,
    in_flight: usize,
}

/// What one attempt needs, read from the state when it begins.
struct Attempt {
    job: JobId,
    number: u32,
    action: ActionKind,
    event_id: String,
    entity: String,
    payload: Arc<serde_json::Value>,
    previous: Option<SpanContext>,
}

enum Outcome {
    Succeeded { result: String, cached: bool },
    Failed(String),
    TimedOut,
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

    /// Reads the last checkpoint, if any: its pending jobs are queued again (by a task, as the
    /// workers make room) and its dead letters kept. Call it once, before events arrive.
    pub fn recover(&self) -> RecoveryOutcome {
        let Some(store) = &self.inner.checkpoints else {
            return RecoveryOutcome::Empty;
        };
        let outcome = match store.load() {
            Ok(Some(snapshot)) => {
                let (events, jobs) = (snapshot.events.len(), snapshot.jobs.len());
                self.restore(snapshot);
                tracing::info!(events, jobs, path = %store.path().display(), "recovered from the checkpoint");
                RecoveryOutcome::Restored
            }
            Ok(None) => RecoveryOutcome::Empty,
            Err(error) => {
                // Kept for a look, out of the way of the next save.
                let mut aside = store.path().as_os_str().to_owned();
                aside.push(".unreadable");
                let _ = std::fs::rename(store.path(), &aside);
                tracing::error!(%error, "checkpoint unreadable, starting empty; moved aside");
                RecoveryOutcome::Unreadable
            }
        };
        self.inner.metrics.checkpoint_recoveries.add(outcome, 1);
        outcome
    }

    /// Accepts `event`: checks it is not a duplicate, matches it to its rule, and queues its
    /// jobs, waiting at most the admission wait for room. Call it inside the span the event
    /// came with (the HTTP server span): the event's span is its child.
    pub async fn submit(&self, event: EventIn) -> Result<Submitted, SubmitError> {
        let inner = &self.inner;
        if *inner.stop.borrow() {
            return Err(SubmitError::Stopping);
        }
        let id = event
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("evt-{:016x}", fastrand::u64(..)));
        let actions = actions::actions_for(&event.event_type);
        let scope = child_span!(
            "event.process",
            otel.name = format!("event {}", event.event_type),
            otel.status_code = Empty,
            event.id = id.as_str(),
            "event.type" = event.event_type.as_str(),
            event.entity = event.entity.as_str(),
            event.jobs = actions.len(),
            event.outcome = Empty,
        );
        let record = |outcome: &str| {
            if let Some(span) = scope.span() {
                span.record("event.outcome", outcome);
            }
        };
        if inner.dedup.is_duplicate(&id, &inner.metrics) {
            record("duplicate");
            return Ok(Submitted::Duplicate { event_id: id });
        }
        let started = Instant::now();
        let mut record_event = EventRecord {
            id: id.clone(),
            event_type: event.event_type,
            entity: event.entity,
            payload: Arc::new(event.payload),
            accepted_at_ms: now_ms(),
            started,
            jobs: Vec::new(),
            remaining: actions.len(),
            dead_lettered: false,
            outcome: None,
            trace: scope.context(),
            scope: None,
        };
        if actions.is_empty() {
            record(EventOutcome::Unmatched.as_str());
            inner
                .metrics
                .events_processed
                .add(EventOutcome::Unmatched, 1);
            inner
                .metrics
                .event_processing_duration
                .record(EventOutcome::Unmatched, millis(started.elapsed()));
            record_event.outcome = Some(EventOutcome::Unmatched);
            let mut state = self.state();
            state.events.insert(id.clone(), record_event);
            state.keep_ended(id.clone(), &inner.config);
            return Ok(Submitted::Unmatched { event_id: id });
        }
        let capacity = inner.queue.max_capacity();
        if actions.len() > capacity {
            inner.dedup.forget(&id);
            record("rejected");
            return Err(SubmitError::TooManyJobs {
                jobs: actions.len(),
                capacity,
            });
        }
        let permits = tokio::time::timeout(
            inner.config.admission_wait,
            inner.queue.reserve_many(actions.len()),
        )
        .await;
        let permits = match permits {
            Ok(Ok(permits)) => permits,
            Ok(Err(_closed)) => {
                inner.dedup.forget(&id);
                return Err(SubmitError::Stopping);
            }
            Err(_elapsed) => {
                inner.dedup.forget(&id);
                record("rejected");
                return Err(SubmitError::QueueFull);
            }
        };
        let trace = record_event.trace.clone();
        let trace_id = trace_id(&trace);
        let jobs: Vec<JobId> = {
            let mut state = self.state();
            let jobs: Vec<JobId> = actions
                .iter()
                .map(|&action| state.add_job(&id, action))
                .collect();
            record_event.jobs = jobs.clone();
            record_event.scope = Some(scope);
            state.events.insert(id.clone(), record_event);
            state.in_flight += 1;
            jobs
        };
        for (permit, &job) in permits.zip(&jobs) {
            permit.send(Queued {
                job,
                trace: trace.clone(),
            });
        }
        inner.metrics.jobs_enqueued.add(jobs.len() as u64);
        Ok(Submitted::Accepted {
            event_id: id,
            jobs,
            trace_id,
        })
    }

    /// The job `id`, while it is kept.
    pub fn job(&self, id: JobId) -> Option<JobView> {
        let state = self.state();
        let job = state.jobs.get(&id)?;
        let event = state.events.get(&job.event_id)?;
        Some(JobView {
            id,
            event_id: job.event_id.clone(),
            event_type: event.event_type.clone(),
            entity: event.entity.clone(),
            action: job.action,
            state: job.state,
            attempts: job.attempts,
            last_error: job.last_error.clone(),
            result: job.result.clone(),
            from_cache: job.from_cache,
            trace_id: trace_id(&event.trace),
        })
    }

    /// The event `id`, while it is kept.
    pub fn event(&self, id: &str) -> Option<EventView> {
        let state = self.state();
        let event = state.events.get(id)?;
        Some(EventView {
            id: event.id.clone(),
            event_type: event.event_type.clone(),
            entity: event.entity.clone(),
            state: event
                .outcome
                .map_or("in_flight", |outcome| outcome.as_str())
                .to_string(),
            jobs: event.jobs.clone(),
            remaining: event.remaining,
            trace_id: trace_id(&event.trace),
        })
    }

    /// Jobs waiting in the queue, and how many it holds.
    pub fn queue_fill(&self) -> (usize, usize) {
        let queue = &self.inner.queue;
        (
            queue.max_capacity() - queue.capacity(),
            queue.max_capacity(),
        )
    }

    /// The dead-letter queue, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state().dead_letters.iter().cloned().collect()
    }

    /// The state a checkpoint keeps.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.state();
        let mut events: Vec<PendingEvent> = state
            .events
            .values()
            .filter(|e| e.remaining > 0)
            .map(|e| PendingEvent {
                id: e.id.clone(),
                event_type: e.event_type.clone(),
                entity: e.entity.clone(),
                payload: (*e.payload).clone(),
                accepted_at_ms: e.accepted_at_ms,
                jobs: e.jobs.clone(),
                dead_lettered: e.dead_lettered,
                trace: inject(&e.trace),
            })
            .collect();
        events.sort_by_key(|e| e.accepted_at_ms);
        let mut jobs: Vec<PendingJob> = state
            .jobs
            .values()
            .filter(|j| !j.state.ended())
            .map(|j| PendingJob {
                id: j.id,
                event_id: j.event_id.clone(),
                action: j.action,
                attempts: j.attempts,
                last_error: j.last_error.clone(),
            })
            .collect();
        jobs.sort_by_key(|j| j.id);
        Snapshot {
            version: checkpoint::VERSION,
            saved_at_ms: now_ms(),
            next_job: state.next_job,
            events,
            jobs,
            dead_letters: state.dead_letters.iter().cloned().collect(),
        }
    }

    /// Saves a checkpoint now (a file write: call it off the async threads). Without a
    /// checkpoint path there is nothing to save.
    pub fn save_checkpoint(&self) -> Result<(), CheckpointError> {
        let Some(store) = &self.inner.checkpoints else {
            return Ok(());
        };
        let started = Instant::now();
        store.save(&self.snapshot())?;
        let metrics = &self.inner.metrics;
        metrics.checkpoint_saves.add(1);
        metrics
            .checkpoint_save_duration
            .record(millis(started.elapsed()));
        Ok(())
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

    /// A worker: takes jobs until the executor stops.
    async fn work(self) {
        loop {
            let next = {
                let mut receiver = self.inner.receiver.lock().await;
                tokio::select! {
                    biased;
                    () = self.stopped() => None,
                    queued = receiver.recv() => queued,
                }
            };
            match next {
                Some(queued) => self.attempt(queued).await,
                None => return,
            }
        }
    }

    /// One attempt of a job, in its span.
    async fn attempt(&self, queued: Queued) {
        let Some(attempt) = self.begin_attempt(queued.job) else {
            return;
        };
        let scope = TraceScope::follow(queued.trace, || {
            tracing::info_span!(
                parent: None,
                "action.attempt",
                otel.name = format!("action {}", attempt.action),
                otel.status_code = Empty,
                job.id = attempt.job,
                event.id = attempt.event_id.as_str(),
                action = attempt.action.as_str(),
                attempt = attempt.number,
                cache.hit = Empty,
                action.outcome = Empty,
                error.message = Empty,
            )
        });
        if let (Some(span), Some(previous)) = (scope.span(), &attempt.previous) {
            span.add_link(previous.clone());
        }
        let outcome = scope.clone().instrument(self.execute(&attempt)).await;
        let this_attempt = scope.span().map(|span| {
            let (hit, result, error) = match &outcome {
                Outcome::Succeeded { cached, .. } => (*cached, "succeeded", None),
                Outcome::Failed(reason) => (false, "failed", Some(reason.as_str())),
                Outcome::TimedOut => (false, "timed_out", Some("timed out")),
            };
            span.record("cache.hit", hit);
            span.record("action.outcome", result);
            if let Some(error) = error {
                span.record("error.message", error);
                span.record("otel.status_code", "error");
            }
            span.context().span().span_context().clone()
        });
        self.end_attempt(attempt, outcome, this_attempt);
    }

    /// Marks the job running and reads what its attempt needs; `None` when the job is gone
    /// or has ended (a recovered duplicate).
    fn begin_attempt(&self, id: JobId) -> Option<Attempt> {
        let mut state = self.state();
        let State { jobs, events, .. } = &mut *state;
        let job = jobs.get_mut(&id).filter(|j| !j.state.ended())?;
        let event = events.get(&job.event_id)?;
        job.state = JobState::Running;
        job.attempts += 1;
        Some(Attempt {
            job: id,
            number: job.attempts,
            action: job.action,
            event_id: job.event_id.clone(),
            entity: event.entity.clone(),
            payload: Arc::clone(&event.payload),
            previous: job.last_attempt.clone(),
        })
    }

    /// The attempt's work: the cached result, else the action, within its timeout.
    async fn execute(&self, attempt: &Attempt) -> Outcome {
        let inner = &self.inner;
        let key = format!("{}|{}|{}", attempt.action, attempt.entity, attempt.payload);
        if let Some(result) = inner.cache.get(&key, &inner.metrics) {
            return Outcome::Succeeded {
                result,
                cached: true,
            };
        }
        let metrics = &inner.metrics;
        let action = attempt.action;
        metrics.actions_executed.add(action, 1);
        let started = Instant::now();
        let run = actions::run(
            action,
            &attempt.entity,
            Forced::of(&attempt.payload),
            inner.config.simulation,
        );
        let ran = tokio::time::timeout(
            inner.config.action_timeout,
            inner.tasks.instrument(TaskKind::Action, run),
        )
        .await;
        metrics
            .action_duration
            .record(action, millis(started.elapsed()));
        match ran {
            Ok(Ok(result)) => {
                metrics.action_success.add(action, 1);
                inner.cache.insert(key, result.clone());
                Outcome::Succeeded {
                    result,
                    cached: false,
                }
            }
            Ok(Err(error)) => {
                metrics.action_failure.add(action, 1);
                Outcome::Failed(error.0)
            }
            Err(_elapsed) => {
                metrics.action_failure.add(action, 1);
                metrics.action_timeout.add(action, 1);
                Outcome::TimedOut
            }
        }
    }

    /// Records the attempt's outcome: the job succeeds, waits for its retry, or goes to the
    /// dead-letter queue.
    fn end_attempt(&self, attempt: Attempt, outcome: Outcome, span: Option<SpanContext>) {
        let inner = &self.inner;
        let metrics = &inner.metrics;
        let mut state = self.state();
        let Some(job) = state.jobs.get_mut(&attempt.job) else {
            return;
        };
        job.last_attempt = span;
        let reason = match outcome {
            Outcome::Succeeded { result, cached } => {
                job.state = JobState::Succeeded;
                job.result = Some(result);
                job.from_cache = cached;
                metrics.jobs_processed.add(1);
                let ended = state.job_ended(&attempt.event_id, false, &inner.config);
                drop(state);
                self.event_ended(ended);
                return;
            }
            Outcome::Failed(reason) => reason,
            Outcome::TimedOut => format!(
                "timed out after {}",
                humantime::format_duration(inner.config.action_timeout)
            ),
        };
        job.last_error = Some(reason.clone());
        if job.attempts <= inner.config.max_retries {
            job.state = JobState::RetryWaiting;
            let delay = inner
                .config
                .backoff
                .jittered(job.attempts - 1, fastrand::f64());
            let trace = state
                .events
                .get(&attempt.event_id)
                .map(|e| e.trace.clone())
                .unwrap_or_default();
            drop(state);
            metrics.retries.add(1);
            let executor = self.clone();
            let job = attempt.job;
            inner.tasks.spawn(TaskKind::RetryTimer, async move {
                executor.retry_after(job, trace, delay).await;
            });
            return;
        }
        job.state = JobState::DeadLettered;
        let attempts = job.attempts;
        metrics.dead_letters.add(1);
        if let Some(event) = state.events.get(&attempt.event_id) {
            let letter = DeadLetter {
                job_id: attempt.job,
                event_id: attempt.event_id.clone(),
                event_type: event.event_type.clone(),
                entity: event.entity.clone(),
                action: attempt.action,
                attempts,
                reason,
                dead_lettered_at_ms: now_ms(),
                trace_id: trace_id(&event.trace).unwrap_or_default(),
            };
            state.dead_letters.push_back(letter);
            while state.dead_letters.len() > inner.config.dead_letter_capacity {
                state.dead_letters.pop_front();
            }
        }
        let ended = state.job_ended(&attempt.event_id, true, &inner.config);
        drop(state);
        self.event_ended(ended);
    }

    /// Counts an event that just ended and closes its span (outside the state's lock).
    fn event_ended(&self, ended: Option<(EventOutcome, Duration, Option<TraceScope>)>) {
        let Some((outcome, took, scope)) = ended else {
            return;
        };
        let metrics = &self.inner.metrics;
        metrics.events_processed.add(outcome, 1);
        metrics
            .event_processing_duration
            .record(outcome, millis(took));
        if let Some(span) = scope.as_ref().and_then(TraceScope::span) {
            span.record("event.outcome", outcome.as_str());
            if outcome == EventOutcome::DeadLettered {
                span.record("otel.status_code", "error");
            }
        }
    }

    /// Waits `delay`, then queues the job again (unless the executor stops first: the job
    /// then stays pending for the last checkpoint).
    async fn retry_after(&self, job: JobId, trace: Context, delay: Duration) {
        tokio::select! {
            biased;
            () = self.stopped() => return,
            () = tokio::time::sleep(delay) => {}
        }
        if let Some(job) = self.state().jobs.get_mut(&job) {
            job.state = JobState::Queued;
        }
        tokio::select! {
            biased;
            () = self.stopped() => {}
            _ = self.inner.queue.send(Queued { job, trace }) => {}
        }
    }

    /// Saves a checkpoint every interval until the executor stops.
    async fn checkpoint_periodically(self) {
        loop {
            tokio::select! {
                biased;
                () = self.stopped() => return,
                () = tokio::time::sleep(self.inner.config.checkpoint_interval) => {}
            }
            let executor = self.clone();
            match tokio::task::spawn_blocking(move || executor.save_checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "checkpoint not saved"),
                Err(error) => tracing::warn!(%error, "checkpoint save failed"),
            }
        }
    }

    /// Takes a checkpoint's state in, and queues its pending jobs again.
    fn restore(&self, snapshot: Snapshot) {
        let inner = &self.inner;
        let mut queued = Vec::new();
        {
            let mut state = self.state();
            state.next_job = state.next_job.max(snapshot.next_job);
            let now = now_ms();
            for event in snapshot.events {
                let age = Duration::from_millis(now.saturating_sub(event.accepted_at_ms));
                let record = EventRecord {
                    id: event.id.clone(),
                    event_type: event.event_type,
                    entity: event.entity,
                    payload: Arc::new(event.payload),
                    accepted_at_ms: event.accepted_at_ms,
                    started: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
                    jobs: event.jobs,
                    remaining: 0,
                    dead_lettered: event.dead_lettered,
                    outcome: None,
                    trace: extract(&event.trace),
                    scope: None,
                };
                state.events.insert(event.id, record);
            }
            for pending in snapshot.jobs {
                let Some(event) = state.events.get_mut(&pending.event_id) else {
                    continue;
                };
                event.remaining += 1;
                let trace = event.trace.clone();
                state.jobs.insert(
                    pending.id,
                    Job {
                        id: pending.id,
                        event_id: pending.event_id,
                        action: pending.action,
                        state: JobState::Queued,
                        attempts: pending.attempts,
                        last_error: pending.last_error,
                        result: None,
                        from_cache: false,
                        last_attempt: None,
                    },
                );
                queued.push(Queued {
                    job: pending.id,
                    trace,
                });
            }
            // An event none of whose jobs was kept has nothing left to do.
            state.events.retain(|_, e| e.remaining > 0);
            state.in_flight = state.events.len();
            state.dead_letters.extend(snapshot.dead_letters);
        }
        let executor = self.clone();
        inner.tasks.spawn(TaskKind::Checkpointer, async move {
            for job in queued {
                tokio::select! {
                    biased;
                    () = executor.stopped() => return,
                    sent = executor.inner.queue.send(job) => {
                        if sent.is_err() {
                            return;
                        }
                        executor.inner.metrics.jobs_enqueued.add(1);
                    }
                }
            }
        });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }
}

impl State {
    fn add_job(&mut self, event_id: &str, action: ActionKind) -> JobId {
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(
            id,
            Job {
                id,
                event_id: event_id.to_string(),
                action,
                state: JobState::Queued,
                attempts: 0,
                last_error: None,
                result: None,
                from_cache: false,
                last_attempt: None,
            },
        );
        id
    }

    /// One of the event's jobs ended; when it was the last, the event ends: its outcome,
    /// how long it took and its span come back, to be counted and closed.
    fn job_ended(
        &mut self,
        event_id: &str,
        dead_lettered: bool,
        config: &ExecutorConfig,
    ) -> Option<(EventOutcome, Duration, Option<TraceScope>)> {
        let event = self.events.get_mut(event_id)?;
        event.remaining = event.remaining.saturating_sub(1);
        event.dead_lettered |= dead_lettered;
        if event.remaining > 0 {
            return None;
        }
        let outcome = if event.dead_lettered {
            EventOutcome::DeadLettered
        } else {
            EventOutcome::Succeeded
        };
        event.outcome = Some(outcome);
        let took = event.started.elapsed();
        let scope = event.scope.take();
        self.in_flight = self.in_flight.saturating_sub(1);
        self.keep_ended(event_id.to_string(), config);
        Some((outcome, took, scope))
    }

    /// Keeps an ended event for a while; forgets the oldest beyond the retention.
    fn keep_ended(&mut self, event_id: String, config: &ExecutorConfig) {
        self.ended.push_back(event_id);
        while self.ended.len() > config.retain_events {
            let Some(oldest) = self.ended.pop_front() else {
                break;
            };
            if let Some(event) = self.events.remove(&oldest) {
                for job in event.jobs {
                    self.jobs.remove(&job);
                }
            }
        }
    }
}

/// The gauges, read at each collection from what they describe.
fn observe_gauges(inner: &Arc<Inner>, meter: &Meter) {
    type M = ExecutorMetrics;
    let observe = |def: &alys_telemetry::sources::catalog::MetricDef, read: fn(&Inner) -> f64| {
        let weak: Weak<Inner> = Arc::downgrade(inner);
        def.observe_f64_gauge(meter, move |obs| {
            if let Some(inner) = weak.upgrade() {
                obs.observe(read(&inner), &[]);
            }
        });
    };
    observe(&M::QUEUE_DEPTH, |inner| {
        let queue = &inner.queue;
        (queue.max_capacity() - queue.capacity()) as f64
    });
    observe(&M::EVENTS_IN_FLIGHT, |inner| {
        lock(&inner.state).in_flight as f64
    });
    observe(&M::CACHE_SIZE, |inner| {
        inner.cache.totals().bytes.load(Relaxed) as f64
    });
    observe(&M::CACHE_HIT_RATE, |inner| {
        let totals = inner.cache.totals();
        let hits = totals.hits.load(Relaxed);
        percent(hits, hits + totals.misses.load(Relaxed))
    });
    observe(&M::DEDUP_HIT_RATE, |inner| {
        percent(
            inner.dedup.duplicates.load(Relaxed),
            inner.dedup.checks.load(Relaxed),
        )
    });
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

/// `cx` as W3C fields, through the process's propagator.
fn inject(cx: &Context) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut fields));
    fields
}

/// The context W3C `fields` carry.
fn extract(fields: &HashMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(fields))
}
