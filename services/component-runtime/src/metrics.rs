//! The component family: the seed's metrics under the seed's names and labels, declared once
//! with `#[derive(MetricFamily)]`, and the callbacks that compute the observed ones (queue
//! depth, health, lifecycle state) from the components at each collection.

use std::sync::Arc;

use alys_telemetry::sources::catalog::actors::LifecycleState;
use alys_telemetry::sources::catalog::instruments::{
    CounterVec, GaugeVec, HistogramVec, LabelValues, attributes,
};
use alys_telemetry::sources::catalog::{MetricFamily, Observed};
use opentelemetry::metrics::Meter;

use crate::kinds::{ComponentId, ErrorType, FailureType, HealthLevel, InstantiationOutcome};
use crate::state::ComponentState;

/// The seed's Prometheus export (WASM-TASK-010, "Prometheus Integration") shows it.
const SEED_EXPORT: &str =
    "the seed's Prometheus export (WASM-TASK-010) shows it; existing dashboards query it";

/// What every component of the runtime records, by `component`.
#[derive(MetricFamily)]
#[family(title = "components")]
pub struct ComponentMetrics {
    /// Messages a component processed successfully
    #[metric(
        name = "component_messages_processed_total",
        labels(component),
        why = "the seed's Prometheus export shows it as `component_messages_processed` with \
               TYPE counter; a counter's samples end in `_total` (OpenMetrics, and the build's \
               naming rule), so the pull exposition writes `component_messages_processed_total` \
               while OTLP carries the seed's name as is; a gauge under the seed's name would \
               lie about a count that only grows"
    )]
    pub processed: CounterVec<ComponentId>,
    /// Time a component takes to process one message, from receipt to hand-off
    #[metric(
        name = "component_processing_latency_seconds",
        unit = "s",
        labels(component),
        buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
        why = SEED_EXPORT
    )]
    pub latency: HistogramVec<ComponentId>,
    /// Messages a component could not process, by error type
    #[metric(
        name = "component_errors_total",
        labels(component, error_type),
        why = "the seed's error rate metrics (task 1.3) are by error type"
    )]
    pub errors: CounterVec<(ComponentId, ErrorType)>,
    /// Restarts of a component by its supervisor, by what failed
    #[metric(
        name = "component_restarts_total",
        labels(component, failure_type),
        why = "the seed's supervision metrics (task 2.1): restart counts and failure types"
    )]
    pub restarts: CounterVec<(ComponentId, FailureType)>,
    /// Instances of a component started, by outcome
    #[metric(
        name = "component_instantiations_total",
        labels(component, outcome),
        why = "the seed's instantiation metrics (task 2.2): their success rate"
    )]
    pub instantiations: CounterVec<(ComponentId, InstantiationOutcome)>,
    /// Time to start an instance of a component
    #[metric(
        name = "component_instantiation_duration_seconds",
        unit = "s",
        labels(component),
        buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
        why = "the seed's instantiation metrics (task 2.2): their time"
    )]
    pub instantiation_duration: HistogramVec<ComponentId>,
    /// Messages waiting for a component: queued in its mailbox, or blocked sending into it
    #[metric(
        name = "component_queue_depth",
        labels(component),
        why = "the seed's mailbox metrics (task 2.1): queue depth, for back-pressure"
    )]
    pub queue_depth: Observed<GaugeVec<ComponentId>>,
    /// 1 for a component's current health status (healthy, degraded, unhealthy), else 0
    #[metric(
        name = "component_health_status",
        labels(component, status),
        why = "the seed's health status enum (task 3.1); its component_unhealthy alert \
               selects status=\"unhealthy\""
    )]
    pub health: Observed<GaugeVec<(ComponentId, HealthLevel)>>,
    /// 1 for a component's current lifecycle state, else 0
    #[metric(
        name = "component_state",
        labels(component, state),
        why = "the seed's lifecycle metrics (task 2.1, spawns and shutdowns): which components \
               run, restart or stay stopped"
    )]
    pub state: Observed<GaugeVec<(ComponentId, LifecycleState)>>,
}

/// Registers the callbacks of the observed metrics, which read `components` at each
/// collection: nothing is recorded per message for them.
pub fn observe(meter: &Meter, components: &Arc<[Arc<ComponentState>]>) {
    let def = ComponentMetrics::QUEUE_DEPTH;
    let all = Arc::clone(components);
    def.observe_f64_gauge(meter, move |obs| {
        for c in all.iter() {
            obs.observe(c.queue_depth() as f64, &attributes(&def, c.id));
        }
    });
    let def = ComponentMetrics::HEALTH;
    let all = Arc::clone(components);
    def.observe_f64_gauge(meter, move |obs| {
        for c in all.iter() {
            let now = c.health().level;
            for level in HealthLevel::every() {
                let value = if level == now { 1.0 } else { 0.0 };
                obs.observe(value, &attributes(&def, (c.id, level)));
            }
        }
    });
    let def = ComponentMetrics::STATE;
    let all = Arc::clone(components);
    def.observe_f64_gauge(meter, move |obs| {
        for c in all.iter() {
            let now = c.lifecycle();
            for state in LifecycleState::every() {
                let value = if state == now { 1.0 } else { 0.0 };
                obs.observe(value, &attributes(&def, (c.id, state)));
            }
        }
    });
}

/// The families the service exports, in the order its catalogue page lists them.
pub fn families() -> [alys_telemetry::sources::catalog::Family; 4] {
    use crate::kinds::{ActorKind, TaskKind, Work};
    use alys_telemetry::sources::catalog::actors::ActorMetrics;
    use alys_telemetry::sources::catalog::tasks::TaskMetrics;
    use alys_telemetry::sources::http::server::HttpServerMetrics;
    [
        <ComponentMetrics as MetricFamily>::FAMILY,
        <ActorMetrics<ActorKind, Work> as MetricFamily>::FAMILY,
        <HttpServerMetrics as MetricFamily>::FAMILY,
        <TaskMetrics<TaskKind> as MetricFamily>::FAMILY,
    ]
}
