//! The workers: each takes jobs off the queue and runs one attempt at a time, in its span;
//! a failed attempt waits for its retry, or its job goes to the dead-letter queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alys_telemetry::sources::traces::TraceScope;
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::state::{Queued, State};
use super::{Executor, ExecutorConfig, JobState, millis, now_ms, trace_id};
use crate::actions::{self, Forced};
use crate::checkpoint::{DeadLetter, JobId};
use crate::metrics::{ActionKind, EventOutcome, TaskKind};

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

impl Executor {
    /// A worker: takes jobs until the executor stops.
    pub(super) async fn work(self) {
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
            self.retry_later(attempt.job, trace, delay);
            return;
        }
        job.state = JobState::DeadLettered;
        let attempts = job.attempts;
        metrics.dead_letters.add(1);
        state.push_dead_letter(&attempt, attempts, reason, &inner.config);
        let ended = state.job_ended(&attempt.event_id, true, &inner.config);
        drop(state);
        self.event_ended(ended);
    }

    /// Counts the retry of `job` and queues it again after `delay`, by a task of its own.
    fn retry_later(&self, job: JobId, trace: Context, delay: Duration) {
        self.inner.metrics.retries.add(1);
        let executor = self.clone();
        self.inner.tasks.spawn(TaskKind::RetryTimer, async move {
            executor.retry_after(job, trace, delay).await;
        });
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
}

impl State {
    /// Keeps the dead letter of a job whose last attempt failed (while its event is kept);
    /// drops the oldest beyond the capacity.
    fn push_dead_letter(
        &mut self,
        attempt: &Attempt,
        attempts: u32,
        reason: String,
        config: &ExecutorConfig,
    ) {
        if let Some(event) = self.events.get(&attempt.event_id) {
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
            self.dead_letters.push_back(letter);
            while self.dead_letters.len() > config.dead_letter_capacity {
                self.dead_letters.pop_front();
            }
        }
    }
}
