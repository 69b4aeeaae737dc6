//! A component as a supervised actor: each instance starts (instantiation, measured), then
//! handles the records of its mailbox one by one in their handling spans, hands each on to
//! the next component, and records the component metrics. A crash ends the instance with a
//! failure, and the supervisor starts a new one on the same mailbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use alys_telemetry::sources::actors::{
    Actor, ActorFailure, MailboxReceiver, MailboxSender, SendError, StopSignal,
};
use alys_telemetry::sources::catalog::actors::RestartReason;
use fastrand::Rng;
use opentelemetry::trace::Status;
use tokio::sync::Mutex;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::kinds::{ComponentId, FailureType, InstantiationOutcome, Kinds};
use crate::metrics::ComponentMetrics;
use crate::record::Record;
use crate::state::ComponentState;
use crate::work::{self, ComponentError, Faults};

/// A sender into one component's mailbox, speaking for one actor, that keeps the target's
/// count of waiting messages.
#[derive(Clone)]
pub struct Outlet {
    sender: MailboxSender<Record>,
    target: Arc<ComponentState>,
}

/// Why a record did not reach the component it was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Undelivered {
    #[error("the mailbox of {0} is full")]
    Full(ComponentId),
    #[error("{0} no longer takes messages")]
    Closed(ComponentId),
    #[error("the runtime is stopping")]
    Stopping,
}

impl Outlet {
    pub fn new(sender: MailboxSender<Record>, target: Arc<ComponentState>) -> Self {
        Outlet { sender, target }
    }

    /// The component this outlet sends to.
    pub fn target(&self) -> &Arc<ComponentState> {
        &self.target
    }

    /// Sends if the mailbox has room (a full one refuses, counted as back-pressure).
    pub fn try_send(&self, record: Record) -> Result<(), Undelivered> {
        self.target.enqueuing();
        self.sender.try_send(record).map_err(|e| {
            self.target.dequeued();
            self.undelivered(&e)
        })
    }

    /// Sends, waiting for room (counted as back-pressure) unless a stop comes first.
    pub async fn send(&self, record: Record, stop: &mut StopSignal) -> Result<(), Undelivered> {
        self.target.enqueuing();
        let sent = tokio::select! {
            biased;
            _ = stop.stopped() => Err(Undelivered::Stopping),
            sent = self.sender.send(record) => sent.map_err(|e| self.undelivered(&e)),
        };
        if sent.is_err() {
            self.target.dequeued();
        }
        sent
    }

    fn undelivered(&self, e: &SendError<Record>) -> Undelivered {
        match e {
            SendError::Full(_) => Undelivered::Full(self.target.id),
            SendError::Closed(_) => Undelivered::Closed(self.target.id),
        }
    }
}

/// What every instance of one component shares.
pub struct ComponentActor {
    state: Arc<ComponentState>,
    actor: Actor<Kinds>,
    /// The mailbox outlives the instances: a restarted one picks up where the last stopped.
    inbox: Mutex<MailboxReceiver<Record>>,
    next: Option<Outlet>,
    metrics: Arc<ComponentMetrics>,
    faults: Faults,
    instances: AtomicU64,
}

impl ComponentActor {
    pub fn new(
        state: Arc<ComponentState>,
        inbox: MailboxReceiver<Record>,
        next: Option<Outlet>,
        metrics: Arc<ComponentMetrics>,
        faults: Faults,
    ) -> Self {
        ComponentActor {
            state,
            actor: inbox.actor(),
            inbox: Mutex::new(inbox),
            next,
            metrics,
            faults,
            instances: AtomicU64::new(0),
        }
    }

    /// The actor its supervisor runs.
    pub fn actor(&self) -> &Actor<Kinds> {
        &self.actor
    }

    fn id(&self) -> ComponentId {
        self.state.id
    }

    /// One instance: starts, then handles records until a stop, a crash, or the end of its
    /// mailbox.
    pub async fn run(self: Arc<Self>, mut stop: StopSignal) -> Result<(), ActorFailure> {
        self.instantiate().await?;
        let mut inbox = self.inbox.lock().await;
        loop {
            // A stop wins over queued records: once it begins, nothing queued is handled.
            let envelope = tokio::select! {
                biased;
                _ = stop.stopped() => return Ok(()),
                envelope = inbox.recv() => envelope,
            };
            let Some(envelope) = envelope else {
                return Ok(());
            };
            self.state.dequeued();
            let started = Instant::now();
            let handling = stop.clone();
            let result = envelope
                .handle(|record| self.handle(record, handling))
                .await;
            self.finished(started, result)?;
        }
    }

    /// Starts an instance, measured; a restart is counted with what failed before it.
    async fn instantiate(&self) -> Result<(), ActorFailure> {
        let restart = self.instances.fetch_add(1, Ordering::Relaxed) > 0;
        if restart {
            // An instance that ended without saying why panicked: a crash all the same.
            let kind = self.state.restarting().unwrap_or(FailureType::Crash);
            self.metrics.restarts.add((self.id(), kind), 1);
        }
        let started = Instant::now();
        let result = work::instantiate(restart, &self.faults, &mut Rng::new()).await;
        let m = &self.metrics;
        m.instantiation_duration
            .record(self.id(), started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                m.instantiations
                    .add((self.id(), InstantiationOutcome::Succeeded), 1);
                Ok(())
            }
            Err(detail) => {
                m.instantiations
                    .add((self.id(), InstantiationOutcome::Failed), 1);
                self.state.failed(FailureType::Instantiation, &detail);
                Err(ActorFailure::new(
                    RestartReason::Error,
                    format!("instantiation failed: {detail}"),
                ))
            }
        }
    }

    /// Processes `record` inside its handling span, then hands it on.
    async fn handle(&self, mut record: Record, mut stop: StopSignal) -> Result<(), ComponentError> {
        let id = self.id();
        if let Err(e) = work::process(id, &mut record, &self.faults, &mut Rng::new()).await {
            // Inside the handling span (when the record's trace is sampled): the span is
            // marked failed, and its event says why.
            tracing::Span::current().set_status(Status::error(e.to_string()));
            match &e {
                ComponentError::Crash(_) => {
                    tracing::error!(component = id.as_str(), record = record.id, "{e}")
                }
                _ => tracing::warn!(component = id.as_str(), record = record.id, "{e}"),
            }
            return Err(e);
        }
        if let Some(next) = &self.next {
            let to = next.target().id;
            if let Err(e) = next.send(record.forwarded(to), &mut stop).await {
                // Not this component's failure: the next one is gone or the runtime stops.
                tracing::debug!(component = id.as_str(), "not handed on: {e}");
            }
        }
        Ok(())
    }

    /// Records a handled record; a crash ends the instance.
    fn finished(
        &self,
        started: Instant,
        result: Result<(), ComponentError>,
    ) -> Result<(), ActorFailure> {
        let id = self.id();
        self.metrics
            .latency
            .record(id, started.elapsed().as_secs_f64());
        self.state.handled(result.is_ok());
        match result {
            Ok(()) => {
                self.metrics.processed.add(id, 1);
                Ok(())
            }
            Err(e) => {
                self.metrics.errors.add((id, e.error_type()), 1);
                match e {
                    ComponentError::Crash(detail) => {
                        self.state.failed(FailureType::Crash, &detail);
                        Err(ActorFailure::new(RestartReason::Error, detail))
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}
