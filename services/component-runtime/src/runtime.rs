//! The runtime: the service's actor system (its own kinds), one metered mailbox and one
//! supervised actor per component, wired source → parser → enricher → sink, and the way in
//! from outside (the API speaks to any component as the `api` actor).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alys_telemetry::health::HealthRegistry;
use alys_telemetry::sources::actors::{
    ActorSystem, ChildHandle, RestartPolicy, Supervisor, TraceMode,
};
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::catalog::actors::LifecycleState;
use opentelemetry::metrics::Meter;

use crate::actor::{ComponentActor, Outlet, Undelivered};
use crate::kinds::{ActorKind, ComponentId, Kinds, PerComponent};
use crate::metrics::{self, ComponentMetrics};
use crate::record::Record;
use crate::state::{ComponentState, Snapshot};
use crate::work::Faults;

/// How the runtime runs its components.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuntimeOptions {
    /// Records each component's mailbox holds.
    pub mailbox_capacity: usize,
    pub faults: Faults,
    pub policy: RestartPolicy,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            mailbox_capacity: 256,
            faults: Faults::NONE,
            // Generous: a component that fails now and then keeps being restarted quickly;
            // one that fails ten times in half a minute is broken, and stays stopped.
            policy: RestartPolicy {
                max_restarts: 10,
                within: Duration::from_secs(30),
                backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
            },
        }
    }
}

/// A record to put into the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injection {
    pub payload: String,
    pub fields: BTreeMap<String, String>,
    pub crash_at: Option<ComponentId>,
}

/// Why a record was not taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    #[error("{0} is stopped: its supervisor gave up on it")]
    Stopped(ComponentId),
    #[error(transparent)]
    Undelivered(#[from] Undelivered),
}

/// The running components. Made once, inside a Tokio runtime; shared by the API.
pub struct Runtime {
    components: PerComponent<Arc<ComponentState>>,
    /// The way in, one per component, each speaking as the `api` actor.
    inlets: PerComponent<Outlet>,
    children: Mutex<Vec<ChildHandle>>,
    next_id: AtomicU64,
}

impl Runtime {
    /// Builds the actor system on `meter`, registers the health checks (the library's
    /// `actors` check and one per component) on `health`, and starts every component under
    /// one supervisor.
    pub fn start(meter: &Meter, health: &HealthRegistry, options: RuntimeOptions) -> Arc<Runtime> {
        let system = ActorSystem::<Kinds>::new(meter);
        system.register_health(health);
        // One mailbox per component. Every hop continues the sender's trace
        // (`TraceMode::Child`): a record is one trace from the API to the sink.
        let mut receivers = Vec::with_capacity(ComponentId::ALL.len());
        let mailboxes = PerComponent::build(|id| {
            let (mailbox, receiver) = system.mailbox::<Record>(
                id.as_str(),
                id.actor_kind(),
                options.mailbox_capacity,
                TraceMode::Child,
            );
            receivers.push((id, receiver));
            mailbox
        });
        let components = PerComponent::build(|id| {
            Arc::new(ComponentState::new(id, mailboxes.get(id).actor().clone()))
        });
        let all: Arc<[Arc<ComponentState>]> =
            components.iter().map(|(_, c)| Arc::clone(c)).collect();
        metrics::observe(meter, &all);
        crate::health::register(health, &all);
        let api = system.actor("api", ActorKind::Api);
        let inlets = PerComponent::build(|id| {
            Outlet::new(mailboxes.get(id).from(&api), Arc::clone(components.get(id)))
        });
        let family = Arc::new(ComponentMetrics::new(meter));
        let supervisor = Supervisor::new(&system, ActorKind::Supervisor, options.policy);
        let children = receivers
            .into_iter()
            .map(|(id, receiver)| {
                let actor = receiver.actor();
                // It speaks to the next component as itself.
                let next = id.next().map(|n| {
                    Outlet::new(mailboxes.get(n).from(&actor), Arc::clone(components.get(n)))
                });
                let state = Arc::clone(components.get(id));
                let component =
                    ComponentActor::new(state, receiver, next, Arc::clone(&family), options.faults);
                supervise(&supervisor, component)
            })
            .collect();
        Arc::new(Runtime {
            components,
            inlets,
            children: Mutex::new(children),
            next_id: AtomicU64::new(1),
        })
    }

    /// Puts a record into the pipeline at component `at`; returns its id. A full mailbox
    /// refuses rather than holding the caller.
    pub fn inject(&self, at: ComponentId, injection: Injection) -> Result<u64, InjectError> {
        let inlet = self.inlets.get(at);
        if inlet.target().lifecycle() == LifecycleState::Stopped {
            return Err(InjectError::Stopped(at));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        inlet.try_send(Record {
            id,
            payload: injection.payload,
            fields: injection.fields,
            crash_at: injection.crash_at,
            stage: at,
        })?;
        Ok(id)
    }

    /// Every component as it is now, source first.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.components.iter().map(|(_, c)| c.snapshot()).collect()
    }

    /// Component `id` as it is now.
    pub fn snapshot(&self, id: ComponentId) -> Snapshot {
        self.components.get(id).snapshot()
    }

    /// Stops every component and waits for each (the caller bounds the wait).
    pub async fn stop(&self) {
        let children =
            std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner()));
        let mut stopping = tokio::task::JoinSet::new();
        for child in children {
            stopping.spawn(child.stop());
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// Runs `component` under `supervisor`: each (re)start is a fresh instance on the same
/// mailbox.
fn supervise(supervisor: &Supervisor<Kinds>, component: ComponentActor) -> ChildHandle {
    let actor = component.actor().clone();
    let component = Arc::new(component);
    supervisor.supervise(&actor, move |stop| Arc::clone(&component).run(stop))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alys_test_support::metrics::Registry;
    use alys_test_support::wait_until_async;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_flow_and_a_crashed_component_is_restarted_in_process() {
        let metrics = Registry::new();
        let health = HealthRegistry::new();
        let runtime = Runtime::start(&metrics.meter(), &health, RuntimeOptions::default());
        let record = |payload: &str, crash_at| Injection {
            payload: payload.into(),
            crash_at,
            ..Injection::default()
        };
        let crashing = record("sensor=s1 a=1", Some(ComponentId::Parser));
        runtime.inject(ComponentId::Source, crashing).unwrap();
        let good = record("sensor=s2 a=2", None);
        runtime.inject(ComponentId::Source, good).unwrap();
        let delivered = || runtime.snapshot(ComponentId::Sink).processed == 1;
        wait_until_async(
            "the good record at the sink",
            Duration::from_secs(10),
            delivered,
        )
        .await;

        let parser = runtime.snapshot(ComponentId::Parser);
        assert_eq!(
            (parser.restarts, parser.errors, parser.processed),
            (1, 1, 1)
        );
        assert_eq!(parser.state, "running");
        let crashes = [("component", "parser"), ("failure_type", "crash")];
        assert_eq!(
            metrics.value("component_restarts_total", &crashes),
            Some(1.0)
        );
        let report = health.report().await;
        let checks: Vec<&str> = report.checks.keys().map(String::as_str).collect();
        assert_eq!(
            checks,
            [
                "actors",
                "component.enricher",
                "component.parser",
                "component.sink",
                "component.source"
            ]
        );
        runtime.stop().await;
        assert_eq!(runtime.snapshot(ComponentId::Source).state, "stopped");
        let refused = runtime.inject(ComponentId::Source, record("a=1", None));
        assert_eq!(refused, Err(InjectError::Stopped(ComponentId::Source)));
    }
}
