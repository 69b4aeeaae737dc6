//! The label sets an actor system is measured by: the service's own kinds of actor and of
//! message. The library knows none of them; each service declares its enums (with
//! `#[derive(LabelValue)]`) and names the pair as its system's kinds.

use std::fmt::Debug;

use alys_telemetry_catalog::instruments::LabelValues;

/// What an [`ActorSystem`](crate::ActorSystem) labels its metrics and spans with: the
/// `actor_type` values (also `from_actor`, `to_actor`, `supervisor`, `child_actor`) and the
/// `message_type` values. Any pair of label enums is a set of kinds:
///
/// ```
/// use alys_telemetry_actors::ActorSystem;
/// use alys_telemetry_catalog::LabelValue;
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
/// #[label(crate = ::alys_telemetry_catalog)] // a service on alys-telemetry leaves it out
/// enum Component { Ingest, Index }
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
/// #[label(crate = ::alys_telemetry_catalog)] // a service on alys-telemetry leaves it out
/// enum Work { Event, Query }
///
/// type Kinds = (Component, Work);
/// let system = ActorSystem::<Kinds>::new(&opentelemetry::global::meter("example"));
/// let ingest = system.actor("ingest-1", Component::Ingest);
/// assert_eq!(ingest.kind(), Component::Ingest);
/// ```
pub trait ActorKinds: Send + Sync + 'static {
    /// The kinds of actor: `actor_type` and the labels that name an actor.
    type Actor: LabelValues + Debug + PartialEq + Send + Sync;
    /// The kinds of message: `message_type`.
    type Message: LabelValues + Debug + Send + Sync;
}

impl<A, M> ActorKinds for (A, M)
where
    A: LabelValues + Debug + PartialEq + Send + Sync,
    M: LabelValues + Debug + Send + Sync,
{
    type Actor = A;
    type Message = M;
}

/// The label string of each value of a one-label set, by index: read on the hot path as one
/// load instead of building the value's labels.
pub(crate) struct LabelTable(Box<[&'static str]>);

impl LabelTable {
    pub fn of<L: LabelValues>() -> Self {
        let mut strings = Vec::with_capacity(L::COUNT);
        for value in L::every() {
            let mut values = Vec::with_capacity(1);
            value.push_values(&mut values);
            strings.push(values.first().copied().unwrap_or(""));
        }
        LabelTable(strings.into_boxed_slice())
    }

    #[inline]
    pub fn label<L: LabelValues>(&self, value: L) -> &'static str {
        self.0.get(value.index()).copied().unwrap_or("")
    }
}
