//! Process and host resources, read by the [system resource
//! collector](crate::sources::system). Most are observed: a callback reads the collector's
//! latest snapshot when metrics are collected, so the disk and network counters are the
//! operating system's own totals.

use super::family::metric_family;
use super::labels::label_enum;

/// What the process and host resource alerts (HighMemoryUsage, HighCpuUsage, …) and the
/// system dashboard read.
const ALERTS: &str = "the name the Alys system dashboard and resource alert rules query";

metric_family! {
    /// The collector's synchronous instruments; everything else it publishes is observed.
    pub struct SystemMetrics, "system" {
        /// Time one system resource collection takes
        pub collection_duration: histogram("alys_system_collection_duration_seconds") {
            unit: "s",
            buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0],
            why: "operators see when reading /proc becomes slow",
        },
    }
    observed {
        /// Resident memory of the node process
        memory_usage: gauge("alys_memory_usage_bytes") { unit: "By", why: ALERTS },
        /// Virtual memory of the node process
        virtual_memory: gauge("alys_virtual_memory_bytes") { unit: "By", why: ALERTS },
        /// CPU used by the node process since the last collection, 100 per fully used core
        cpu_usage: gauge("alys_cpu_usage_percent") { unit: "%", why: ALERTS },
        /// Threads of the node process (from /proc, not the CPU count)
        threads: gauge("alys_process_threads") { why: ALERTS },
        /// Open file descriptors of the node process
        open_file_descriptors: gauge("alys_open_file_descriptors") { why: ALERTS },
        /// Unix time the node process started
        process_start_time: gauge("alys_process_start_time_seconds") { unit: "s", why: ALERTS },
        /// Seconds since the node process started
        uptime: gauge("alys_uptime_seconds") {
            unit: "s",
            why: "alert rules hold back start-up noise until a node has run a while",
        },
        /// Total memory of the host
        system_memory_total: gauge("alys_system_memory_total_bytes") { unit: "By", why: ALERTS },
        /// Memory in use on the host
        system_memory_used: gauge("alys_system_memory_used_bytes") { unit: "By", why: ALERTS },
        /// Logical CPUs of the host
        system_cpus: gauge("alys_system_cpus") { why: ALERTS },
        /// Process health from memory (80/90 %) and CPU (70/90 %) thresholds: 0 healthy, 1 warning, 2 critical
        process_health: gauge("alys_process_health_status") { why: ALERTS },
        /// Unix time of the last collection in which at least one source succeeded
        last_collection_success: gauge("alys_system_collection_last_success_timestamp_seconds") {
            unit: "s",
            why: "the SystemCollectionStale alert fires when it falls behind",
        },
        /// Bytes the node process read from and wrote to disk
        disk_io: counter("alys_disk_io_bytes_total") {
            unit: "By",
            labels: { operation: DiskOperation },
            why: ALERTS,
        },
        /// Bytes received and transmitted on the host's network interfaces
        network_io: counter("alys_network_io_bytes_total") {
            unit: "By",
            labels: { direction: NetworkDirection },
            why: ALERTS,
        },
        /// Failed reads of one resource source
        collection_failures: counter("alys_system_collection_failures_total") {
            labels: { source: ResourceSource },
            why: "the SystemCollectionFailing alert names the source that fails",
        },
    }
}

label_enum! {
    /// Direction of disk I/O (`operation` label).
    pub enum DiskOperation {
        Read => "read",
        Write => "write",
    }
}

label_enum! {
    /// Direction of network I/O (`direction` label).
    pub enum NetworkDirection {
        Receive => "receive",
        Transmit => "transmit",
    }
}

label_enum! {
    /// One source of the system resource collector (`source` label).
    pub enum ResourceSource {
        Process => "process",
        Memory => "memory",
        Disk => "disk",
        Network => "network",
        Threads => "threads",
        FileDescriptors => "file_descriptors",
    }
}
