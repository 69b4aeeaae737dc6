//! The recent history of each health check: the viewer runs the report every few seconds and
//! keeps the last results of every check, so `/health`'s page and `top` show how a check got
//! where it is, not only where it is.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use alys_telemetry_core::health::{HealthRegistry, HealthReport, HealthStatus};

/// How often the checks are run for the history.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Results kept per check: ten minutes at the sampling interval.
pub const KEPT: usize = 120;

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Unix time in milliseconds.
    pub at_unix_ms: u64,
    pub status: HealthStatus,
    pub detail: String,
}

/// The kept results, per check and for the whole process (under the name `""`).
#[derive(Debug, Clone, Default)]
pub struct HealthHistory {
    checks: Arc<Mutex<BTreeMap<String, VecDeque<Sample>>>>,
}

/// The whole process's entry in [`HealthHistory::snapshot`].
pub const OVERALL: &str = "";

impl HealthHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `report`'s results, taken at `at`.
    pub fn record(&self, report: &HealthReport, at: SystemTime) {
        let at_unix_ms = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut push = |name: &str, status: HealthStatus, detail: &str| {
            let list = checks.entry(name.to_string()).or_default();
            if list.len() == KEPT {
                list.pop_front();
            }
            list.push_back(Sample {
                at_unix_ms,
                status,
                detail: detail.to_string(),
            });
        };
        push(OVERALL, report.status, "");
        for (name, result) in &report.checks {
            push(name, result.status, &result.detail);
        }
    }

    /// Every check's kept results, oldest first.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<Sample>> {
        let checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        checks
            .iter()
            .map(|(name, list)| (name.clone(), list.iter().cloned().collect()))
            .collect()
    }

    /// Runs `health`'s report every `interval` and records it, until `stop` turns true.
    pub fn spawn(
        &self,
        health: HealthRegistry,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let history = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.wait_for(|stop| *stop) => return,
                }
                let report = health.report().await;
                history.record(&report, SystemTime::now());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alys_telemetry_core::health::CheckResult;

    #[tokio::test]
    async fn keeps_the_latest_results_of_each_check() {
        let health = HealthRegistry::new();
        health.register("chain", Duration::from_millis(100), || async {
            CheckResult::degraded("no block for 6000 ms")
        });
        let history = HealthHistory::new();
        for _ in 0..KEPT + 3 {
            history.record(&health.report().await, SystemTime::now());
        }
        let snap = history.snapshot();
        assert_eq!(snap["chain"].len(), KEPT);
        assert_eq!(snap["chain"][0].status, HealthStatus::Degraded);
        assert_eq!(snap[OVERALL].len(), KEPT);
    }
}
