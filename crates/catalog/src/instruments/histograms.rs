//! Histograms: a bound SDK histogram per label combination, as the other instruments, and
//! beside it the series' exemplars ([`crate::exemplars`]), which the SDK does not keep.
//!
//! A record made inside a sampled trace (the current context, or the span context given to
//! `record_in`) also keeps its value and the trace's ids as its bucket's exemplar. Outside a
//! sampled trace a record costs one look at the current context more than the SDK's record.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Meter};
use opentelemetry::trace::SpanContext;

use super::{LabelValues, cells};
use crate::declare::Instrument;
use crate::exemplars::{EXEMPLARS, SeriesExemplars, SeriesKey};
use crate::{MetricDef, MetricKind};

/// One series: the SDK's bound handle and the series' exemplars.
struct Series {
    handle: BoundHistogram<f64>,
    exemplars: Arc<SeriesExemplars>,
}

impl Series {
    fn new(
        def: &'static MetricDef,
        instrument: &opentelemetry::metrics::Histogram<f64>,
        labels: &[(&'static str, &'static str)],
    ) -> Series {
        let attributes: Vec<_> = labels.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
        Series {
            handle: instrument.bind(&attributes),
            exemplars: EXEMPLARS.series(
                SeriesKey::new(def.name, labels.iter().copied()),
                def.buckets,
            ),
        }
    }

    #[inline]
    fn record(&self, value: f64) {
        self.handle.record(value);
        self.exemplars.offer_current(value);
    }

    #[inline]
    fn record_in(&self, value: f64, span: &SpanContext) {
        self.handle.record(value);
        self.exemplars.offer(value, span);
    }
}

/// A histogram without labels.
pub struct Histogram {
    def: &'static MetricDef,
    series: Series,
}

impl Histogram {
    /// The instrument `def` describes (a histogram exports nothing before its first record).
    pub(crate) fn new(def: &'static MetricDef, meter: &Meter) -> Self {
        Histogram {
            def,
            series: Series::new(def, &def.f64_histogram(meter), &[]),
        }
    }

    /// Records `value`; inside a sampled trace, it may become its bucket's exemplar.
    #[inline]
    pub fn record(&self, value: f64) {
        self.series.record(value);
    }

    /// Records `value` measured for `span` (the exemplar's trace when it is sampled), where
    /// the record is made outside that span's context.
    #[inline]
    pub fn record_in(&self, value: f64, span: &SpanContext) {
        self.series.record_in(value, span);
    }

    /// The definition this instrument was built from.
    pub fn def(&self) -> &'static MetricDef {
        self.def
    }
}

impl Instrument for Histogram {
    const KIND: MetricKind = MetricKind::Histogram;
    const ARITY: usize = 0;
    const COMBINATIONS: Option<usize> = Some(1);

    fn build(def: &'static MetricDef, meter: &Meter) -> Self {
        Histogram::new(def, meter)
    }
}

/// A histogram labelled by closed sets.
pub struct HistogramVec<L: LabelValues> {
    def: &'static MetricDef,
    instrument: opentelemetry::metrics::Histogram<f64>,
    cells: Box<[OnceLock<Series>]>,
    _labels: PhantomData<fn(L)>,
}

impl<L: LabelValues> HistogramVec<L> {
    /// The instrument `def` describes; a combination is bound on its first record.
    pub(crate) fn new(def: &'static MetricDef, meter: &Meter) -> Self {
        HistogramVec {
            def,
            instrument: def.f64_histogram(meter),
            cells: cells(L::COUNT),
            _labels: PhantomData,
        }
    }

    /// Records `value` for `labels`; inside a sampled trace, it may become its bucket's
    /// exemplar.
    #[inline]
    pub fn record(&self, labels: L, value: f64) {
        if let Some(series) = self.series(labels) {
            series.record(value);
        }
    }

    /// Records `value` for `labels`, measured for `span` (the exemplar's trace when it is
    /// sampled), where the record is made outside that span's context: a message's handling
    /// time, recorded after its handling span has closed.
    #[inline]
    pub fn record_in(&self, labels: L, value: f64, span: &SpanContext) {
        if let Some(series) = self.series(labels) {
            series.record_in(value, span);
        }
    }

    #[inline]
    fn series(&self, labels: L) -> Option<&Series> {
        // `index() < COUNT` by construction of `LabelValues`, and `cells` has COUNT entries;
        // `get` keeps even a wrong impl from panicking.
        let cell = self.cells.get(labels.index())?;
        Some(cell.get_or_init(|| {
            let mut values = Vec::with_capacity(L::ARITY);
            labels.push_values(&mut values);
            let pairs: Vec<_> = self.def.labels.iter().copied().zip(values).collect();
            Series::new(self.def, &self.instrument, &pairs)
        }))
    }

    /// The definition this instrument was built from.
    pub fn def(&self) -> &'static MetricDef {
        self.def
    }
}

impl<L: LabelValues> Instrument for HistogramVec<L> {
    const KIND: MetricKind = MetricKind::Histogram;
    const ARITY: usize = L::ARITY;
    const COMBINATIONS: Option<usize> = Some(L::COUNT);

    fn build(def: &'static MetricDef, meter: &Meter) -> Self {
        HistogramVec::new(def, meter)
    }
}
