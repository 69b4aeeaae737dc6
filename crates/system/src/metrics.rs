//! Publishing the snapshot.
//!
//! Observable instruments, not synchronous ones set after each collection: the OS already
//! keeps the disk and network totals as cumulative counts, and an observable counter
//! reports exactly those (a synchronous counter would have to add the differences between
//! readings, and would lose or double some around a failed reading). The callbacks only copy the
//! snapshot out of a mutex, so an export costs nothing measurable, and a source that has
//! never been read exports no series instead of a made-up zero. Only the collection
//! duration is a synchronous histogram: a distribution of events cannot be observed.

use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use alys_telemetry_catalog::MetricDef;
use alys_telemetry_catalog::instruments::{LabelValues, attributes};
use alys_telemetry_catalog::system::{
    DiskOperation, NetworkDirection, ResourceSource, SystemMetrics,
};

use super::{Snapshot, SystemCollector, lock};

/// Reads a gauge's value from the snapshot; `None` while its source was never read.
type GaugeReading = fn(&Snapshot) -> Option<f64>;

/// Every observed gauge of the family, with what it reads.
const GAUGES: [(&MetricDef, GaugeReading); 12] = [
    (&SystemMetrics::MEMORY_USAGE, |s| {
        s.process.map(|p| p.resident_bytes as f64)
    }),
    (&SystemMetrics::VIRTUAL_MEMORY, |s| {
        s.process.map(|p| p.virtual_bytes as f64)
    }),
    // Per core (100 per fully used core), as the definition's help says; only the health
    // status divides it by the CPU count.
    (&SystemMetrics::CPU_USAGE, |s| {
        s.process.map(|p| p.cpu_percent)
    }),
    (&SystemMetrics::PROCESS_START_TIME, |s| {
        s.process.map(|p| p.start_time_unix as f64)
    }),
    // Computed at export time so it keeps counting while the process source fails.
    (&SystemMetrics::UPTIME, |s| {
        s.uptime_seconds(SystemTime::now())
    }),
    (&SystemMetrics::THREADS, |s| s.threads.map(|t| t as f64)),
    (&SystemMetrics::OPEN_FILE_DESCRIPTORS, |s| {
        s.file_descriptors.map(|f| f as f64)
    }),
    (&SystemMetrics::SYSTEM_MEMORY_TOTAL, |s| {
        s.host.map(|h| h.memory_total_bytes as f64)
    }),
    (&SystemMetrics::SYSTEM_MEMORY_USED, |s| {
        s.host.map(|h| h.memory_used_bytes as f64)
    }),
    (&SystemMetrics::SYSTEM_CPUS, |s| {
        s.host.map(|h| h.cpu_count as f64)
    }),
    (&SystemMetrics::PROCESS_HEALTH, |s| {
        s.process_health().map(|h| h.gauge_value())
    }),
    (&SystemMetrics::LAST_COLLECTION_SUCCESS, last_success),
];

pub(super) fn register(collector: &SystemCollector, meter: &Meter) {
    for (def, read) in GAUGES {
        let collector = collector.clone();
        def.observe_f64_gauge(meter, move |obs| {
            if let Some(value) = read(&collector.snapshot()) {
                obs.observe(value, &[]);
            }
        });
    }
    counter(
        meter,
        collector,
        &SystemMetrics::DISK_IO,
        |s, op: DiskOperation| {
            let d = s.disk?;
            Some(match op {
                DiskOperation::Read => d.read_bytes,
                DiskOperation::Write => d.written_bytes,
            })
        },
    );
    counter(
        meter,
        collector,
        &SystemMetrics::NETWORK_IO,
        |s, dir: NetworkDirection| {
            let n = s.network?;
            Some(match dir {
                NetworkDirection::Receive => n.received_bytes,
                NetworkDirection::Transmit => n.transmitted_bytes,
            })
        },
    );
    // Every source exports its count from the start, zero included: `increase()` over a
    // series that appears only with its first failure misses that failure.
    counter(
        meter,
        collector,
        &SystemMetrics::COLLECTION_FAILURES,
        |s, source: ResourceSource| Some(s.failures(source)),
    );
    lock(&collector.shared.metrics).push(SystemMetrics::new(meter));
}

fn last_success(s: &Snapshot) -> Option<f64> {
    let at = s
        .last_success?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?;
    Some(at.as_secs_f64())
}

/// An observable counter reporting the OS's cumulative totals, one series per label value.
fn counter<L: LabelValues + Send + Sync>(
    meter: &Meter,
    collector: &SystemCollector,
    def: &'static MetricDef,
    read: fn(&Snapshot, L) -> Option<u64>,
) {
    let series: Vec<(L, Vec<KeyValue>)> = L::every().map(|l| (l, attributes(def, l))).collect();
    let collector = collector.clone();
    def.observe_u64_counter(meter, move |obs| {
        let snapshot = collector.snapshot();
        for (label, attrs) in &series {
            if let Some(value) = read(&snapshot, *label) {
                obs.observe(value, attrs);
            }
        }
    });
}
