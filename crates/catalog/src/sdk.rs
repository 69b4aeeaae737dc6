//! What a definition builds on the SDK: its instruments, named as the catalogue's naming rule
//! says (`name` less `_total` and the unit's suffix), with its unit, help text and buckets. The
//! bound instruments build on these; an observed metric registers its callback through them.

use opentelemetry::metrics::{AsyncInstrument, Counter, Gauge, Histogram, Meter};

use crate::MetricDef;

impl MetricDef {
    /// The SDK counter this definition describes (named, unit and help set).
    pub fn u64_counter(&self, meter: &Meter) -> Counter<u64> {
        meter
            .u64_counter(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .build()
    }

    /// The SDK gauge this definition describes.
    pub fn f64_gauge(&self, meter: &Meter) -> Gauge<f64> {
        meter
            .f64_gauge(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .build()
    }

    /// Registers an observed gauge whose `callback` reports its values at each collection.
    pub fn observe_f64_gauge(
        &self,
        meter: &Meter,
        callback: impl Fn(&dyn AsyncInstrument<f64>) + Send + Sync + 'static,
    ) {
        meter
            .f64_observable_gauge(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .with_callback(callback)
            .build();
    }

    /// Registers an observed counter whose `callback` reports its totals at each collection.
    pub fn observe_u64_counter(
        &self,
        meter: &Meter,
        callback: impl Fn(&dyn AsyncInstrument<u64>) + Send + Sync + 'static,
    ) {
        meter
            .u64_observable_counter(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .with_callback(callback)
            .build();
    }

    /// The SDK histogram this definition describes, with its buckets.
    pub fn f64_histogram(&self, meter: &Meter) -> Histogram<f64> {
        meter
            .f64_histogram(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .with_boundaries(self.buckets.to_vec())
            .build()
    }

    /// Registers an observed counter of fractional totals (seconds, say) whose `callback`
    /// reports them at each collection.
    pub fn observe_f64_counter(
        &self,
        meter: &Meter,
        callback: impl Fn(&dyn AsyncInstrument<f64>) + Send + Sync + 'static,
    ) {
        meter
            .f64_observable_counter(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .with_callback(callback)
            .build();
    }
}
