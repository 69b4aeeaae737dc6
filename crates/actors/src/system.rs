//! The actor system's telemetry: its instruments (bound once per label combination), the
//! registry of actors, and what is computed at collection time rather than per message
//! (mailbox depth, throughput, health).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;

use super::health::{ActorWindow, CountHistory, SystemHealth, system_health};
use crate::kinds::{ActorKinds, LabelTable};
use alys_telemetry_catalog::actors::{ActorMetrics, LifecycleState};
use alys_telemetry_catalog::instruments::{LabelValues, attributes};
use alys_telemetry_core::health::{CheckResult, HealthRegistry};

/// The window of throughput and health.
pub const HEALTH_WINDOW: Duration = Duration::from_secs(60);

/// One registered actor: what the hot path counts and what collection reads.
pub(crate) struct ActorEntry<K: ActorKinds> {
    /// Shared, not owned: every sampled handling span carries it, and a span is cloned for
    /// the viewer's store; an `Arc` is a count to raise where a `String` is an allocation.
    pub name: Arc<str>,
    pub actor_type: K::Actor,
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    state: AtomicU8,
    /// Messages waiting in its mailbox, read from the channel itself at collection.
    pub depth: Box<dyn Fn() -> usize + Send + Sync>,
    history: Mutex<CountHistory>,
}

impl<K: ActorKinds> ActorEntry<K> {
    pub fn state(&self) -> LifecycleState {
        LifecycleState::ALL
            .get(self.state.load(Ordering::Relaxed) as usize)
            .copied()
            .unwrap_or(LifecycleState::Failed)
    }

    pub fn set_state(&self, state: LifecycleState) -> LifecycleState {
        let previous = self.state.swap(state.index() as u8, Ordering::Relaxed);
        LifecycleState::ALL
            .get(previous as usize)
            .copied()
            .unwrap_or(LifecycleState::Failed)
    }

