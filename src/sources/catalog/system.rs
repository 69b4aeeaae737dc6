//! Process and host resources, read by the system resource collector (seed 001, phase 4).

use super::MetricDef;

const SEED: &str = "seed 001 phase 4 (system resources)";

const fn gauge(name: &'static str, unit: &'static str, help: &'static str) -> MetricDef {
    MetricDef::gauge(name, unit, help, &[]).from(SEED)
}

pub const MEMORY_USAGE: MetricDef = gauge(
    "alys_memory_usage_bytes",
    "By",
    "Resident memory of the node process",
);
pub const VIRTUAL_MEMORY: MetricDef = gauge(
    "alys_virtual_memory_bytes",
    "By",
    "Virtual memory of the node process",
);
pub const CPU_USAGE: MetricDef = gauge(
    "alys_cpu_usage_percent",
    "%",
    "CPU used by the node process since the last collection, 100 per fully used core",
);
pub const THREAD_COUNT: MetricDef = gauge(
    "alys_process_threads",
    "",
    "Threads of the node process (from /proc, not the CPU count)",
);
pub const OPEN_FILE_DESCRIPTORS: MetricDef = gauge(
    "alys_open_file_descriptors",
    "",
    "Open file descriptors of the node process",
);
pub const PROCESS_START_TIME: MetricDef = gauge(
    "alys_process_start_time_seconds",
    "s",
    "Unix time the node process started",
);
pub const UPTIME: MetricDef = gauge(
    "alys_uptime_seconds",
    "s",
    "Seconds since the node process started",
);
pub const SYSTEM_MEMORY_TOTAL: MetricDef = gauge(
    "alys_system_memory_total_bytes",
    "By",
    "Total memory of the host",
);
pub const SYSTEM_MEMORY_USED: MetricDef = gauge(
    "alys_system_memory_used_bytes",
    "By",
    "Memory in use on the host",
);
pub const SYSTEM_CPU_COUNT: MetricDef = gauge("alys_system_cpus", "", "Logical CPUs of the host");
pub const PROCESS_HEALTH: MetricDef = gauge(
    "alys_process_health_status",
    "",
    "Process health from memory (80/90 %) and CPU (70/90 %) thresholds: 0 healthy, 1 warning, 2 critical",
);
pub const LAST_COLLECTION_SUCCESS: MetricDef = gauge(
    "alys_system_collection_last_success_timestamp_seconds",
    "s",
    "Unix time of the last collection in which at least one source succeeded",
);

pub const DISK_IO: MetricDef = MetricDef::counter(
    "alys_disk_io_bytes_total",
    "By",
    "Bytes the node process read from and wrote to disk",
    &["operation"],
)
.from(SEED);
pub const NETWORK_IO: MetricDef = MetricDef::counter(
    "alys_network_io_bytes_total",
    "By",
    "Bytes received and transmitted on the host's network interfaces",
    &["direction"],
)
.from(SEED);
pub const COLLECTION_DURATION: MetricDef = MetricDef::histogram(
    "alys_system_collection_duration_seconds",
    "s",
    "Time one system resource collection takes",
    &[],
    &[
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    ],
)
.from(SEED);
pub const COLLECTION_FAILURES: MetricDef = MetricDef::counter(
    "alys_system_collection_failures_total",
    "",
    "Failed reads of one resource source",
    &["source"],
)
.from(SEED);

pub const ALL: &[MetricDef] = &[
    MEMORY_USAGE,
    VIRTUAL_MEMORY,
    CPU_USAGE,
    THREAD_COUNT,
    OPEN_FILE_DESCRIPTORS,
    PROCESS_START_TIME,
    UPTIME,
    SYSTEM_MEMORY_TOTAL,
    SYSTEM_MEMORY_USED,
    SYSTEM_CPU_COUNT,
    PROCESS_HEALTH,
    LAST_COLLECTION_SUCCESS,
    DISK_IO,
    NETWORK_IO,
    COLLECTION_DURATION,
    COLLECTION_FAILURES,
];
