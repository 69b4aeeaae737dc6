//! Declaring metrics: [`#[derive(MetricFamily)]`](macro@crate::MetricFamily) on a struct,
//! [`#[derive(LabelValue)]`](macro@crate::LabelValue) on the enums of its labels. From one
//! declaration come
//!
//! - `Struct::FIELD`: each metric's [`MetricDef`], checked at compile time against the naming
//!   rules;
//! - [`MetricFamily::FAMILY`]: the family's catalogue entry, which docs/metrics.md,
//!   `alys-telemetry catalog` and the dashboard and alert checks read;
//! - `Struct::new(meter)`: the struct with one instrument per recorded metric, its type fixed
//!   by the labels (so a record with the wrong labels does not compile), every instrument
//!   bound once and, where the metric starts at zero, exported at 0.
//!
//! ```text
//! #[derive(MetricFamily)]
//! #[family(title = "transaction pool")]            <- its section in docs/metrics.md
//! pub struct TxPoolMetrics {
//!     /// Transactions the pool refused, by reason  <- the help text
//!     #[metric(
//!         name = "alys_txpool_rejections_total",    <- required
//!         otel_name = "txpool.rejections",          <- optional: the OTLP name, where a
//!                                                      convention fixes it; the build checks
//!                                                      the Prometheus exporter writes `name`
//!         why = DASHBOARD_NAME,                     <- required: a &'static str constant
//!         unit = "s",                               <- optional, and every key in any order
//!         labels(reason),                           <- label names; the field's type has the
//!                                                      value types, in the same order; a
//!                                                      dotted key is a string: labels("http.route")
//!         buckets = [0.1, 0.5],                     <- histograms only (an array)
//!         limit = 100,                              <- cardinality limit
//!         start = absent("why 0 would mislead"),    <- or `zero`; a gauge must say
//!     )]
//!     pub rejections: CounterVec<TransactionRejectionReason>,
//!     /// Messages waiting in actor mailboxes
//!     #[metric(name = "alys_actor_mailbox_size", labels(actor_type), why = "…")]
//!     mailbox_size: Observed<GaugeVec<ActorType>>,  <- computed by a callback at collection:
//!                                                      a marker of its shape, nothing recorded
//!     #[state(init = Window::new(meter))]           <- any other field: state for derived
//!     window: Window,                                  values (`meter` is new's argument;
//! }                                                    without `state`, Default::default())
//! ```
//!
//! `#[family(crate = path)]` (and `#[label(crate = path)]` on an enum) names this crate where
//! `::alys_telemetry::sources::catalog` does not reach it: `crate` inside it,
//! `::alys_telemetry_catalog` in the workspace's other crates.
//!
//! The field's type is the metric's kind and labels ([`Instrument`]): [`Counter`], [`Gauge`],
//! [`Histogram`] without labels; [`CounterVec<L>`], [`GaugeVec<L>`], [`HistogramVec<L>`] with
//! labels from closed sets (`L` a `LabelValue` enum or a tuple of them); the `Keyed…` types
//! of [`external`](crate::external) when the first label takes outside values; [`LiveGauge`]
//! for an observed gauge whose keys come and go; [`Observed<G>`] for any other observed
//! metric, `G` being the type a recorded one of its shape would have. The catalogue lists
//! recorded metrics first and observed ones after them.
//!
//! What breaks a rule stops the build, pointing at the field or key: a missing `name` or
//! `why`, an unknown or repeated key, `buckets` on anything but a histogram, as many names in
//! `labels(...)` as the type has labels, and everything [`MetricDef::checked`] enforces
//! (`_total` on counters only, the unit's suffix, bucket order, a gauge that does not say how
//! it starts).
//!
//! A field without `pub` is recorded through the family's hand-written methods (derived
//! values, clamping); a `pub` one is recorded directly, with exactly the labels declared:
//!
//! ```
//! use alys_telemetry_catalog::migration::{ErrorType, MigrationMetrics, MigrationPhase};
//!
//! let migration = MigrationMetrics::new(&opentelemetry::global::meter("example"));
//! migration.errors.add((MigrationPhase::Validation, ErrorType::Timeout), 1);
//! ```
//!
//! ```compile_fail,E0308
//! use alys_telemetry_catalog::migration::{MigrationMetrics, MigrationPhase, RollbackReason};
//!
//! let migration = MigrationMetrics::new(&opentelemetry::global::meter("example"));
//! // A rollback reason is not an error type: the build says so.
//! migration.errors.add((MigrationPhase::Validation, RollbackReason::Manual), 1);
//! ```
//!
//! [`Counter`]: crate::instruments::Counter
//! [`Gauge`]: crate::instruments::Gauge
//! [`Histogram`]: crate::instruments::Histogram
//! [`CounterVec<L>`]: crate::instruments::CounterVec
//! [`GaugeVec<L>`]: crate::instruments::GaugeVec
//! [`HistogramVec<L>`]: crate::instruments::HistogramVec
//! [`LiveGauge`]: crate::external::LiveGauge

