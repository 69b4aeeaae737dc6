//! The executor's state behind its lock: the jobs, the events they belong to, the ended
//! events kept for a while and the dead letters; and a job as the queue carries it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alys_telemetry::sources::traces::TraceScope;
use opentelemetry::Context;
use opentelemetry::trace::SpanContext;

use super::{ExecutorConfig, JobState};
use crate::checkpoint::{DeadLetter, JobId};
use crate::metrics::{ActionKind, EventOutcome};

/// A job in the queue, with the context its attempt continues.
pub(super) struct Queued {
    pub(super) job: JobId,
    pub(super) trace: Context,
}

pub(super) struct Job {
    pub(super) id: JobId,
    pub(super) event_id: String,
    pub(super) action: ActionKind,
    pub(super) state: JobState,
    pub(super) attempts: u32,
    pub(super) last_error: Option<String>,
    pub(super) result: Option<String>,
    pub(super) from_cache: bool,
    /// The last attempt's span, which the next attempt links to.
    pub(super) last_attempt: Option<SpanContext>,
}

pub(super) struct EventRecord {
    pub(super) id: String,
    pub(super) event_type: String,
    pub(super) entity: String,
    pub(super) payload: Arc<serde_json::Value>,
    pub(super) accepted_at_ms: u64,
    pub(super) started: Instant,
    pub(super) jobs: Vec<JobId>,
    pub(super) remaining: usize,
    pub(super) dead_lettered: bool,
    pub(super) outcome: Option<EventOutcome>,
    /// The context its jobs' attempts continue.
    pub(super) trace: Context,
    /// Its span, open until its last job ends (none after a recovery).
    pub(super) scope: Option<TraceScope>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) next_job: JobId,
    pub(super) jobs: HashMap<JobId, Job>,
    pub(super) events: HashMap<String, EventRecord>,
    /// Ended events, oldest first: forgotten with their jobs beyond the retention.
    pub(super) ended: VecDeque<String>,
    pub(super) dead_letters: VecDeque<DeadLetter>,
    pub(super) in_flight: usize,
}

impl State {
    pub(super) fn add_job(&mut self, event_id: &str, action: ActionKind) -> JobId {
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
    pub(super) fn job_ended(
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
    pub(super) fn keep_ended(&mut self, event_id: String, config: &ExecutorConfig) {
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
