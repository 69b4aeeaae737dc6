//! The metric catalogue: every metric the node exports, each declared once, in the file of
//! its family, with [`#[derive(MetricFamily)]`](macro@MetricFamily). A declaration gives the
//! metric's name, kind, unit, help text, labels with their types, buckets, cardinality
//! limit, how it starts and why it exists; the definitions, the family's recording struct,
//! docs/metrics.md and the JSON catalogue all come from it, and nothing else in the crate
//! spells a metric name.
//!
//! Naming rule (see docs/metrics.md): `name` is the Prometheus name users query. The OTel
//! instrument is named without `_total` and without the unit suffix, and carries the unit, so
//! that our pull exporter and the collector's OTLP→Prometheus translation both arrive at
//! `name`.
//!
//! Label values from closed sets are enums deriving [`LabelValue`](macro@LabelValue): the
//! ones several families share live in [`labels`], the others with their family.
//!
//! # Declaring metrics of your own
//!
//! A service on the pipeline declares its families the same way, with the same checks: a name
//! that breaks the naming rules, labels that do not match the field's type, a gauge that does
//! not say how it starts, each fails the build at the field ([`declare`] lists every key and
//! rule). Its struct is built once at start-up on the pipeline's meter, and records with
//! typed labels:
//!
//! ```
//! use alys_telemetry_catalog::instruments::{CounterVec, Gauge, HistogramVec};
//! use alys_telemetry_catalog::{LabelValue, MetricFamily};
//!
//! /// How a payment ended (`outcome`).
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
//! #[label(crate = ::alys_telemetry_catalog)]
//! enum PaymentOutcome {
//!     Settled,
//!     #[label("declined_by_bank")]
//!     Declined,
//! }
//!
//! const DASHBOARD: &str = "the shop's payment dashboard queries it";
//!
//! #[derive(MetricFamily)]
//! #[family(title = "payments", crate = ::alys_telemetry_catalog)]
//! struct PaymentMetrics {
//!     /// Payments handled, by outcome
//!     #[metric(name = "shop_payments_total", labels(outcome), why = DASHBOARD)]
//!     payments: CounterVec<PaymentOutcome>,
//!     /// Time to settle a payment
//!     #[metric(
//!         name = "shop_payment_duration_seconds",
//!         unit = "s",
//!         labels(outcome),
//!         buckets = [0.1, 0.5, 2.0],
//!         why = "the settlement objective is measured on it"
//!     )]
//!     duration: HistogramVec<PaymentOutcome>,
//!     /// Payments waiting for the bank
//!     #[metric(name = "shop_payments_pending", start = zero, why = DASHBOARD)]
//!     pending: Gauge,
//! }
//!
//! let payments = PaymentMetrics::new(&opentelemetry::global::meter("shop"));
//! // Both outcomes were exported at 0 when `new` bound them; this is the first decline.
//! payments.payments.add(PaymentOutcome::Declined, 1);
//! payments.duration.record(PaymentOutcome::Settled, 0.3);
//! payments.pending.set(4.0);
//!
//! assert_eq!(PaymentMetrics::PAYMENTS.labels, ["outcome"]);
//! assert_eq!(PaymentOutcome::Declined.as_str(), "declined_by_bank");
//! let family = <PaymentMetrics as MetricFamily>::FAMILY;
//! assert_eq!((family.title, family.metrics.len()), ("payments", 3));
//! ```
//!
//! `crate = …` names this crate as the example reaches it; a service depending on
//! `alys-telemetry` leaves it out, and the derives find the catalogue at
//! `alys_telemetry::sources::catalog`.

pub mod declare;
mod def;
pub mod docs;
pub mod exemplars;
pub mod external;
pub mod instruments;
pub mod labels;
pub mod rate;
mod sdk;

pub mod actors;
pub mod chain;
pub mod governance;
pub mod governance_node;
pub mod migration;
pub mod peers;
pub mod pipeline;
pub mod sync;
pub mod system;
pub mod tasks;
pub mod trace_store;
pub mod txpool;

pub use alys_telemetry_derive::{LabelValue, MetricFamily};
#[doc(hidden)]
pub use declare::private as __private;
pub use declare::{Instrument, MetricFamily, Observed};
pub use def::{
    AtStart, DEFAULT_CARDINALITY_LIMIT, Family, MetricDef, MetricKind, Start, ZERO_SERIES_LIMIT,
};

use actors::ActorMetrics;
use chain::ChainMetrics;
use governance::GovernanceMetrics;
use governance_node::GovernanceNodeMetrics;
use labels::{ActorType, MessageType};
use migration::MigrationMetrics;
use peers::PeerMetrics;
use pipeline::PipelineMetrics;
use sync::SyncMetrics;
use system::SystemMetrics;
use trace_store::TraceStoreMetrics;
use txpool::TxPoolMetrics;

/// Every family, in the order the documentation lists them.
pub const FAMILIES: &[Family] = &[
    MigrationMetrics::FAMILY,
    SyncMetrics::FAMILY,
    ChainMetrics::FAMILY,
    TxPoolMetrics::FAMILY,
    PeerMetrics::FAMILY,
    SystemMetrics::FAMILY,
    // The node's own actor and message kinds: what the catalogue documents.
    ActorMetrics::<ActorType, MessageType>::FAMILY,
    GovernanceMetrics::FAMILY,
    GovernanceNodeMetrics::FAMILY,
    PipelineMetrics::FAMILY,
    TraceStoreMetrics::FAMILY,
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
