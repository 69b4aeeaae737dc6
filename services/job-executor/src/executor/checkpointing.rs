//! Checkpoints: the state they keep (the events and jobs not yet ended, the dead letters),
//! saved periodically and at the stop, and taken back in at the next start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::Context;

use super::state::{EventRecord, Job, Queued, State};
use super::{Executor, JobState, millis, now_ms};
use crate::checkpoint::{self, CheckpointError, PendingEvent, PendingJob, Snapshot};
use crate::metrics::{RecoveryOutcome, TaskKind};

impl Executor {
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

    /// Saves a checkpoint every interval until the executor stops.
    pub(super) async fn checkpoint_periodically(self) {
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
        let queued = self.state().restore(snapshot);
        let executor = self.clone();
        self.inner.tasks.spawn(TaskKind::Checkpointer, async move {
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
}

impl State {
    /// Takes a checkpoint's events, pending jobs and dead letters in; the jobs come back, to
    /// be queued again.
    fn restore(&mut self, snapshot: Snapshot) -> Vec<Queued> {
        let mut queued = Vec::new();
        self.next_job = self.next_job.max(snapshot.next_job);
        let now = now_ms();
        for event in snapshot.events {
            let id = event.id.clone();
            self.events.insert(id, recovered(event, now));
        }
        for pending in snapshot.jobs {
            let Some(event) = self.events.get_mut(&pending.event_id) else {
                continue;
            };
            event.remaining += 1;
            let trace = event.trace.clone();
            self.jobs.insert(
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
        self.events.retain(|_, e| e.remaining > 0);
        self.in_flight = self.events.len();
        self.dead_letters.extend(snapshot.dead_letters);
        queued
    }
}

/// A checkpoint's event as the state keeps it, `now` (ms since the epoch) at its recovery:
/// its age carries over, its trace continues, its span is not reopened and its jobs count
/// as they are taken back in.
fn recovered(event: PendingEvent, now: u64) -> EventRecord {
    let age = Duration::from_millis(now.saturating_sub(event.accepted_at_ms));
    EventRecord {
        id: event.id,
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
    }
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
