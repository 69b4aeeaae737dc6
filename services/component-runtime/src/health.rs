//! Each component's health, as the seed's health interface has it (healthy, degraded,
//! unhealthy): from its actor's lifecycle state (the supervisor's view) and from how many of
//! its messages failed over the window. One check per component on `/health`.

use std::sync::Arc;
use std::time::Duration;

use alys_telemetry::health::{CheckResult, HealthRegistry, HealthStatus};
use alys_telemetry::sources::catalog::actors::LifecycleState;

use crate::kinds::HealthLevel;
use crate::state::{ComponentState, Failure};

/// Degraded from this share of failed messages in the window …
pub const DEGRADED_SHARE: f64 = 0.05;
/// … once at least this many failed: one stray error is not a trend.
pub const DEGRADED_MIN_ERRORS: u64 = 2;
/// Unhealthy from this share of failed messages …
pub const UNHEALTHY_SHARE: f64 = 0.5;
/// … once at least this many failed (the seed: multiple failures before unhealthy).
pub const UNHEALTHY_MIN_ERRORS: u64 = 3;

/// Time a check may take: it reads counters, so anything longer is a bug to report.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);

/// A component's messages within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    pub processed: u64,
    pub errors: u64,
}

/// A component's health and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub level: HealthLevel,
    pub detail: String,
}

impl Assessment {
    fn new(level: HealthLevel, detail: impl Into<String>) -> Self {
        Assessment {
            level,
            detail: detail.into(),
        }
    }
}

/// The health of a component in `state` with `activity` over the window; `failure` is what
/// ended its last instance, if one failed.
pub fn assess(state: LifecycleState, activity: Activity, failure: Option<&Failure>) -> Assessment {
    let after = |what: &str| match failure {
        Some(f) => format!("{what} after {}: {}", f.kind.as_str(), f.detail),
        None => what.to_string(),
    };
    match state {
        LifecycleState::Stopping | LifecycleState::Stopped => {
            Assessment::new(HealthLevel::Unhealthy, after("stopped"))
        }
        LifecycleState::Failed | LifecycleState::Restarting | LifecycleState::Recovering => {
            Assessment::new(HealthLevel::Degraded, after(state.as_str()))
        }
        LifecycleState::Spawning => Assessment::new(HealthLevel::Healthy, "starting"),
        LifecycleState::Running => by_errors(activity),
    }
}

/// A running component's health by its share of failed messages.
fn by_errors(Activity { processed, errors }: Activity) -> Assessment {
    let handled = processed + errors;
    let detail = format!(
        "{errors} of {handled} messages failed in the last {} s",
        alys_telemetry::sources::actors::HEALTH_WINDOW.as_secs()
    );
    let share = if handled == 0 {
        0.0
    } else {
        errors as f64 / handled as f64
    };
    let level = if errors >= UNHEALTHY_MIN_ERRORS && share >= UNHEALTHY_SHARE {
        HealthLevel::Unhealthy
    } else if errors >= DEGRADED_MIN_ERRORS && share >= DEGRADED_SHARE {
        HealthLevel::Degraded
    } else {
        HealthLevel::Healthy
    };
    Assessment::new(level, detail)
}

/// The check's name on `/health` for the component `id`.
pub fn check_name(id: crate::kinds::ComponentId) -> String {
    format!("component.{}", id.as_str())
}

/// Registers one check per component on `/health`.
pub fn register(registry: &HealthRegistry, components: &[Arc<ComponentState>]) {
    for component in components {
        let component = Arc::clone(component);
        registry.register(check_name(component.id), CHECK_TIMEOUT, move || {
            let Assessment { level, detail } = component.health();
            async move { CheckResult::new(status(level), detail) }
        });
    }
}

/// The library's status for a level.
fn status(level: HealthLevel) -> HealthStatus {
    match level {
        HealthLevel::Healthy => HealthStatus::Healthy,
        HealthLevel::Degraded => HealthStatus::Degraded,
        HealthLevel::Unhealthy => HealthStatus::Unhealthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::FailureType;

    fn running(processed: u64, errors: u64) -> HealthLevel {
        assess(
            LifecycleState::Running,
            Activity { processed, errors },
            None,
        )
        .level
    }

    #[test]
    fn a_running_component_is_judged_by_its_failed_share() {
        assert_eq!(running(0, 0), HealthLevel::Healthy, "idle is healthy");
        assert_eq!(running(9, 1), HealthLevel::Healthy, "one error is no trend");
        assert_eq!(running(38, 2), HealthLevel::Degraded, "2 of 40 is 5 %");
        assert_eq!(running(40, 2), HealthLevel::Healthy, "2 of 42 is below 5 %");
        assert_eq!(
            running(0, 2),
            HealthLevel::Degraded,
            "two failures are not yet unhealthy"
        );
        assert_eq!(running(3, 3), HealthLevel::Unhealthy, "3 of 6 failed");
        assert_eq!(running(4, 3), HealthLevel::Degraded, "3 of 7 is below half");
        let detail = assess(
            LifecycleState::Running,
            Activity {
                processed: 4,
                errors: 3,
            },
            None,
        );
        assert_eq!(detail.detail, "3 of 7 messages failed in the last 60 s");
    }

    #[test]
    fn the_supervisors_view_decides_first() {
        let failure = Failure {
            kind: FailureType::Crash,
            detail: "lost its reference data".into(),
        };
        let busy = Activity {
            processed: 100,
            errors: 0,
        };
        let restarting = assess(LifecycleState::Restarting, busy, Some(&failure));
        assert_eq!(restarting.level, HealthLevel::Degraded);
        assert_eq!(
            restarting.detail,
            "restarting after crash: lost its reference data"
        );
        let gave_up = assess(LifecycleState::Stopped, busy, Some(&failure));
        assert_eq!(gave_up.level, HealthLevel::Unhealthy);
        assert_eq!(
            assess(LifecycleState::Spawning, busy, None).level,
            HealthLevel::Healthy
        );
        assert_eq!(status(HealthLevel::Degraded), HealthStatus::Degraded);
    }
}
