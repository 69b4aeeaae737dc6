//! `metric_family!`: a family of metrics declared once. From one declaration come
//!
//! - `def::<field>`: each metric's [`MetricDef`](super::MetricDef), checked at compile time
//!   against the naming rules;
//! - `FAMILY`: the family's catalogue entry, which docs/metrics.md, `alys-telemetry catalog`
//!   and the dashboard and alert checks read;
//! - the recording struct: one field per recorded metric, its type fixed by the labels (so a
//!   record with the wrong labels does not compile), built by `new(meter)` with every
//!   instrument bound once and, where the metric starts at zero, exported at 0.
//!
//! ```text
//! metric_family! {
//!     /// The struct's documentation.
//!     pub struct TxPoolMetrics, "transaction pool" {
//!         /// Transactions the pool refused, by reason          <- the help text
//!         pub rejections: counter("alys_txpool_rejections_total") {
//!             unit: "s",                                        <- optional, in this order
//!             labels: { reason: TransactionRejectionReason },   <- name: enum (or External)
//!             buckets: [0.1, 0.5],                              <- histograms only (an array)
//!             limit: 100,                                       <- cardinality limit
//!             start: absent("why 0 would mislead"),             <- or `zero`; gauges must say
//!             why: "the name the Alys pool dashboard queries",  <- required
//!         },
//!     }
//!     observed {                                                <- optional: computed by a
//!         /// help                                                 callback at collection,
//!         name: gauge("alys_...") { why: "..." },                  so no field
//!     }
//!     state {                                                   <- optional: more fields,
//!         window: Mutex<Window> = Mutex::new(Window::default()),   for derived values
//!     }                                                            (`state(meter) { … }`
//!                                                                  names the meter for them)
//! }
//! ```
//!
//! A field without `pub` is recorded through the family's hand-written methods (derived
//! values, clamping); a `pub` one is recorded directly, with exactly the labels declared:
//!
//! ```
//! use alys_telemetry::sources::catalog::migration::{ErrorType, MigrationMetrics, MigrationPhase};
//!
//! let migration = MigrationMetrics::new(&opentelemetry::global::meter("example"));
//! migration.errors.add((MigrationPhase::Validation, ErrorType::Timeout), 1);
//! ```
//!
//! ```compile_fail,E0308
//! use alys_telemetry::sources::catalog::migration::{MigrationMetrics, MigrationPhase, RollbackReason};
//!
//! let migration = MigrationMetrics::new(&opentelemetry::global::meter("example"));
//! // A rollback reason is not an error type: the build says so.
//! migration.errors.add((MigrationPhase::Validation, RollbackReason::Manual), 1);
//! ```

