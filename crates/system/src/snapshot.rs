//! The latest reading of every source, and what one collection did.

use std::time::{Duration, SystemTime};

use alys_telemetry_catalog::system::ResourceSource;

use super::{
    DiskTotals, HostStats, NetworkTotals, ProcessHealth, ProcessStats, ReadError, classify,
};

pub(super) const SOURCES: usize = ResourceSource::ALL.len();

/// The latest good reading of every source, and the failure history.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub process: Option<ProcessStats>,
    /// Read by the `memory` source.
    pub host: Option<HostStats>,
    pub disk: Option<DiskTotals>,
    pub network: Option<NetworkTotals>,
    pub threads: Option<u64>,
    pub file_descriptors: Option<u64>,
    /// When a collection last had at least one source succeed.
    pub last_success: Option<SystemTime>,
    failures: [u64; SOURCES],
    failing: [bool; SOURCES],
}

impl Snapshot {
    /// Failed reads of `source` since the collector started.
    pub fn failures(&self, source: ResourceSource) -> u64 {
        // In range by construction of the label enum; `get` keeps a mistake from panicking.
        self.failures.get(source as usize).copied().unwrap_or(0)
    }

    /// Sources whose last read failed.
    pub fn failing_sources(&self) -> Vec<ResourceSource> {
        ResourceSource::ALL
            .iter()
            .copied()
            .filter(|s| self.failing.get(*s as usize).copied().unwrap_or(false))
            .collect()
    }

    /// Resident memory as a percentage of host memory.
    pub fn memory_percent_of_host(&self) -> Option<f64> {
        let (process, host) = (self.process?, self.host?);
        (host.memory_total_bytes > 0)
            .then(|| process.resident_bytes as f64 / host.memory_total_bytes as f64 * 100.0)
    }

    /// Process CPU as a percentage of all the host's cores (the per-core figure divided
    /// by the CPU count), the scale of the health thresholds. While the CPU count
    /// is unknown the per-core figure is used as is: overstated, never understated.
    pub fn cpu_percent_of_host(&self) -> Option<f64> {
        let per_core = self.process?.cpu_percent;
        match self.host {
            Some(host) if host.cpu_count > 0 => Some(per_core / host.cpu_count as f64),
            _ => Some(per_core),
        }
    }

    /// Health from the thresholds; `None` before the process was ever read.
    pub fn process_health(&self) -> Option<ProcessHealth> {
        self.process?;
        Some(classify(
            self.memory_percent_of_host(),
            self.cpu_percent_of_host(),
        ))
    }

    /// Seconds since the process started, at `now`.
    pub fn uptime_seconds(&self, now: SystemTime) -> Option<f64> {
        let start = self.process?.start_time_unix;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        Some((now - start as f64).max(0.0))
    }

    /// Records the outcome of one read of `source`; returns whether it changed state.
    pub(super) fn mark(&mut self, source: ResourceSource, failed: bool) -> bool {
        let i = source as usize;
        if failed && let Some(count) = self.failures.get_mut(i) {
            *count = count.saturating_add(1);
        }
        match self.failing.get_mut(i) {
            Some(flag) => std::mem::replace(flag, failed) != failed,
            None => false,
        }
    }
}

/// What one collection did.
#[derive(Debug)]
pub struct CollectionReport {
    /// Time spent reading the sources.
    pub duration: Duration,
    /// The sources that failed, with why.
    pub failures: Vec<(ResourceSource, ReadError)>,
}

impl CollectionReport {
    /// At least one source succeeded: partial success is success.
    pub fn succeeded(&self) -> bool {
        self.failures.len() < SOURCES
    }

    /// Whether `source` failed in this collection.
    pub fn failed(&self, source: ResourceSource) -> bool {
        self.failures.iter().any(|(s, _)| *s == source)
    }
}