use std::marker::PhantomData;

use opentelemetry::metrics::Meter;

use super::{Family, MetricDef, MetricKind, Start};

/// A family of metrics, as `#[derive(MetricFamily)]` makes it.
pub trait MetricFamily: Sized {
    /// The family's catalogue entry: its title and its definitions, recorded metrics first.
    const FAMILY: Family;

    /// Builds every instrument of the family on `meter`: bound once, and at 0 where the
    /// metric starts at zero. Call it once, at start-up.
    fn new(meter: &Meter) -> Self;

    /// Reads the family's [`Observed`] fields, which nothing else does: they mark the shape
    /// of a metric computed elsewhere, and the read keeps the compiler from calling them dead.
    #[doc(hidden)]
    fn __mark_observed(&self) {}
}

/// A type a metric's field can have: what it says about the metric, and how it is built
/// from the metric's definition.
pub trait Instrument: Sized {
    /// What the metric records.
    const KIND: MetricKind;
    /// How many labels a record carries (an outside value is one).
    const ARITY: usize;
    /// How many label combinations exist; `None` when a label takes outside values.
    const COMBINATIONS: Option<usize>;
    /// How the metric starts when its declaration does not say: [`Start::Default`] (resolved
    /// by [`MetricDef::checked`] from the kind), or [`Start::Observed`].
    const START: Start = Start::Default;

    /// The instrument `def` describes, on `meter`.
    fn build(def: &'static MetricDef, meter: &Meter) -> Self;
}

/// An observed metric's field: the metric is computed by a callback at each collection (the
/// callback registers on the definition, `Struct::FIELD`), so the field records nothing.
/// `G` is the instrument a recorded metric of the same shape would be, e.g.
/// `Observed<GaugeVec<ActorType>>`: its kind and labels are the metric's.
pub struct Observed<G>(PhantomData<fn() -> G>);

impl<G: Instrument> Instrument for Observed<G> {
    const KIND: MetricKind = G::KIND;
    const ARITY: usize = G::ARITY;
    const COMBINATIONS: Option<usize> = G::COMBINATIONS;
    const START: Start = Start::Observed;

    fn build(_def: &'static MetricDef, _meter: &Meter) -> Self {
        Observed(PhantomData)
    }
}

impl<G> std::fmt::Debug for Observed<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observed")
    }
}

/// What the derives' code uses; not an interface.
#[doc(hidden)]
pub mod private {
    pub use super::{Instrument, MetricFamily};
    pub use crate::def::trim;
    pub use crate::instruments::LabelValues;
    pub use crate::{DEFAULT_CARDINALITY_LIMIT, Family, MetricDef, MetricKind, Start};
    pub use opentelemetry::metrics::Meter;

    /// Fails the build where `labels(...)` names a different number of labels than the
    /// field's type records.
    pub const fn label_count<I: Instrument>(named: usize) {
        assert!(
            named == I::ARITY,
            "`labels(...)` names as many labels as the field's type records, in its order"
        );
    }

    /// Fails the build where `buckets` is given to a metric whose type is not a histogram.
    pub const fn histogram_only<I: Instrument>() {
        assert!(
            matches!(I::KIND, MetricKind::Histogram),
            "`buckets` are for histograms only: the field's type is not one"
        );
    }

    /// The declared start, failing the build where the type is observed: an observed metric
    /// is computed at each collection and has no start of its own.
    pub const fn declared_start<I: Instrument>(start: Start) -> Start {
        assert!(
            !matches!(I::START, Start::Observed),
            "an observed metric is computed at each collection: it takes no `start`"
        );
        start
    }
}
