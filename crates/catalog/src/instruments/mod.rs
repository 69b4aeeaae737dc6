//! The instruments a family's struct is made of, one type per shape of labels, so that a
//! record with the wrong labels does not compile:
//!
//! - no labels: [`Counter`], [`Gauge`], [`Histogram`], with a plain `add(v)`, `set(v)`,
//!   `record(v)`;
//! - labels from closed sets (enums): [`CounterVec`], [`GaugeVec`], [`HistogramVec`], whose
//!   label type is the enum or tuple of enums the declaration names;
//! - an outside value first ([`External`](super::external::External)): the keyed instruments
//!   of [`external`](super::external).
//!
//! The SDK's `Counter::add(v, &attrs)` spends 90-95 % of its time finding the attribute set
//! (100-200 ns). Here each combination of label values has a cell holding a bound SDK handle;
//! a record is an array index, an atomic load and the SDK's bound add: a few nanoseconds
//! (docs/performance.md). A metric that starts at zero is bound for every combination at
//! construction and exported at 0; any other binds a combination on its first record, so
//! combinations never seen export nothing.
//!
//! Instruments are built only by a family's `new` (through [`Instrument`]), which pairs each
//! with its definition.
//!
//! ```
//! use alys_telemetry_catalog::actors::{ActorMetrics, MessageOutcome};
//! use alys_telemetry_catalog::labels::{ActorType, MessageType};
//!
//! let actors = ActorMetrics::new(&opentelemetry::global::meter("example"));
//! actors.messages.add((ActorType::Chain, MessageType::Mining, MessageOutcome::Processed), 1);
//! ```

use std::marker::PhantomData;
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, BoundGauge, Meter};

use super::declare::Instrument;
use super::{MetricDef, MetricKind};

mod histograms;
pub use histograms::{Histogram, HistogramVec};

/// A value (or tuple of values) of a metric's labels, drawn from closed sets.
pub trait LabelValues: Copy + 'static {
    /// How many labels the value fills.
    const ARITY: usize;
    /// How many distinct values exist.
    const COUNT: usize;
    /// A dense index in `0..COUNT`.
    fn index(self) -> usize;
    /// The value at `index`, the inverse of [`index`](Self::index).
    fn from_index(index: usize) -> Option<Self>;
    /// The label strings, in label order.
    fn push_values(self, out: &mut Vec<&'static str>);
    /// Every value, in index order.
    fn every() -> impl Iterator<Item = Self> {
        (0..Self::COUNT).filter_map(Self::from_index)
    }
}