/// Declares a family of metrics; see the [module documentation](self).
macro_rules! metric_family {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident, $title:literal {
            $(
                $(#[doc = $help:literal])+
                $fvis:vis $field:ident : $kind:ident ( $metric:literal ) {
                    $(unit: $unit:literal,)?
                    $(labels: { $($label:ident : $lty:ident),+ $(,)? },)?
                    $(buckets: $buckets:expr,)?
                    $(limit: $limit:expr,)?
                    $(start: $start:ident $(($reason:literal))?,)?
                    why: $why:expr $(,)?
                }
            ),* $(,)?
        }
        $(observed {
            $(
                $(#[doc = $ohelp:literal])+
                $ofield:ident : $okind:ident ( $ometric:literal ) {
                    $(unit: $ounit:literal,)?
                    $(labels: { $($olabel:ident : $olty:ident),+ $(,)? },)?
                    $(limit: $olimit:expr,)?
                    why: $owhy:expr $(,)?
                }
            ),* $(,)?
        })?
        $(state $(($smeter:ident))? {
            $($sfield:ident : $sty:ty = $sinit:expr),* $(,)?
        })?
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(
                $(#[doc = $help])+
                $fvis $field: $crate::sources::catalog::family::field_type!(
                    $kind; [$($($lty),+)?]
                ),
            )*
            $($($sfield: $sty,)*)?
        }

        impl $name {
            /// Builds every instrument of the family on `meter`: bound once, and at 0 where
            /// the metric starts at zero. Call it once, at start-up.
            #[allow(unused_variables)] // a family may record nothing synchronously
            pub fn new(meter: &opentelemetry::metrics::Meter) -> Self {
                $($(let $smeter = meter;)?)?
                $name {
                    $(
                        $field: <$crate::sources::catalog::family::field_type!(
                            $kind; [$($($lty),+)?]
                        )>::new(&def::$field, meter),
                    )*
                    $($($sfield: $sinit,)*)?
                }
            }
        }

        /// The definition of each metric of this family, by field name.
        #[allow(non_upper_case_globals)]
        pub mod def {
            #[allow(unused_imports)]
            use super::*;
            use $crate::sources::catalog::MetricDef;

            $(
                $(#[doc = $help])+
                pub const $field: MetricDef = MetricDef {
                    name: $metric,
                    kind: $crate::sources::catalog::family::kind!($kind),
                    unit: $crate::sources::catalog::family::or!($($unit)?; ""),
                    help: $crate::sources::catalog::def::trim(concat!($($help),+)),
                    labels: &[$($(stringify!($label)),+)?],
                    buckets: $crate::sources::catalog::family::or!($(&$buckets)?; &[]),
                    why: $why,
                    cardinality_limit: $crate::sources::catalog::family::or!(
                        $($limit)?; $crate::sources::catalog::DEFAULT_CARDINALITY_LIMIT
                    ),
                    start: $crate::sources::catalog::family::start!(
                        $($start $(($reason))?)?
                    ),
                    combinations: $crate::sources::catalog::family::combinations!(
                        [$($($lty),+)?]
                    ),
                }
                .checked();
            )*
            $($(
                $(#[doc = $ohelp])+
                pub const $ofield: MetricDef = MetricDef {
                    name: $ometric,
                    kind: $crate::sources::catalog::family::kind!($okind),
                    unit: $crate::sources::catalog::family::or!($($ounit)?; ""),
                    help: $crate::sources::catalog::def::trim(concat!($($ohelp),+)),
                    labels: &[$($(stringify!($olabel)),+)?],
                    buckets: &[],
                    why: $owhy,
                    cardinality_limit: $crate::sources::catalog::family::or!(
                        $($olimit)?; $crate::sources::catalog::DEFAULT_CARDINALITY_LIMIT
                    ),
                    start: $crate::sources::catalog::Start::Observed,
                    combinations: $crate::sources::catalog::family::combinations!(
                        [$($($olty),+)?]
                    ),
                }
                .checked();
            )*)?
        }

        /// This family in the catalogue, in declaration order (observed metrics last).
        pub const FAMILY: $crate::sources::catalog::Family = $crate::sources::catalog::Family {
            title: $title,
            metrics: &[$(def::$field,)* $($(def::$ofield,)*)?],
        };
    };
}

/// The instrument type of a recorded metric: its kind and the shape of its labels.
macro_rules! field_type {
    (counter; []) => { $crate::sources::catalog::instruments::Counter };
    (gauge; []) => { $crate::sources::catalog::instruments::Gauge };
    (histogram; []) => { $crate::sources::catalog::instruments::Histogram };
    (counter; [External]) => { $crate::sources::catalog::external::KeyedCounter };
    (gauge; [External]) => { $crate::sources::catalog::external::KeyedGauge };
    (histogram; [External]) => { $crate::sources::catalog::external::KeyedHistogram };
    (counter; [External, $($l:ident),+]) => {
        $crate::sources::catalog::external::KeyedCounterVec<
            $crate::sources::catalog::family::labels_type!($($l),+)
        >
    };
    (gauge; [External, $($l:ident),+]) => {
        $crate::sources::catalog::external::KeyedGaugeVec<
            $crate::sources::catalog::family::labels_type!($($l),+)
        >
    };
    (histogram; [External, $($l:ident),+]) => {
        $crate::sources::catalog::external::KeyedHistogramVec<
            $crate::sources::catalog::family::labels_type!($($l),+)
        >
    };
    (counter; [$($l:ident),+]) => {
        $crate::sources::catalog::instruments::CounterVec<
            $crate::sources::catalog::family::labels_type!($($l),+)
        >
    };
    (gauge; [$($l:ident),+]) => {
        $crate::sources::catalog::instruments::GaugeVec<
            $crate::sources::catalog::family::labels_type!($($l),+)
        >
    };
    (histogram; [$($l:ident),+]) => {
        $crate::sources::catalog::instruments::HistogramVec<
            $crate::sources::catalog::family::labels_type!($($l),+)
        >
    };
}

/// The label values' type: the enum itself for one label, a tuple of enums for more.
macro_rules! labels_type {
    ($l:ident) => { $l };
    ($($l:ident),+) => { ($($l),+) };
}

/// The [`MetricKind`](super::MetricKind) of a declared kind.
macro_rules! kind {
    (counter) => {
        $crate::sources::catalog::MetricKind::Counter
    };
    (gauge) => {
        $crate::sources::catalog::MetricKind::Gauge
    };
    (histogram) => {
        $crate::sources::catalog::MetricKind::Histogram
    };
}

/// The declared start, or [`Start::Default`](super::Start::Default) to resolve by kind.
macro_rules! start {
    () => {
        $crate::sources::catalog::Start::Default
    };
    (zero) => {
        $crate::sources::catalog::Start::Zero
    };
    (absent($why:literal)) => {
        $crate::sources::catalog::Start::Absent($why)
    };
}

/// How many label combinations exist: `None` when a label comes from outside the node.
macro_rules! combinations {
    ([]) => {
        Some(1)
    };
    ([External $(, $l:ident)*]) => {
        None
    };
    ([$($l:ident),+]) => {
        Some(<$crate::sources::catalog::family::labels_type!($($l),+)
            as $crate::sources::catalog::instruments::LabelValues>::COUNT)
    };
}

/// The given value, or the default.
macro_rules! or {
    (; $default:expr) => {
        $default
    };
    ($value:expr; $default:expr) => {
        $value
    };
}

pub(crate) use {combinations, field_type, kind, labels_type, metric_family, or, start};
