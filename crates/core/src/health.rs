//! Health checks, shared by the rooms: sources register named checks, each with a timeout,
//! and the pull endpoint serves their report on `/health`. A report runs every check at
//! once; a check that overruns its timeout counts as unhealthy, so the answer never waits
//! longer than the slowest timeout.
//!
//! ```
//! use std::time::Duration;
//! use alys_telemetry_core::health::{CheckResult, HealthRegistry, HealthStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let health = HealthRegistry::new();
//! health.register("chain", Duration::from_millis(100), || async {
//!     CheckResult::healthy("head at 1024")
//! });
//! let report = health.report().await;
//! assert_eq!(report.status, HealthStatus::Healthy);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

/// Health of one component or of the whole process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// What a check says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub status: HealthStatus,
    pub detail: String,
}

impl CheckResult {
    pub fn healthy(detail: impl Into<String>) -> Self {
        Self::new(HealthStatus::Healthy, detail)
    }
    pub fn degraded(detail: impl Into<String>) -> Self {
        Self::new(HealthStatus::Degraded, detail)
    }
    pub fn unhealthy(detail: impl Into<String>) -> Self {
        Self::new(HealthStatus::Unhealthy, detail)
    }
    pub fn new(status: HealthStatus, detail: impl Into<String>) -> Self {
        CheckResult {
            status,
            detail: detail.into(),
        }
    }
}

type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

struct Check {
    name: String,
    timeout: Duration,
    run: CheckFn,
}

/// The `/health` answer.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub checks: std::collections::BTreeMap<String, CheckResult>,
}

/// Named health checks. Cloning shares the registry.
#[derive(Clone)]
pub struct HealthRegistry {
    checks: Arc<RwLock<Vec<Check>>>,
    started: Instant,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthRegistry {
    pub fn new() -> Self {
        HealthRegistry {
            checks: Arc::new(RwLock::new(Vec::new())),
            started: Instant::now(),
        }
    }

    /// Registers (or replaces) the check `name`. It must answer within `timeout`.
    pub fn register<F, Fut>(&self, name: impl Into<String>, timeout: Duration, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        let name = name.into();
        let run: CheckFn = Arc::new(move || Box::pin(check()));
        // A poisoned lock only means a registering thread panicked; the list is still whole.
        let mut checks = self.checks.write().unwrap_or_else(|p| p.into_inner());
        checks.retain(|c| c.name != name);
        checks.push(Check { name, timeout, run });
    }

    /// Runs every check concurrently and folds them: the worst status wins.
    pub async fn report(&self) -> HealthReport {
        let pending: Vec<(String, Duration, CheckFn)> = {
            let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
            checks
                .iter()
                .map(|c| (c.name.clone(), c.timeout, c.run.clone()))
                .collect()
        };
        let mut set = JoinSet::new();
        for (name, timeout, run) in pending {
            set.spawn(async move {
                let result = match tokio::time::timeout(timeout, run()).await {
                    Ok(result) => result,
                    Err(_) => CheckResult::unhealthy(format!(
                        "no answer within {} ms",
                        timeout.as_millis()
                    )),
                };
                (name, result)
            });
        }
        let mut checks = std::collections::BTreeMap::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((name, result)) => {
                    checks.insert(name, result);
                }
                // A panicking check is reported, not propagated: health must always answer.
                Err(e) => {
                    checks.insert(
                        format!("check-{}", checks.len()),
                        CheckResult::unhealthy(format!("check panicked: {e}")),
                    );
                }
            }
        }
        let status = checks
            .values()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        HealthReport {
            status,
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.started.elapsed().as_secs(),
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn worst_status_wins_and_hanging_checks_time_out() {
        let h = HealthRegistry::new();
        h.register("ok", Duration::from_millis(100), || async {
            CheckResult::healthy("fine")
        });
        h.register("slow", Duration::from_millis(50), || async {
            std::future::pending::<CheckResult>().await
        });
        let started = Instant::now();
        let r = h.report().await;
        assert!(started.elapsed() < Duration::from_millis(1000));
        assert_eq!(r.status, HealthStatus::Unhealthy);
        assert_eq!(r.checks["slow"].status, HealthStatus::Unhealthy);
        assert!(r.checks["slow"].detail.contains("50 ms"));
        assert_eq!(r.checks["ok"].status, HealthStatus::Healthy);
    }

    #[tokio::test]
    async fn degraded_is_worse_than_healthy() {
        let h = HealthRegistry::new();
        h.register("a", Duration::from_millis(100), || async {
            CheckResult::healthy("")
        });
        h.register("b", Duration::from_millis(100), || async {
            CheckResult::degraded("lagging")
        });
        assert_eq!(h.report().await.status, HealthStatus::Degraded);
        // Re-registering replaces.
        h.register("b", Duration::from_millis(100), || async {
            CheckResult::healthy("")
        });
        assert_eq!(h.report().await.status, HealthStatus::Healthy);
    }
}
