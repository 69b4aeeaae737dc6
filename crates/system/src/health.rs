//! The decisions, as pure functions: process health from the resource thresholds the Alys
//! operators' alerts use (memory 80/90 %, CPU 70/90 %), and what the `/health` check says.

use std::time::Duration;

use alys_telemetry_core::health::CheckResult;

use super::Snapshot;

/// Resident memory, as a share of host memory, above which the process is in warning.
pub const MEMORY_WARNING_PERCENT: f64 = 80.0;
/// Resident memory share above which the process is critical.
pub const MEMORY_CRITICAL_PERCENT: f64 = 90.0;
/// CPU, as a share of the whole host, above which the process is in warning.
pub const CPU_WARNING_PERCENT: f64 = 70.0;
/// CPU share of the host above which the process is critical.
pub const CPU_CRITICAL_PERCENT: f64 = 90.0;

/// Process health from resource thresholds, the values of `alys_process_health_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProcessHealth {
    Healthy,
    Warning,
    Critical,
}

impl ProcessHealth {
    /// The value of [`SystemMetrics::PROCESS_HEALTH`](alys_telemetry_catalog::system::SystemMetrics::PROCESS_HEALTH): 0, 1 or 2.
    pub fn gauge_value(self) -> f64 {
        match self {
            ProcessHealth::Healthy => 0.0,
            ProcessHealth::Warning => 1.0,
            ProcessHealth::Critical => 2.0,
        }
    }

    /// Strictly above a threshold crosses it; an unknown value (or NaN) crosses nothing,
    /// since a missing reading is no evidence of pressure.
    fn of(value: Option<f64>, warning: f64, critical: f64) -> Self {
        match value {
            Some(v) if v > critical => ProcessHealth::Critical,
            Some(v) if v > warning => ProcessHealth::Warning,
            _ => ProcessHealth::Healthy,
        }
    }
}

/// The worse of the memory and CPU classifications. Both are percentages of the host:
/// memory of its total memory, CPU of all its cores together.
pub fn classify(memory_percent: Option<f64>, cpu_percent: Option<f64>) -> ProcessHealth {
    let memory = ProcessHealth::of(
        memory_percent,
        MEMORY_WARNING_PERCENT,
        MEMORY_CRITICAL_PERCENT,
    );
    let cpu = ProcessHealth::of(cpu_percent, CPU_WARNING_PERCENT, CPU_CRITICAL_PERCENT);
    memory.max(cpu)
}

/// What the `system` health check says about `snapshot`, when the last successful
/// collection (or the collector's start, before any) was `quiet_for` ago.
pub fn evaluate(snapshot: &Snapshot, quiet_for: Duration, stale_after: Duration) -> CheckResult {
    if quiet_for >= stale_after {
        return CheckResult::unhealthy(format!(
            "no successful collection for {} s",
            quiet_for.as_secs()
        ));
    }
    let share = |name: &str, v: Option<f64>| match v {
        Some(v) => format!("{name} {v:.1} % of host"),
        None => format!("{name} not read yet"),
    };
    let mut detail = format!(
        "{}, {}",
        share("memory", snapshot.memory_percent_of_host()),
        share("cpu", snapshot.cpu_percent_of_host())
    );
    let failing = snapshot.failing_sources();
    if !failing.is_empty() {
        let names: Vec<&str> = failing.iter().map(|s| s.as_str()).collect();
        detail.push_str(&format!("; failing: {}", names.join(", ")));
    }
    match snapshot.process_health() {
        None | Some(ProcessHealth::Healthy) => CheckResult::healthy(detail),
        Some(ProcessHealth::Warning) => CheckResult::degraded(detail),
        Some(ProcessHealth::Critical) => CheckResult::unhealthy(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostStats, ProcessStats};
    use ProcessHealth::*;
    use alys_telemetry_catalog::system::ResourceSource;
    use alys_telemetry_core::health::HealthStatus;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn memory_thresholds_are_strict() {
        assert_eq!(classify(Some(79.9), None), Healthy);
        assert_eq!(classify(Some(80.0), None), Healthy);
        assert_eq!(classify(Some(80.1), None), Warning);
        assert_eq!(classify(Some(90.0), None), Warning);
        assert_eq!(classify(Some(90.1), None), Critical);
    }

    #[test]
    fn cpu_thresholds_are_strict() {
        assert_eq!(classify(None, Some(70.0)), Healthy);
        assert_eq!(classify(None, Some(70.1)), Warning);
        assert_eq!(classify(None, Some(90.0)), Warning);
        assert_eq!(classify(None, Some(90.1)), Critical);
    }

    #[test]
    fn the_worse_of_memory_and_cpu_wins() {
        assert_eq!(classify(Some(85.0), Some(10.0)), Warning);
        assert_eq!(classify(Some(10.0), Some(95.0)), Critical);
        assert_eq!(classify(Some(95.0), Some(75.0)), Critical);
        assert_eq!(classify(Some(50.0), Some(50.0)), Healthy);
        assert_eq!(classify(Some(f64::NAN), None), Healthy);
        assert_eq!(Critical.gauge_value(), 2.0);
    }

    fn snapshot(rss: u64, cpu_per_core: f64) -> Snapshot {
        let mut s = Snapshot::default();
        s.process = Some(ProcessStats {
            resident_bytes: rss,
            virtual_bytes: rss * 2,
            cpu_percent: cpu_per_core,
            start_time_unix: 1,
        });
        s.host = Some(HostStats {
            memory_total_bytes: 1000,
            memory_used_bytes: 500,
            cpu_count: 4,
        });
        s
    }

    #[test]
    fn check_maps_warning_to_degraded_and_critical_to_unhealthy() {
        let fresh = (S(1), S(300));
        let r = evaluate(&snapshot(451, 48.0), fresh.0, fresh.1);
        assert_eq!(r.status, HealthStatus::Healthy);
        assert_eq!(r.detail, "memory 45.1 % of host, cpu 12.0 % of host");
        // 300 % of one core on 4 cores is 75 % of the host.
        let r = evaluate(&snapshot(100, 300.0), fresh.0, fresh.1);
        assert_eq!(r.status, HealthStatus::Degraded, "{}", r.detail);
        let r = evaluate(&snapshot(950, 0.0), fresh.0, fresh.1);
        assert_eq!(r.status, HealthStatus::Unhealthy, "{}", r.detail);
    }

    #[test]
    fn check_is_unhealthy_after_300_s_without_success() {
        let r = evaluate(&snapshot(10, 1.0), S(299), S(300));
        assert_eq!(r.status, HealthStatus::Healthy);
        let r = evaluate(&snapshot(10, 1.0), S(301), S(300));
        assert_eq!(r.status, HealthStatus::Unhealthy);
        assert_eq!(r.detail, "no successful collection for 301 s");
    }

    #[test]
    fn check_names_failing_sources_and_missing_readings() {
        let mut s = Snapshot::default();
        s.mark(ResourceSource::Disk, true);
        let r = evaluate(&s, S(0), S(300));
        assert_eq!(r.status, HealthStatus::Healthy);
        assert_eq!(
            r.detail,
            "memory not read yet, cpu not read yet; failing: disk"
        );
    }
}
