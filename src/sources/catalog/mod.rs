//! The metric catalogue: every metric the node exports, each declared once, in the file of
//! its family, with [`metric_family!`](family). A declaration gives the metric's name, kind,
//! unit, help text, labels with their types, buckets, cardinality limit, how it starts and
//! why it exists; the definitions, the family's recording struct, docs/metrics.md and the
//! JSON catalogue all come from it, and nothing else in the crate spells a metric name.
//!
//! Naming rule (see docs/metrics.md): `name` is the Prometheus name users query. The OTel
//! instrument is named without `_total` and without the unit suffix, and carries the unit, so
//! that our pull exporter and the collector's OTLP→Prometheus translation both arrive at
//! `name`.
//!
//! Label values from closed sets are enums: the ones several families share live in
//! [`labels`], the others with their family.

mod def;
pub mod docs;
pub mod external;
pub mod family;
pub mod instruments;
pub mod labels;
pub mod rate;

pub mod actors;
pub mod chain;
pub mod governance;
pub mod governance_node;
pub mod migration;
pub mod peers;
pub mod pipeline;
pub mod sync;
pub mod system;
pub mod trace_store;
pub mod txpool;

#[doc(hidden)]
pub use def::trim;
pub use def::{
    AtStart, DEFAULT_CARDINALITY_LIMIT, Family, MetricDef, MetricKind, Start, ZERO_SERIES_LIMIT,
};

/// Every family, in the order the documentation lists them.
pub const FAMILIES: &[Family] = &[
    migration::FAMILY,
    sync::FAMILY,
    chain::FAMILY,
    txpool::FAMILY,
    peers::FAMILY,
    system::FAMILY,
    actors::FAMILY,
    governance::FAMILY,
    governance_node::FAMILY,
    pipeline::FAMILY,
    trace_store::FAMILY,
];

/// Every metric this crate defines.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    FAMILIES.iter().flat_map(|f| f.metrics.iter())
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
        let mut instruments = HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name), "{} defined twice", d.name);
            assert!(
                instruments.insert(d.instrument_name()),
                "{}: another metric has the instrument name {}",
                d.name,
                d.instrument_name()
            );
            // What `checked()` enforces at compile time, asserted again on the catalogue
            // as built.
            assert_eq!(d, &d.checked(), "{}", d.name);
            assert!(!matches!(d.start, Start::Default), "{}", d.name);
            if d.labels.is_empty() {
                assert_eq!(d.combinations, Some(1), "{}", d.name);
            }
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