impl LabelValues for () {
    const ARITY: usize = 0;
    const COUNT: usize = 1;
    fn index(self) -> usize {
        0
    }
    fn from_index(index: usize) -> Option<Self> {
        (index == 0).then_some(())
    }
    fn push_values(self, _out: &mut Vec<&'static str>) {}
}

impl<A: LabelValues, B: LabelValues> LabelValues for (A, B) {
    const ARITY: usize = A::ARITY + B::ARITY;
    const COUNT: usize = A::COUNT * B::COUNT;
    fn index(self) -> usize {
        self.0.index() * B::COUNT + self.1.index()
    }
    fn from_index(index: usize) -> Option<Self> {
        let b = B::COUNT.max(1);
        Some((A::from_index(index / b)?, B::from_index(index % b)?))
    }
    fn push_values(self, out: &mut Vec<&'static str>) {
        self.0.push_values(out);
        self.1.push_values(out);
    }
}

impl<A: LabelValues, B: LabelValues, C: LabelValues> LabelValues for (A, B, C) {
    const ARITY: usize = A::ARITY + B::ARITY + C::ARITY;
    const COUNT: usize = A::COUNT * B::COUNT * C::COUNT;
    fn index(self) -> usize {
        (self.0.index() * B::COUNT + self.1.index()) * C::COUNT + self.2.index()
    }
    fn from_index(index: usize) -> Option<Self> {
        let c = C::COUNT.max(1);
        let (a, b) = <(A, B)>::from_index(index / c)?;
        Some((a, b, C::from_index(index % c)?))
    }
    fn push_values(self, out: &mut Vec<&'static str>) {
        self.0.push_values(out);
        self.1.push_values(out);
        self.2.push_values(out);
    }
}

/// The attribute set of `labels` under `def`'s label names.
pub fn attributes<L: LabelValues>(def: &MetricDef, labels: L) -> Vec<KeyValue> {
    let mut values = Vec::with_capacity(L::ARITY);
    labels.push_values(&mut values);
    def.labels
        .iter()
        .zip(values)
        .map(|(k, v)| KeyValue::new(*k, v))
        .collect()
}

/// Generates an unlabelled instrument: one bound handle, made at construction (a bound
/// handle without labels exports nothing until its first record).
macro_rules! single {
    (
        $(#[$meta:meta])*
        $name:ident: $kind:ident, $bound:ident, $value:ty, $build:ident, $record:ident => $bound_record:ident
    ) => {
        $(#[$meta])*
        pub struct $name {
            def: &'static MetricDef,
            handle: $bound<$value>,
        }

        impl $name {
            /// The instrument `def` describes, at 0 from now if `def` starts at zero.
            pub(crate) fn new(def: &'static MetricDef, meter: &Meter) -> Self {
                let handle = def.$build(meter).bind(&[]);
                if def.starts_at_zero() {
                    handle.$bound_record(<$value>::default());
                }
                $name { def, handle }
            }

            /// Records `value`.
            #[inline]
            pub fn $record(&self, value: $value) {
                self.handle.$bound_record(value);
            }

            /// The definition this instrument was built from.
            pub fn def(&self) -> &'static MetricDef {
                self.def
            }
        }

        impl Instrument for $name {
            const KIND: MetricKind = MetricKind::$kind;
            const ARITY: usize = 0;
            const COMBINATIONS: Option<usize> = Some(1);

            fn build(def: &'static MetricDef, meter: &Meter) -> Self {
                $name::new(def, meter)
            }
        }
    };
}

single!(
    /// A counter without labels.
    Counter: Counter, BoundCounter, u64, u64_counter, add => add
);
single!(
    /// A gauge without labels.
    Gauge: Gauge, BoundGauge, f64, f64_gauge, set => record
);

pub(crate) fn cells<T>(count: usize) -> Box<[OnceLock<T>]> {
    (0..count).map(|_| OnceLock::new()).collect()
}

/// Generates one enum-indexed instrument type over a bound SDK instrument.
macro_rules! bound_vec {
    (
        $(#[$meta:meta])*
        $name:ident, $sdk:ident, $bound:ident, $value:ty, $build:ident, $record:ident => $bound_record:ident
    ) => {
        $(#[$meta])*
        pub struct $name<L: LabelValues> {
            def: &'static MetricDef,
            instrument: opentelemetry::metrics::$sdk<$value>,
            cells: Box<[OnceLock<$bound<$value>>]>,
            _labels: PhantomData<fn(L)>,
        }

        impl<L: LabelValues> $name<L> {
            /// The instrument `def` describes; when `def` starts at zero, every label
            /// combination is bound now and exported at 0.
            pub(crate) fn new(def: &'static MetricDef, meter: &Meter) -> Self {
                let vec = $name {
                    def,
                    instrument: def.$build(meter),
                    cells: cells(L::COUNT),
                    _labels: PhantomData,
                };
                if def.starts_at_zero() {
                    L::every().for_each(|labels| vec.$record(labels, <$value>::default()));
                }
                vec
            }

            /// Records `value` for `labels`.
            #[inline]
            pub fn $record(&self, labels: L, value: $value) {
                // `index() < COUNT` by construction of `LabelValues`, and `cells` has COUNT
                // entries; `get` keeps even a wrong impl from panicking.
                if let Some(cell) = self.cells.get(labels.index()) {
                    cell.get_or_init(|| self.instrument.bind(&attributes(self.def, labels)))
                        .$bound_record(value);
                }
            }

            /// The definition this instrument was built from.
            pub fn def(&self) -> &'static MetricDef {
                self.def
            }
        }

        impl<L: LabelValues> Instrument for $name<L> {
            const KIND: MetricKind = MetricKind::$sdk;
            const ARITY: usize = L::ARITY;
            const COMBINATIONS: Option<usize> = Some(L::COUNT);

            fn build(def: &'static MetricDef, meter: &Meter) -> Self {
                $name::new(def, meter)
            }
        }
    };
}

bound_vec!(
    /// A counter labelled by closed sets.
    CounterVec, Counter, BoundCounter, u64, u64_counter, add => add
);
bound_vec!(
    /// A gauge labelled by closed sets.
    GaugeVec, Gauge, BoundGauge, f64, f64_gauge, set => record
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::{ActorMetrics, MessageOutcome};
    use crate::labels::{ActorType, MessageType};

    #[test]
    fn tuple_indices_are_dense_unique_and_invertible() {
        let mut seen = std::collections::HashSet::new();
        for a in ActorType::ALL {
            for m in MessageType::ALL {
                let i = (*a, *m).index();
                assert!(i < <(ActorType, MessageType)>::COUNT);
                assert!(seen.insert(i));
                assert_eq!(<(ActorType, MessageType)>::from_index(i), Some((*a, *m)));
            }
        }
        assert_eq!(seen.len(), <(ActorType, MessageType)>::COUNT);
        type Three = (ActorType, MessageType, MessageOutcome);
        for i in 0..Three::COUNT {
            assert_eq!(Three::from_index(i).map(LabelValues::index), Some(i));
        }
        assert_eq!(Three::from_index(Three::COUNT), None);
    }

    #[test]
    fn attributes_pair_label_names_with_values() {
        let attrs = attributes(
            &ActorMetrics::<ActorType, MessageType>::MESSAGES,
            (
                ActorType::Engine,
                MessageType::Storage,
                MessageOutcome::Failed,
            ),
        );
        assert_eq!(
            attrs,
            vec![
                KeyValue::new("actor_type", "engine"),
                KeyValue::new("message_type", "storage"),
                KeyValue::new("outcome", "failed"),
            ]
        );
    }
}
