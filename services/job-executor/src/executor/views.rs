//! What the executor shows of itself: its jobs and events while they are kept, the queue's
//! fill and the dead letters.

use super::{EventView, Executor, JobView, trace_id};
use crate::checkpoint::{DeadLetter, JobId};

impl Executor {
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
}
