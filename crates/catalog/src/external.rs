//! Label values that come from outside the node (peer ids, validator names): a declaration
//! names such a label's type [`External`], and its metric records through a keyed
//! instrument here.
//!
//! They are sanitised (at most 64 characters of `[a-z0-9_-]`, lower case: the form Alys
//! peer ids and validator names are reported in) and bounded: each metric admits as many distinct values as its cardinality limit, as the SDK
//! does before it folds new ones into its `otel_metric_overflow="true"` series. Every record
//! with a value that arrives after the limit is counted in
//! `alys_telemetry_cardinality_overflow_total{metric}`, so an overflow is visible even where
//! nobody looks at the overflow series.
//!
//! ```
//! use alys_telemetry_catalog::external::sanitize_label_value;
//! use alys_telemetry_catalog::peers::PeerMetrics;
//!
//! assert_eq!(sanitize_label_value("12D3KooW/Peer:A"), "12d3koowpeera");
//! let peers = PeerMetrics::new(&opentelemetry::global::meter("example"));
//! peers.set_quality("12D3KooW/Peer:A", 0.93); // recorded as peer_id="12d3koowpeera"
//! ```

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

use super::declare::Instrument;
use super::instruments::LabelValues;
use super::pipeline::PipelineMetrics;
use super::{MetricDef, MetricKind, Start};

/// The type of a label whose values come from outside the node. In a declaration it is the
/// first label; the metric then records through a keyed instrument, which sanitises each
/// value and counts what overflows the cardinality limit.
#[derive(Debug, Clone, Copy)]
pub struct External;

/// The longest label value kept.
pub const MAX_LABEL_VALUE_LEN: usize = 64;

/// Lower-cases `raw`, keeps `[a-z0-9_-]`, and truncates to 64 characters. A value with
/// nothing left is `unknown`, so no series has an empty label.
pub fn sanitize_label_value(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .take(MAX_LABEL_VALUE_LEN)
        .collect();
    if cleaned.is_empty() {
        "unknown".to_string()
    } else {
        cleaned
    }
}

/// Admits distinct values up to a limit and counts the records that come after it.
#[derive(Debug)]
pub struct CardinalityGuard {
    admitted: Mutex<HashSet<String>>,
    capacity: usize,
    overflow: AtomicU64,
}

impl CardinalityGuard {
    /// A guard admitting `capacity` distinct values.
    pub fn with_capacity(capacity: usize) -> Self {
        CardinalityGuard {
            admitted: Mutex::new(HashSet::new()),
            capacity: capacity.max(1),
            overflow: AtomicU64::new(0),
        }
    }

