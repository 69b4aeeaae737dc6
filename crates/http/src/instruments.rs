//! Instruments keyed by attribute sets the layers build per request. The semantic
//! conventions' attributes take values no enum holds ahead of time (a route template, a
//! status code), but each layer keeps them bounded: routes are the service's templates,
//! never raw paths; methods outside the registered set are `_OTHER`; status codes are
//! numbers below 600. The SDK's cardinality limit bounds the rest.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, UpDownCounter};

use alys_telemetry_catalog::declare::Instrument;
use alys_telemetry_catalog::{MetricDef, MetricKind, Start};

/// A histogram recorded with the attributes of each call; `N` is how many the declaration
/// names (some may be absent from a record, as the conventions allow).
pub(crate) struct AttributeHistogram<const N: usize> {
    histogram: Histogram<f64>,
}

impl<const N: usize> AttributeHistogram<N> {
    pub(crate) fn record(&self, value: f64, attributes: &[KeyValue]) {
        self.histogram.record(value, attributes);
    }
}

impl<const N: usize> Instrument for AttributeHistogram<N> {
    const KIND: MetricKind = MetricKind::Histogram;
    const ARITY: usize = N;
    const COMBINATIONS: Option<usize> = None;

    fn build(def: &'static MetricDef, meter: &Meter) -> Self {
        AttributeHistogram {
            histogram: def.f64_histogram(meter),
        }
    }
}

/// An up-down counter (a Prometheus gauge): what is in flight, by the call's attributes.
pub(crate) struct AttributeUpDownCounter<const N: usize> {
    counter: UpDownCounter<i64>,
}

impl<const N: usize> AttributeUpDownCounter<N> {
    pub(crate) fn add(&self, delta: i64, attributes: &[KeyValue]) {
        self.counter.add(delta, attributes);
    }
}

impl<const N: usize> Instrument for AttributeUpDownCounter<N> {
    const KIND: MetricKind = MetricKind::Gauge;
    const ARITY: usize = N;
    const COMBINATIONS: Option<usize> = None;
    const START: Start = Start::Default;

    fn build(def: &'static MetricDef, meter: &Meter) -> Self {
        AttributeUpDownCounter {
            counter: meter
                .i64_up_down_counter(def.instrument_name())
                .with_unit(def.unit)
                .with_description(def.help)
                .build(),
        }
    }
}
