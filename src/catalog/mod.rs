//! The metric catalogue: the one place that defines each metric's name, kind, unit, help text,
//! labels and buckets. Instruments, documentation and checks all come from here; nothing else
//! in the crate spells a metric name.
//!
//! Naming rule (see docs/metrics.md): `name` is the Prometheus name users query. The OTel
//! instrument is named without `_total` and without the unit suffix, and carries the unit, so
//! that our pull exporter and the collector's OTLP→Prometheus translation both arrive at
//! `name`.

pub mod instruments;
pub mod labels;
pub mod node;
pub mod pipeline;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

/// What kind of instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic sum; Prometheus `counter`, name ends in `_total`.
    Counter,
    /// Last value; Prometheus `gauge`.
    Gauge,
    /// Distribution; Prometheus `histogram` with `_bucket`, `_sum`, `_count`.
    Histogram,
}

impl MetricKind {
    /// The Prometheus TYPE this kind is exposed as.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric's definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The exported Prometheus name (the contract with dashboards and alerts).
    pub name: &'static str,
    pub kind: MetricKind,
    /// UCUM unit: `s`, `By`, `%`, or empty. Never `1`: it would add `_ratio`.
    pub unit: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    /// Histogram bucket boundaries; empty for other kinds.
    pub buckets: &'static [f64],
    /// Where the metric is specified (seed document or issue).
    pub source: &'static str,
}

impl MetricDef {
    /// The Prometheus suffix the unit adds.
    pub fn unit_suffix(&self) -> Option<&'static str> {
        match self.unit {
            "s" => Some("_seconds"),
            "By" => Some("_bytes"),
            "%" => Some("_percent"),
            _ => None,
        }
    }

    /// The OTel instrument name: `name` less `_total` and the unit suffix.
    pub fn instrument_name(&self) -> &'static str {
        let base = match self.kind {
            MetricKind::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            _ => self.name,
        };
        match self.unit_suffix() {
            Some(suffix) => base.strip_suffix(suffix).unwrap_or(base),
            None => base,
        }
    }

    pub fn u64_counter(&self, meter: &Meter) -> Counter<u64> {
        meter
            .u64_counter(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .build()
    }

    pub fn f64_gauge(&self, meter: &Meter) -> Gauge<f64> {
        meter
            .f64_gauge(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .build()
    }

    pub fn f64_histogram(&self, meter: &Meter) -> Histogram<f64> {
        meter
            .f64_histogram(self.instrument_name())
            .with_unit(self.unit)
            .with_description(self.help)
            .with_boundaries(self.buckets.to_vec())
            .build()
    }
}

/// Every metric this crate defines.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    pipeline::ALL.iter().chain(node::ALL.iter())
}

/// The definition named `name`, if the catalogue has one.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    all().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_follow_the_suffix_rules() {
        let mut seen = HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name), "{} defined twice", d.name);
            assert_ne!(d.unit, "1", "{}: unit 1 would add _ratio", d.name);
            assert_eq!(
                d.kind == MetricKind::Counter,
                d.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                d.name
            );
            if let Some(suffix) = d.unit_suffix() {
                let base = d.name.strip_suffix("_total").unwrap_or(d.name);
                assert!(
                    base.ends_with(suffix),
                    "{}: unit {} needs {suffix}",
                    d.name,
                    d.unit
                );
            }
            assert_eq!(
                d.kind == MetricKind::Histogram,
                !d.buckets.is_empty(),
                "{}",
                d.name
            );
            assert!(d.buckets.windows(2).all(|w| w[0] < w[1]), "{}", d.name);
            assert!(!d.help.is_empty(), "{}", d.name);
        }
    }

    #[test]
    fn instrument_names_drop_total_and_unit() {
        let d = find("alys_block_production_duration_seconds").unwrap();
        assert_eq!(d.instrument_name(), "alys_block_production_duration");
        let d = find("alys_actor_messages_total").unwrap();
        assert_eq!(d.instrument_name(), "alys_actor_messages");
    }
}