    /// Whether `value` has (or now gets) its own series; counts an overflow otherwise.
    pub fn admit(&self, value: &str) -> bool {
        let mut admitted = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
        if admitted.contains(value) {
            return true;
        }
        if admitted.len() < self.capacity {
            admitted.insert(value.to_string());
            return true;
        }
        self.overflow.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Counts a record refused elsewhere (a [`LiveGauge`] keeps its own set of keys).
    fn refused(&self) {
        self.overflow.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that arrived with a new value after the limit.
    pub fn overflow_count(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }

    /// Distinct values admitted so far.
    pub fn admitted(&self) -> usize {
        self.admitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Publishes the overflow count as `alys_telemetry_cardinality_overflow_total{metric}`.
    fn publish(self: &Arc<Self>, def: &'static MetricDef, meter: &Meter) {
        let guard = Arc::clone(self);
        let overflow = PipelineMetrics::CARDINALITY_OVERFLOW;
        meter
            .u64_observable_counter(overflow.instrument_name())
            .with_description(overflow.help)
            .with_callback(move |obs| {
                obs.observe(guard.overflow_count(), &[KeyValue::new("metric", def.name)])
            })
            .build();
    }
}

/// The sanitised outside value under the first label name, then the closed-set labels.
fn attributes<L: LabelValues>(def: &MetricDef, key: String, labels: L) -> Vec<KeyValue> {
    let mut values = Vec::with_capacity(L::ARITY);
    labels.push_values(&mut values);
    let mut names = def.labels.iter();
    let mut attrs = Vec::with_capacity(1 + L::ARITY);
    attrs.push(KeyValue::new(names.next().copied().unwrap_or("key"), key));
    attrs.extend(names.zip(values).map(|(k, v)| KeyValue::new(*k, v)));
    attrs
}

/// What every keyed instrument holds: the SDK instrument and the guard of its label.
struct Keyed<I> {
    def: &'static MetricDef,
    instrument: I,
    guard: Arc<CardinalityGuard>,
}

impl<I> Keyed<I> {
    /// `combinations`: how many closed-set label values share the limit with the key.
    fn new(def: &'static MetricDef, meter: &Meter, instrument: I, combinations: usize) -> Self {
        let guard = Arc::new(CardinalityGuard::with_capacity(
            def.cardinality_limit / combinations.max(1),
        ));
        guard.publish(def, meter);
        Keyed {
            def,
            instrument,
            guard,
        }
    }

    /// The attributes of a record for the raw outside value `key`: sanitised here, and
    /// admitted or counted as overflow. Past the limit the SDK folds the record into its
    /// overflow series; the guard counts it so the overflow shows on a metric of its own.
    fn attributes<L: LabelValues>(&self, key: &str, labels: L) -> Vec<KeyValue> {
        let key = sanitize_label_value(key);
        self.guard.admit(&key);
        attributes(self.def, key, labels)
    }
}

/// Generates the two instruments whose first label is an outside value: one without other
/// labels, one whose other labels come from the closed sets `L`.
macro_rules! keyed {
    (
        $(#[$meta:meta])* $name:ident,
        $(#[$vec_meta:meta])* $vec:ident,
        $sdk:ident, $value:ty, $build:ident, $record:ident => $sdk_record:ident
    ) => {
        $(#[$meta])*
        pub struct $name(Keyed<$sdk<$value>>);

        impl $name {
            /// The instrument `def` describes. Outside values are never known ahead, so its
            /// series appear with their first record.
            pub(crate) fn new(def: &'static MetricDef, meter: &Meter) -> Self {
                $name(Keyed::new(def, meter, def.$build(meter), 1))
            }

            /// Records `value` for the outside value `key` (sanitised here: pass it raw).
            pub fn $record(&self, key: &str, value: $value) {
                let attributes = self.0.attributes(key, ());
                self.0.instrument.$sdk_record(value, &attributes);
            }

            /// What the cardinality guard has admitted and counted.
            pub fn guard(&self) -> &CardinalityGuard {
                &self.0.guard
            }
        }

        impl Instrument for $name {
            const KIND: MetricKind = MetricKind::$sdk;
            const ARITY: usize = 1;
            const COMBINATIONS: Option<usize> = None;

            fn build(def: &'static MetricDef, meter: &Meter) -> Self {
                $name::new(def, meter)
            }
        }

        $(#[$vec_meta])*
        pub struct $vec<L: LabelValues>(Keyed<$sdk<$value>>, PhantomData<fn(L)>);

        impl<L: LabelValues> $vec<L> {
            /// The instrument `def` describes. Outside values are never known ahead, so its
            /// series appear with their first record.
            pub(crate) fn new(def: &'static MetricDef, meter: &Meter) -> Self {
                $vec(Keyed::new(def, meter, def.$build(meter), L::COUNT), PhantomData)
            }

            /// Records `value` for the outside value `key` (sanitised here) and `labels`.
            pub fn $record(&self, key: &str, labels: L, value: $value) {
                let attributes = self.0.attributes(key, labels);
                self.0.instrument.$sdk_record(value, &attributes);
            }

            /// What the cardinality guard has admitted and counted.
            pub fn guard(&self) -> &CardinalityGuard {
                &self.0.guard
            }
        }

        impl<L: LabelValues> Instrument for $vec<L> {
            const KIND: MetricKind = MetricKind::$sdk;
            const ARITY: usize = 1 + L::ARITY;
            const COMBINATIONS: Option<usize> = None;

            fn build(def: &'static MetricDef, meter: &Meter) -> Self {
                $vec::new(def, meter)
            }
        }
    };
}

keyed!(
    /// A gauge keyed by an outside value.
    KeyedGauge,
    /// A gauge keyed by an outside value and closed-set labels.
    KeyedGaugeVec,
    Gauge, f64, f64_gauge, set => record
);
keyed!(
    /// A histogram keyed by an outside value.
    KeyedHistogram,
    /// A histogram keyed by an outside value and closed-set labels.
    KeyedHistogramVec,
    Histogram, f64, f64_histogram, record => record
);
keyed!(
    /// A counter keyed by an outside value.
    KeyedCounter,
    /// A counter keyed by an outside value and closed-set labels.
    KeyedCounterVec,
    Counter, u64, u64_counter, add => add
);

/// A gauge keyed by an outside value whose series exist while their key is live: a peer's
/// quality, say, which must disappear when the peer leaves. The SDK cannot delete a series of
/// a synchronous gauge, so this is an observable gauge that reports the live values at each
/// collection (an observable gauge's series not reported at a collection are gone from it).
/// The cardinality limit counts live keys: a key removed frees its slot. A new key past the
/// limit is refused and counted in `alys_telemetry_cardinality_overflow_total{metric}`.
pub struct LiveGauge {
    live: Arc<Mutex<HashMap<String, f64>>>,
    capacity: usize,
    guard: Arc<CardinalityGuard>,
}

impl LiveGauge {
    /// Registers the observable gauge `def` describes; its first label takes the keys.
    pub(crate) fn register(def: &'static MetricDef, meter: &Meter) -> Self {
        let live: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
        let guard = Arc::new(CardinalityGuard::with_capacity(def.cardinality_limit));
        guard.publish(def, meter);
        let label = def.labels.first().copied().unwrap_or("key");
        let values = Arc::clone(&live);
        def.observe_f64_gauge(meter, move |obs| {
            let values = values.lock().unwrap_or_else(|p| p.into_inner());
            for (key, value) in values.iter() {
                obs.observe(*value, &[KeyValue::new(label, key.clone())]);
            }
        });
        LiveGauge {
            live,
            capacity: def.cardinality_limit.max(1),
            guard,
        }
    }

    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, f64>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the value of the outside key `key` (sanitised here: pass it raw); false when it
    /// is new and the limit is reached (counted).
    pub fn set(&self, key: &str, value: f64) -> bool {
        let key = sanitize_label_value(key);
        let mut values = self.values();
        if let Some(slot) = values.get_mut(&key) {
            *slot = value;
            return true;
        }
        if values.len() >= self.capacity {
            drop(values);
            self.guard.refused();
            return false;
        }
        values.insert(key, value);
        true
    }

    /// Removes `key`'s series (from the next collection on) and frees its slot.
    pub fn remove(&self, key: &str) {
        self.values().remove(&sanitize_label_value(key));
    }

    /// Keeps only the keys `keep` accepts (a whole set replaced at once).
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.values().retain(|k, _| keep(k));
    }

    /// Live keys.
    pub fn live(&self) -> usize {
        self.values().len()
    }

    /// The overflow count (its admitted set is unused: the live keys are the set).
    pub fn guard(&self) -> &CardinalityGuard {
        &self.guard
    }
}

/// A field instrument of an observed metric: its series are reported at each collection.
impl Instrument for LiveGauge {
    const KIND: MetricKind = MetricKind::Gauge;
    const ARITY: usize = 1;
    const COMBINATIONS: Option<usize> = None;
    const START: Start = Start::Observed;

    fn build(def: &'static MetricDef, meter: &Meter) -> Self {
        LiveGauge::register(def, meter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_keeps_the_reported_form() {
        assert_eq!(sanitize_label_value("Validator_01"), "validator_01");
        assert_eq!(
            sanitize_label_value("peer id/with:odd chars!"),
            "peeridwithoddchars"
        );
        assert_eq!(sanitize_label_value("ÄÖÜ-ok"), "-ok");
        assert_eq!(sanitize_label_value("   "), "unknown");
        assert_eq!(sanitize_label_value(""), "unknown");
        let long = "A".repeat(100);
        assert_eq!(sanitize_label_value(&long), "a".repeat(64));
        // Dropped characters do not eat into the 64: filtering comes before truncation.
        let padded = format!("{}{}", "!".repeat(10), "b".repeat(70));
        assert_eq!(sanitize_label_value(&padded).len(), 64);
    }

    #[test]
    fn the_guard_admits_up_to_its_capacity_and_counts_the_rest() {
        let guard = CardinalityGuard::with_capacity(3);
        for v in ["a", "b", "c"] {
            assert!(guard.admit(v));
        }
        assert!(!guard.admit("d"));
        assert!(guard.admit("a"), "an admitted value stays admitted");
        assert!(!guard.admit("e"));
        assert_eq!((guard.admitted(), guard.overflow_count()), (3, 2));
    }

    #[test]
    fn a_live_gauge_counts_live_keys_and_a_removed_key_frees_its_slot() {
        const DEF: MetricDef = crate::peers::PeerMetrics::QUALITY;
        let limited: &'static MetricDef = Box::leak(Box::new(MetricDef {
            cardinality_limit: 2,
            ..DEF
        }));
        let gauge = LiveGauge::register(limited, &opentelemetry::global::meter("test"));
        assert!(gauge.set("Peer-A", 0.5));
        assert!(gauge.set("peer-b", 0.6));
        assert!(!gauge.set("peer-c", 0.7), "the limit counts live keys");
        assert!(gauge.set("PEER-A", 0.9), "a known key is updated");
        gauge.remove("Peer-A");
        assert!(gauge.set("peer-c", 0.7), "a departed key frees its slot");
        assert_eq!((gauge.live(), gauge.guard().overflow_count()), (2, 1));
        gauge.retain(|k| k == "peer-c");
        assert_eq!(gauge.live(), 1);
    }
}
