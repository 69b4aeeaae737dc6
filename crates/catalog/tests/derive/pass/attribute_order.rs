//! The keys of `#[metric(...)]` in any order, `crate` as a string (serde's form).

use alys_telemetry_catalog::MetricFamily;
use alys_telemetry_catalog::instruments::{Gauge, Histogram};

const LIMIT: usize = 20;

#[derive(MetricFamily)]
#[family(crate = "::alys_telemetry_catalog", title = "ordering")]
struct Ordering {
    /// Time to sort
    #[metric(why = "w", buckets = [0.5, 1.0], unit = "s", limit = LIMIT * 2, name = "alys_sort_duration_seconds")]
    sort: Histogram,
    /// Bytes sorted
    #[metric(start = absent("nothing is sorted before the first run"), unit = "By", name = "alys_sorted_bytes", why = "w")]
    sorted: Gauge,
    /// Sorted percentage
    #[metric(unit = "%", name = "alys_sorted_percent", start = zero, why = "w")]
    percent: Gauge,
}

fn main() {
    assert_eq!(Ordering::SORT.cardinality_limit, 40);
    assert_eq!(Ordering::SORT.unit, "s");
    assert!(matches!(
        Ordering::SORTED.start,
        alys_telemetry_catalog::Start::Absent("nothing is sorted before the first run")
    ));
    let ordering = Ordering::new(&opentelemetry::global::meter("test"));
    ordering.sort.record(0.7);
    ordering.sorted.set(1024.0);
    ordering.percent.set(50.0);
}
