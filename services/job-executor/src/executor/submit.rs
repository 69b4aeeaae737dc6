//! The submission path: an event checked against the recent ids, matched to its rule's
//! actions, and its jobs admitted to the queue or the event refused.

use std::sync::Arc;
use std::time::Instant;

use alys_telemetry::child_span;
use alys_telemetry::sources::traces::TraceScope;
use tokio::sync::mpsc::PermitIterator;
use tracing::field::Empty;

use super::state::{EventRecord, Queued};
use super::{EventIn, Executor, SubmitError, Submitted, millis, now_ms, trace_id};
use crate::actions;
use crate::checkpoint::JobId;
use crate::metrics::{ActionKind, EventOutcome};

impl Executor {
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
        if inner.dedup.is_duplicate(&id, &inner.metrics) {
            record_outcome(&scope, "duplicate");
            return Ok(Submitted::Duplicate { event_id: id });
        }
        let started = Instant::now();
        let record = EventRecord {
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
            return Ok(self.unmatched(id, record, &scope));
        }
        let permits = self.admit(&id, actions.len(), &scope).await?;
        Ok(self.enqueue(id, record, scope, actions, permits))
    }

    /// Ends an event no rule matched: processed, nothing to run, kept as ended.
    fn unmatched(&self, id: String, mut record: EventRecord, scope: &TraceScope) -> Submitted {
        let inner = &self.inner;
        record_outcome(scope, EventOutcome::Unmatched.as_str());
        inner
            .metrics
            .events_processed
            .add(EventOutcome::Unmatched, 1);
        inner
            .metrics
            .event_processing_duration
            .record(EventOutcome::Unmatched, millis(record.started.elapsed()));
        record.outcome = Some(EventOutcome::Unmatched);
        let mut state = self.state();
        state.events.insert(id.clone(), record);
        state.keep_ended(id.clone(), &inner.config);
        Submitted::Unmatched { event_id: id }
    }

    /// Room in the queue for the event's `jobs`, waited for at most the admission wait. A
    /// refused event's id is forgotten, so that it is not taken for a duplicate when it is
    /// sent again.
    async fn admit(
        &self,
        id: &str,
        jobs: usize,
        scope: &TraceScope,
    ) -> Result<PermitIterator<'_, Queued>, SubmitError> {
        let inner = &self.inner;
        let capacity = inner.queue.max_capacity();
        if jobs > capacity {
            inner.dedup.forget(id);
            record_outcome(scope, "rejected");
            return Err(SubmitError::TooManyJobs { jobs, capacity });
        }
        let permits =
            tokio::time::timeout(inner.config.admission_wait, inner.queue.reserve_many(jobs)).await;
        match permits {
            Ok(Ok(permits)) => Ok(permits),
            Ok(Err(_closed)) => {
                inner.dedup.forget(id);
                Err(SubmitError::Stopping)
            }
            Err(_elapsed) => {
                inner.dedup.forget(id);
                record_outcome(scope, "rejected");
                Err(SubmitError::QueueFull)
            }
        }
    }

    /// Keeps the event, its span open until its last job ends, and queues its jobs, one for
    /// each of its `actions`, through the `permits` reserved for them.
    fn enqueue(
        &self,
        id: String,
        mut record: EventRecord,
        scope: TraceScope,
        actions: &[ActionKind],
        permits: PermitIterator<'_, Queued>,
    ) -> Submitted {
        let trace = record.trace.clone();
        let trace_id = trace_id(&trace);
        let jobs: Vec<JobId> = {
            let mut state = self.state();
            let jobs: Vec<JobId> = actions
                .iter()
                .map(|&action| state.add_job(&id, action))
                .collect();
            record.jobs = jobs.clone();
            record.scope = Some(scope);
            state.events.insert(id.clone(), record);
            state.in_flight += 1;
            jobs
        };
        for (permit, &job) in permits.zip(&jobs) {
            permit.send(Queued {
                job,
                trace: trace.clone(),
            });
        }
        self.inner.metrics.jobs_enqueued.add(jobs.len() as u64);
        Submitted::Accepted {
            event_id: id,
            jobs,
            trace_id,
        }
    }
}

/// Records how the event ended on its span.
fn record_outcome(scope: &TraceScope, outcome: &str) {
    if let Some(span) = scope.span() {
        span.record("event.outcome", outcome);
    }
}
