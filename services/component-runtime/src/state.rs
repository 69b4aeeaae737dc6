//! What the runtime knows of each component between its instances: its counts, the messages
//! waiting for it, its last failure, its activity over the health window, and its actor's
//! lifecycle state. Instances come and go (the supervisor restarts them); this stays.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use alys_telemetry::sources::actors::health::CountHistory;
use alys_telemetry::sources::actors::{Actor, HEALTH_WINDOW};
use alys_telemetry::sources::catalog::actors::LifecycleState;
use serde::Serialize;

use crate::health::{Activity, Assessment, assess};
use crate::kinds::{ComponentId, FailureType, HealthLevel, Kinds};

/// One component's standing state.
pub struct ComponentState {
    pub id: ComponentId,
    actor: Actor<Kinds>,
    processed: AtomicU64,
    errors: AtomicU64,
    restarts: AtomicU64,
    /// Messages sent (or being sent) to it and not yet received: see [`Self::enqueuing`].
    waiting: AtomicI64,
    last_failure: Mutex<Option<Failure>>,
    window: Mutex<CountHistory>,
}

/// Why the last instance of a component failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    #[serde(rename = "type")]
    pub kind: FailureType,
    pub detail: String,
}

/// A component as `GET /components` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: ComponentId,
    /// The next component, where it hands its messages on.
    pub next: Option<ComponentId>,
    /// Its actor's lifecycle state.
    pub state: &'static str,
    pub health: HealthLevel,
    pub health_detail: String,
    pub processed: u64,
    pub errors: u64,
    pub restarts: u64,
    pub queue_depth: u64,
    pub last_failure: Option<Failure>,
}

impl ComponentState {
    pub fn new(id: ComponentId, actor: Actor<Kinds>) -> Self {
        ComponentState {
            id,
            actor,
            processed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            waiting: AtomicI64::new(0),
            last_failure: Mutex::new(None),
            window: Mutex::new(CountHistory::new(HEALTH_WINDOW)),
        }
    }

    /// Where its actor is in its life (running, restarting, stopped, …).
    pub fn lifecycle(&self) -> LifecycleState {
        self.actor.state()
    }

    /// Counts one message handled: processed when `ok`, an error when not.
    pub fn handled(&self, ok: bool) {
        let counter = if ok { &self.processed } else { &self.errors };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes the failure that ended an instance.
    pub fn failed(&self, kind: FailureType, detail: impl Into<String>) {
        let failure = Failure {
            kind,
            detail: detail.into(),
        };
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure);
    }

    /// The failure that ended the last instance, noted as a restart of it begins.
    pub fn restarting(&self) -> Option<FailureType> {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        self.last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|f| f.kind)
    }

    /// A message is about to be sent to it. Counted before the send, so that the count is
    /// never below what its mailbox holds: a message is waiting from the moment its sender
    /// tries, and a sender blocked on a full mailbox is waiting too.
    pub fn enqueuing(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// A send counted by [`Self::enqueuing`] did not deliver, or a message was received.
    pub fn dequeued(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    /// Messages waiting for it.
    pub fn queue_depth(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed).max(0) as u64
    }

    /// Its health now, from its lifecycle state and its activity over the window.
    pub fn health(&self) -> Assessment {
        let activity = self.activity(Instant::now());
        let failure = self
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assess(self.lifecycle(), activity, failure.as_ref())
    }

    fn activity(&self, now: Instant) -> Activity {
        let processed = self.processed.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let (processed, errors, _) = self
            .window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(now, processed, errors);
        Activity { processed, errors }
    }

    /// What `GET /components` shows of it.
    pub fn snapshot(&self) -> Snapshot {
        let health = self.health();
        Snapshot {
            id: self.id,
            next: self.id.next(),
            state: self.lifecycle().as_str(),
            health: health.level,
            health_detail: health.detail,
            processed: self.processed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            queue_depth: self.queue_depth(),
            last_failure: self
                .last_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
