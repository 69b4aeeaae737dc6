//! Observed metrics (a marker field, and a live gauge), state initialised from the meter,
//! and state left to Default.

use std::sync::atomic::{AtomicU64, Ordering};

use alys_telemetry_catalog::external::LiveGauge;
use alys_telemetry_catalog::instruments::{Counter, CounterVec};
use alys_telemetry_catalog::{LabelValue, MetricFamily, Observed, Start};
use opentelemetry::metrics::{Meter, ObservableGauge};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Direction {
    Receive,
    Transmit,
}

#[derive(MetricFamily)]
#[family(title = "links", crate = ::alys_telemetry_catalog)]
struct LinkMetrics {
    /// Bytes moved on the link, by direction
    #[metric(name = "alys_link_bytes_total", unit = "By", labels(direction), why = "w")]
    bytes: Observed<CounterVec<Direction>>,
    /// Quality of each peer's link, 0 to 1
    #[metric(name = "alys_link_quality", labels(peer_id), limit = 100, why = "w")]
    quality: LiveGauge,
    /// Links opened
    #[metric(name = "alys_links_opened_total", why = "w")]
    opened: Counter,
    #[state(init = uptime(meter))]
    uptime: ObservableGauge<u64>,
    open: AtomicU64,
}

fn uptime(meter: &Meter) -> ObservableGauge<u64> {
    meter.u64_observable_gauge("test_uptime").build()
}

fn main() {
    let names: Vec<&str> = <LinkMetrics as MetricFamily>::FAMILY
        .metrics
        .iter()
        .map(|d| d.name)
        .collect();
    // Observed metrics come after the recorded ones.
    assert_eq!(names, ["alys_links_opened_total", "alys_link_bytes_total", "alys_link_quality"]);
    assert_eq!(LinkMetrics::BYTES.start, Start::Observed);
    assert_eq!(LinkMetrics::QUALITY.start, Start::Observed);
    let links = LinkMetrics::new(&opentelemetry::global::meter("test"));
    links.opened.add(1);
    links.quality.set("peer-a", 0.9);
    links.open.fetch_add(1, Ordering::Relaxed);
    let _ = &links.uptime;
}
