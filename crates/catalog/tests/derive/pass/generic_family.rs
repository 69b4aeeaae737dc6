//! A family generic over the service's own label enums, as the actor family is.

use alys_telemetry_catalog::instruments::{CounterVec, HistogramVec, LabelValues};
use alys_telemetry_catalog::{LabelValue, MetricFamily, Observed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum ActorKind {
    Chain,
    Engine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum MessageKind {
    Mining,
    Sync,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum MessageOutcome {
    Processed,
    Failed,
}

const WHY: &str = "the actor dashboard queries it";

#[derive(MetricFamily)]
#[family(title = "actors", crate = ::alys_telemetry_catalog)]
struct ActorMetrics<A: LabelValues, M: LabelValues> {
    /// Messages handled by actors, by outcome
    #[metric(
        name = "alys_actor_messages_total",
        labels(actor_type, message_type, outcome),
        why = WHY
    )]
    pub messages: CounterVec<(A, M, MessageOutcome)>,
    /// Time an actor spends processing one message
    #[metric(
        name = "alys_actor_message_latency_seconds",
        unit = "s",
        labels(actor_type),
        buckets = [0.001, 0.01, 0.1],
        why = WHY
    )]
    pub latency: HistogramVec<A>,
    /// Messages waiting in actor mailboxes
    #[metric(name = "alys_actor_mailbox_size", labels(actor_type), why = WHY)]
    mailbox_size: Observed<alys_telemetry_catalog::instruments::GaugeVec<A>>,
}

fn main() {
    type Node = ActorMetrics<ActorKind, MessageKind>;
    assert_eq!(Node::MESSAGES.combinations, Some(2 * 3 * 2));
    assert_eq!(Node::MESSAGES.labels, ["actor_type", "message_type", "outcome"]);
    assert_eq!(Node::MAILBOX_SIZE.combinations, Some(2));
    let family = <Node as MetricFamily>::FAMILY;
    assert_eq!(family.metrics.len(), 3);
    let actors = Node::new(&opentelemetry::global::meter("test"));
    actors
        .messages
        .add((ActorKind::Engine, MessageKind::Custom, MessageOutcome::Failed), 1);
    actors.latency.record(ActorKind::Chain, 0.004);
}
