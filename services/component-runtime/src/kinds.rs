//! The service's closed sets of label values: its components, the kinds of actor and of
//! message its actor system is labelled by, and the outcomes its metrics count. Each is an
//! enum with `#[derive(LabelValue)]`, so no free string ever becomes a label.

use std::str::FromStr;

use alys_telemetry::sources::catalog::LabelValue;
use serde::{Deserialize, Serialize};

/// A component of the pipeline (`component`): source → parser → enricher → sink. Its id in
/// the API is its label value.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ComponentId {
    /// Takes messages in from outside and stamps them.
    Source,
    /// A transformer: turns a raw payload into fields.
    Parser,
    /// A transformer: adds reference data to the fields.
    Enricher,
    /// Delivers the finished record.
    Sink,
}

impl ComponentId {
    /// The component the pipeline hands a message to after this one (none after the sink).
    pub fn next(self) -> Option<ComponentId> {
        match self {
            ComponentId::Source => Some(ComponentId::Parser),
            ComponentId::Parser => Some(ComponentId::Enricher),
            ComponentId::Enricher => Some(ComponentId::Sink),
            ComponentId::Sink => None,
        }
    }

    /// The component's kind of actor.
    pub fn actor_kind(self) -> ActorKind {
        match self {
            ComponentId::Source => ActorKind::Source,
            ComponentId::Parser => ActorKind::Parser,
            ComponentId::Enricher => ActorKind::Enricher,
            ComponentId::Sink => ActorKind::Sink,
        }
    }

    /// The kind of message the component handles.
    pub fn work(self) -> Work {
        match self {
            ComponentId::Source => Work::Ingest,
            ComponentId::Parser => Work::Parse,
            ComponentId::Enricher => Work::Enrich,
            ComponentId::Sink => Work::Deliver,
        }
    }

    /// The ids, comma-separated, for messages that list them.
    pub fn known() -> String {
        ComponentId::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One value per component, reached by its id: no index that could be out of range.
#[derive(Debug, Clone)]
pub struct PerComponent<T> {
    source: T,
    parser: T,
    enricher: T,
    sink: T,
}

impl<T> PerComponent<T> {
    /// `make(id)` for each component, in pipeline order.
    pub fn build(mut make: impl FnMut(ComponentId) -> T) -> Self {
        PerComponent {
            source: make(ComponentId::Source),
            parser: make(ComponentId::Parser),
            enricher: make(ComponentId::Enricher),
            sink: make(ComponentId::Sink),
        }
    }

    /// The value of component `id`.
    pub fn get(&self, id: ComponentId) -> &T {
        match id {
            ComponentId::Source => &self.source,
            ComponentId::Parser => &self.parser,
            ComponentId::Enricher => &self.enricher,
            ComponentId::Sink => &self.sink,
        }
    }

    /// Every value with its component, in pipeline order.
    pub fn iter(&self) -> impl Iterator<Item = (ComponentId, &T)> {
        ComponentId::ALL.iter().map(|id| (*id, self.get(*id)))
    }
}

/// A component id that names no component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no component {given:?}: the components are {known}", known = ComponentId::known())]
pub struct UnknownComponent {
    pub given: String,
}

impl FromStr for ComponentId {
    type Err = UnknownComponent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComponentId::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownComponent {
                given: s.to_string(),
            })
    }
}

/// The service's kinds of actor (`actor_type`, `from_actor`, `to_actor`, `supervisor`): the
/// four components, the API that speaks to them, and their supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
pub enum ActorKind {
    /// The HTTP API: it injects messages into the pipeline.
    Api,
    /// The supervisor that restarts failed components.
    Supervisor,
    Source,
    Parser,
    Enricher,
    Sink,
}

/// The service's kinds of message (`message_type`): what the receiving component does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
pub enum Work {
    Ingest,
    Parse,
    Enrich,
    Deliver,
}

/// The kinds the service's actor system is labelled by.
pub type Kinds = (ActorKind, Work);

/// Why a component could not process a message (`error_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
pub enum ErrorType {
    /// The payload is not `key=value` pairs (parser).
    InvalidPayload,
    /// The record names no sensor the reference data knows (enricher).
    MissingReference,
    /// The delivery did not finish within its deadline (sink).
    Timeout,
    /// The component failed while processing; its supervisor restarts it.
    Crash,
}

/// Why a component had to be restarted (`failure_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    /// It failed while processing a message.
    Crash,
    /// A restarted instance failed to come up.
    Instantiation,
}

/// How starting an instance of a component ended (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
pub enum InstantiationOutcome {
    Succeeded,
    Failed,
}

/// A component's health, as the seed's health interface names it (`status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthLevel {
    /// Operating normally.
    Healthy,
    /// Functioning, with issues.
    Degraded,
    /// Not functioning.
    Unhealthy,
}

/// The service's kinds of task (`task`), measured by the library's task monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
pub enum TaskKind {
    /// The HTTP API's server.
    Api,
    /// The load generator that drives the service over HTTP.
    Driver,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_from_their_labels_and_unknown_ones_are_named() {
        for id in ComponentId::ALL {
            assert_eq!(id.as_str().parse::<ComponentId>(), Ok(*id));
        }
        let err = "mixer".parse::<ComponentId>().unwrap_err().to_string();
        assert!(err.contains("\"mixer\""), "{err}");
        assert!(err.contains("source, parser, enricher, sink"), "{err}");
    }

    #[test]
    fn the_pipeline_runs_source_to_sink() {
        let mut order = vec![ComponentId::Source];
        while let Some(next) = order.last().and_then(|c| c.next()) {
            order.push(next);
        }
        assert_eq!(order, ComponentId::ALL);
        assert_eq!(ComponentId::Enricher.work().as_str(), "enrich");
        assert_eq!(ComponentId::Sink.actor_kind().as_str(), "sink");
    }
}