    /// Counts one handled message, processed when `ok`, failed when not.
    #[inline]
    pub fn count(&self, ok: bool) {
        let counter = if ok { &self.processed } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn window(&self, now: Instant) -> ActorWindow {
        let processed = self.processed.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let (p, f, _) = self
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(now, processed, failed);
        ActorWindow {
            processed: p,
            failed: f,
            running: matches!(
                self.state(),
                LifecycleState::Running | LifecycleState::Spawning | LifecycleState::Recovering
            ),
        }
    }
}

pub(crate) struct Inner<K: ActorKinds> {
    pub metrics: ActorMetrics<K::Actor, K::Message>,
    /// The label strings of the kinds, for span attributes and names.
    pub actor_labels: LabelTable,
    pub message_labels: LabelTable,
    actors: Mutex<Vec<Arc<ActorEntry<K>>>>,
    throughput: Mutex<Vec<(K::Actor, CountHistory)>>,
}

/// The telemetry of one actor system, labelled by the service's own [`ActorKinds`]: create it
/// once, after `Telemetry::init`, and make every mailbox and supervisor from it. Cloning
/// shares it.
pub struct ActorSystem<K: ActorKinds> {
    pub(crate) inner: Arc<Inner<K>>,
}

impl<K: ActorKinds> Clone for ActorSystem<K> {
    fn clone(&self) -> Self {
        ActorSystem {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: ActorKinds> ActorSystem<K> {
    /// Builds the instruments on `meter` and registers the gauges computed at collection.
    pub fn new(meter: &Meter) -> Self {
        let inner = Arc::new(Inner {
            metrics: ActorMetrics::new(meter),
            actor_labels: LabelTable::of::<K::Actor>(),
            message_labels: LabelTable::of::<K::Message>(),
            actors: Mutex::new(Vec::new()),
            throughput: Mutex::new(
                K::Actor::every()
                    .map(|t| (t, CountHistory::new(HEALTH_WINDOW)))
                    .collect(),
            ),
        });
        register_gauges(&inner, meter);
        ActorSystem { inner }
    }

    pub(crate) fn register(
        &self,
        name: &str,
        actor_type: K::Actor,
        depth: Box<dyn Fn() -> usize + Send + Sync>,
    ) -> Arc<ActorEntry<K>> {
        let entry = Arc::new(ActorEntry {
            name: Arc::from(name),
            actor_type,
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            state: AtomicU8::new(LifecycleState::Running.index() as u8),
            depth,
            history: Mutex::new(CountHistory::new(HEALTH_WINDOW)),
        });
        self.inner
            .actors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry.clone());
        entry
    }

    /// Records whether `actor`'s dependency is healthy.
    pub fn set_dependency_health(&self, actor: K::Actor, dependency: K::Actor, healthy: bool) {
        self.inner
            .metrics
            .dependency_health
            .set((actor, dependency), if healthy { 1.0 } else { 0.0 });
    }

    /// The system's health over the window ending now.
    pub fn health(&self) -> SystemHealth {
        self.inner.health(Instant::now())
    }

    /// Registers the `actors` check on `/health`: healthy, or unhealthy with the reason.
    pub fn register_health(&self, registry: &HealthRegistry) {
        let system = self.clone();
        registry.register("actors", Duration::from_millis(250), move || {
            let h = system.health();
            async move {
                let detail = format!(
                    "{}/{} actors healthy, {:.1} % of messages succeeded",
                    h.healthy_actors,
                    h.total_actors,
                    h.success_rate * 100.0
                );
                if h.healthy {
                    CheckResult::healthy(detail)
                } else {
                    CheckResult::unhealthy(detail)
                }
            }
        });
    }
}

impl<K: ActorKinds> Inner<K> {
    fn actors(&self) -> Vec<Arc<ActorEntry<K>>> {
        self.actors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn windows(&self, now: Instant) -> Vec<(K::Actor, ActorWindow)> {
        self.actors()
            .iter()
            .map(|a| (a.actor_type, a.window(now)))
            .collect()
    }

    fn health(&self, now: Instant) -> SystemHealth {
        let windows: Vec<ActorWindow> = self.windows(now).into_iter().map(|(_, w)| w).collect();
        system_health(&windows)
    }

    /// Messages per second per actor type over the window.
    fn throughput(&self, now: Instant) -> Vec<(K::Actor, f64)> {
        let actors = self.actors();
        let mut histories = self.throughput.lock().unwrap_or_else(|e| e.into_inner());
        histories
            .iter_mut()
            .filter(|(t, _)| actors.iter().any(|a| a.actor_type == *t))
            .map(|(t, history)| {
                let total: u64 = actors
                    .iter()
                    .filter(|a| a.actor_type == *t)
                    .map(|a| a.processed.load(Ordering::Relaxed) + a.failed.load(Ordering::Relaxed))
                    .sum();
                let (n, _, span) = history.observe(now, total, 0);
                let rate = if span.is_zero() {
                    0.0
                } else {
                    n as f64 / span.as_secs_f64()
                };
                (*t, rate)
            })
            .collect()
    }
}

/// Gauges whose values are computed when metrics are collected, not per message.
fn register_gauges<K: ActorKinds>(inner: &Arc<Inner<K>>, meter: &Meter) {
    let def = ActorMetrics::<K::Actor, K::Message>::MAILBOX_SIZE;
    let i = Arc::clone(inner);
    def.observe_f64_gauge(meter, move |obs| {
        let actors = i.actors();
        for t in K::Actor::every() {
            let mine: Vec<_> = actors.iter().filter(|a| a.actor_type == t).collect();
            if !mine.is_empty() {
                let depth: usize = mine.iter().map(|a| (a.depth)()).sum();
                obs.observe(depth as f64, &attributes(&def, t));
            }
        }
    });
    let def = ActorMetrics::<K::Actor, K::Message>::THROUGHPUT;
    let i = Arc::clone(inner);
    def.observe_f64_gauge(meter, move |obs| {
        for (t, rate) in i.throughput(Instant::now()) {
            obs.observe(rate, &attributes(&def, t));
        }
    });
    let def = ActorMetrics::<K::Actor, K::Message>::SUCCESS_RATE;
    let i = Arc::clone(inner);
    def.observe_f64_gauge(meter, move |obs| {
        let windows = i.windows(Instant::now());
        for t in K::Actor::every() {
            let mine: Vec<ActorWindow> = windows
                .iter()
                .filter(|(at, _)| *at == t)
                .map(|(_, w)| *w)
                .collect();
            if !mine.is_empty() {
                let rate = system_health(&mine).success_rate;
                obs.observe(rate, &attributes(&def, t));
            }
        }
    });
    register_system_gauges(inner, meter);
}

/// The gauges of the system as a whole.
fn register_system_gauges<K: ActorKinds>(inner: &Arc<Inner<K>>, meter: &Meter) {
    type Defs<K> = ActorMetrics<<K as ActorKinds>::Actor, <K as ActorKinds>::Message>;
    let i = Arc::clone(inner);
    Defs::<K>::SYSTEM_HEALTHY.observe_f64_gauge(meter, move |obs| {
        let healthy = i.health(Instant::now()).healthy;
        obs.observe(if healthy { 1.0 } else { 0.0 }, &[]);
    });
    let i = Arc::clone(inner);
    Defs::<K>::HEALTHY_COUNT.observe_f64_gauge(meter, move |obs| {
        obs.observe(i.health(Instant::now()).healthy_actors as f64, &[])
    });
    let i = Arc::clone(inner);
    Defs::<K>::TOTAL_COUNT
        .observe_f64_gauge(meter, move |obs| obs.observe(i.actors().len() as f64, &[]));
}
