//! The metric catalogue: the one place that defines each metric's name, kind, unit, help text,
//! labels and buckets. Instruments, documentation and checks all come from here; nothing else
//! in the crate spells a metric name.
//!
//! Naming rule (see docs/metrics.md): `name` is the Prometheus name users query. The OTel
//! instrument is named without `_total` and without the unit suffix, and carries the unit, so
//! that our pull exporter and the collector's OTLP→Prometheus translation both arrive at
//! `name`.

pub mod actors;
pub mod chain;
pub mod docs;
pub mod external;
pub mod governance;
pub mod instruments;
pub mod labels;
pub mod migration;
pub mod peers;
pub mod pipeline;
pub mod rate;
pub mod sync;
pub mod system;
pub mod txpool;

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
    /// Most label sets the SDK keeps for this metric; beyond it, new ones fold into one
    /// more series labelled `otel_metric_overflow="true"`.
    pub cardinality_limit: usize,
}

/// Label sets per metric unless a definition says otherwise. Enum-labelled metrics stay far
/// below it; it bounds the damage of a bug, not normal use.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 500;

impl MetricDef {
    const fn new(
        name: &'static str,
        kind: MetricKind,
        unit: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        MetricDef {
            name,
            kind,
            unit,
            help,
            labels,
            buckets,
            source: "",
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
        }
    }

    /// A counter; `name` ends in `_total`.
    pub const fn counter(
        name: &'static str,
        unit: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self::new(name, MetricKind::Counter, unit, help, labels, &[])
    }

    /// A gauge.
    pub const fn gauge(
        name: &'static str,
        unit: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self::new(name, MetricKind::Gauge, unit, help, labels, &[])
    }

    /// A histogram with explicit bucket boundaries.
    pub const fn histogram(
        name: &'static str,
        unit: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        Self::new(name, MetricKind::Histogram, unit, help, labels, buckets)
    }

    /// Where the metric is specified.
    pub const fn from(self, source: &'static str) -> Self {
        MetricDef { source, ..self }
    }

    /// A cardinality limit other than the default.
    pub const fn limit(self, cardinality_limit: usize) -> Self {
        MetricDef {
            cardinality_limit,
            ..self
        }
    }

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

/// Every family, in the order the documentation lists them.
pub const FAMILIES: &[(&str, &[MetricDef])] = &[
    ("migration", migration::ALL),
    ("sync", sync::ALL),
    ("chain", chain::ALL),
    ("transaction pool", txpool::ALL),
    ("peers", peers::ALL),
    ("system", system::ALL),
    ("actors", actors::ALL),
    ("governance stream", governance::ALL),
    ("telemetry pipeline", pipeline::ALL),
];

/// Every metric this crate defines.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    FAMILIES.iter().flat_map(|(_, defs)| defs.iter())
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
        let d = find("alys_disk_io_bytes_total").unwrap();
        assert_eq!(d.instrument_name(), "alys_disk_io");
    }
}
