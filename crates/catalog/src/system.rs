//! Process and host resources, read by the system resource
//! collector (crate `alys-telemetry-system`). Most are observed: a callback reads the collector's
//! latest snapshot when metrics are collected, so the disk and network counters are the
//! operating system's own totals.

use crate::instruments::{CounterVec, Gauge, Histogram};
use crate::{LabelValue, MetricFamily, Observed};

/// What the process and host resource alerts (HighMemoryUsage, HighCpuUsage, …) and the
/// system dashboard read.
const ALERTS: &str = "the name the Alys system dashboard and resource alert rules query";

/// The collector's synchronous instruments, and the definitions of what it publishes as
/// observed metrics.
#[derive(MetricFamily)]
#[family(title = "system", crate = crate)]
pub struct SystemMetrics {
    /// Time one system resource collection takes
    #[metric(
        name = "alys_system_collection_duration_seconds",
        unit = "s",
        buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0],
        why = "operators see when reading /proc becomes slow"
    )]
    pub collection_duration: Histogram,
    /// Resident memory of the node process
    #[metric(name = "alys_memory_usage_bytes", unit = "By", why = ALERTS)]
    memory_usage: Observed<Gauge>,
    /// Virtual memory of the node process
    #[metric(name = "alys_virtual_memory_bytes", unit = "By", why = ALERTS)]
    virtual_memory: Observed<Gauge>,
    /// CPU used by the node process since the last collection, 100 per fully used core
    #[metric(name = "alys_cpu_usage_percent", unit = "%", why = ALERTS)]
    cpu_usage: Observed<Gauge>,
    /// Threads of the node process (from /proc, not the CPU count)
    #[metric(name = "alys_process_threads", why = ALERTS)]
    threads: Observed<Gauge>,
    /// Open file descriptors of the node process
    #[metric(name = "alys_open_file_descriptors", why = ALERTS)]
    open_file_descriptors: Observed<Gauge>,
    /// Unix time the node process started
    #[metric(name = "alys_process_start_time_seconds", unit = "s", why = ALERTS)]
    process_start_time: Observed<Gauge>,
    /// Seconds since the node process started
    #[metric(
        name = "alys_uptime_seconds",
        unit = "s",
        why = "alert rules hold back start-up noise until a node has run a while"
    )]
    uptime: Observed<Gauge>,
    /// Total memory of the host
    #[metric(name = "alys_system_memory_total_bytes", unit = "By", why = ALERTS)]
    system_memory_total: Observed<Gauge>,
    /// Memory in use on the host
    #[metric(name = "alys_system_memory_used_bytes", unit = "By", why = ALERTS)]
    system_memory_used: Observed<Gauge>,
    /// Logical CPUs of the host
    #[metric(name = "alys_system_cpus", why = ALERTS)]
    system_cpus: Observed<Gauge>,
    /// Process health from memory (80/90 %) and CPU (70/90 %) thresholds: 0 healthy, 1 warning, 2 critical
    #[metric(name = "alys_process_health_status", why = ALERTS)]
    process_health: Observed<Gauge>,
    /// Unix time of the last collection in which at least one source succeeded
    #[metric(
        name = "alys_system_collection_last_success_timestamp_seconds",
        unit = "s",
        why = "the SystemCollectionStale alert fires when it falls behind"
    )]
    last_collection_success: Observed<Gauge>,
    /// Bytes the node process read from and wrote to disk
    #[metric(name = "alys_disk_io_bytes_total", unit = "By", labels(operation), why = ALERTS)]
    disk_io: Observed<CounterVec<DiskOperation>>,
    /// Bytes received and transmitted on the host's network interfaces
    #[metric(name = "alys_network_io_bytes_total", unit = "By", labels(direction), why = ALERTS)]
    network_io: Observed<CounterVec<NetworkDirection>>,
    /// Failed reads of one resource source
    #[metric(
        name = "alys_system_collection_failures_total",
        labels(source),
        why = "the SystemCollectionFailing alert names the source that fails"
    )]
    collection_failures: Observed<CounterVec<ResourceSource>>,
}

/// Direction of disk I/O (`operation` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum DiskOperation {
    Read,
    Write,
}

/// Direction of network I/O (`direction` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum NetworkDirection {
    Receive,
    Transmit,
}

/// One source of the system resource collector (`source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum ResourceSource {
    Process,
    Memory,
    Disk,
    Network,
    Threads,
    FileDescriptors,
}
