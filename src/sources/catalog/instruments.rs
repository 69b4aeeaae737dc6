//! Instruments whose labels come from closed sets (enums), bound once per label combination.
//!
//! The SDK's `Counter::add(v, &attrs)` spends 90-95 % of its time finding the attribute set
//! (100-200 ns). Here each combination of label values has a cell, bound to its attribute set
//! the first time it is used (so combinations never seen never export a zero series); after
//! that a record is an array index, an atomic load and the SDK's bound add: a few
//! nanoseconds. See docs/performance.md.
//!
//! ```
//! use alys_telemetry::sources::catalog::actors::MESSAGES;
//! use alys_telemetry::sources::catalog::instruments::CounterVec;
//! use alys_telemetry::sources::catalog::labels::{ActorType, MessageOutcome, MessageType};
//!
//! let meter = opentelemetry::global::meter("example");
//! let messages: CounterVec<(ActorType, MessageType, MessageOutcome)> =
//!     CounterVec::new(&MESSAGES, &meter);
//! messages.add((ActorType::Chain, MessageType::Mining, MessageOutcome::Processed), 1);
//! ```

use std::marker::PhantomData;
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    BoundCounter, BoundGauge, BoundHistogram, Counter, Gauge, Histogram, Meter,
};

use super::MetricDef;

/// A value (or tuple of values) of a metric's labels, drawn from closed sets.
pub trait LabelValues: Copy + 'static {
    /// How many labels the value fills.
    const ARITY: usize;
    /// How many distinct values exist.
    const COUNT: usize;
    /// A dense index in `0..COUNT`.
    fn index(self) -> usize;
    /// The label strings, in label order.
    fn push_values(self, out: &mut Vec<&'static str>);
}

impl LabelValues for () {
    const ARITY: usize = 0;
    const COUNT: usize = 1;
    fn index(self) -> usize {
        0
    }
    fn push_values(self, _out: &mut Vec<&'static str>) {}
}

impl<A: LabelValues, B: LabelValues> LabelValues for (A, B) {
    const ARITY: usize = A::ARITY + B::ARITY;
    const COUNT: usize = A::COUNT * B::COUNT;
    fn index(self) -> usize {
        self.0.index() * B::COUNT + self.1.index()
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

fn cells<T>(count: usize) -> Box<[OnceLock<T>]> {
    (0..count).map(|_| OnceLock::new()).collect()
}

fn check_arity<L: LabelValues>(def: &MetricDef) {
    debug_assert_eq!(
        def.labels.len(),
        L::ARITY,
        "{}: labels {:?} do not fit the label type",
        def.name,
        def.labels
    );
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
            instrument: $sdk<$value>,
            cells: Box<[OnceLock<$bound<$value>>]>,
            _labels: PhantomData<fn(L)>,
        }

        impl<L: LabelValues> $name<L> {
            /// Creates the instrument `def` describes on `meter`.
            pub fn new(def: &'static MetricDef, meter: &Meter) -> Self {
                check_arity::<L>(def);
                $name {
                    def,
                    instrument: def.$build(meter),
                    cells: cells(L::COUNT),
                    _labels: PhantomData,
                }
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
    };
}

bound_vec!(
    /// A counter labelled by closed sets.
    CounterVec, Counter, BoundCounter, u64, u64_counter, add => add
);
bound_vec!(
    /// A histogram labelled by closed sets.
    HistogramVec, Histogram, BoundHistogram, f64, f64_histogram, record => record
);
bound_vec!(
    /// A gauge labelled by closed sets.
    GaugeVec, Gauge, BoundGauge, f64, f64_gauge, set => record
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::catalog::labels::{ActorType, MessageOutcome, MessageType};

    #[test]
    fn tuple_indices_are_dense_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in ActorType::ALL {
            for m in MessageType::ALL {
                let i = (*a, *m).index();
                assert!(i < <(ActorType, MessageType)>::COUNT);
                assert!(seen.insert(i));
            }
        }
        assert_eq!(seen.len(), <(ActorType, MessageType)>::COUNT);
    }

    #[test]
    fn attributes_pair_label_names_with_values() {
        let attrs = attributes(
            &crate::sources::catalog::actors::MESSAGES,
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
