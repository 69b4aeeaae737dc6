//! What an event makes happen: the rules that match an event's type to actions, and the
//! actions themselves, simulated. Each action takes a while, and now and then fails or hangs
//! past its timeout, with the odds of its kind; an event can also force every one of its
//! actions to succeed, fail or hang (`"simulate"` in its payload), which the tests and the
//! driver's poisoned events use.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::ActionKind;

/// The rules: an event type and the actions it runs, one job each.
pub const RULES: &[(&str, &[ActionKind])] = &[
    (
        "order.created",
        &[
            ActionKind::Payment,
            ActionKind::Email,
            ActionKind::SearchIndex,
        ],
    ),
    ("order.shipped", &[ActionKind::Email, ActionKind::Webhook]),
    (
        "order.cancelled",
        &[ActionKind::Payment, ActionKind::Webhook],
    ),
    ("user.signup", &[ActionKind::Email, ActionKind::SearchIndex]),
];

/// The actions a rule runs for `event_type`; none when no rule matches it.
pub fn actions_for(event_type: &str) -> &'static [ActionKind] {
    RULES
        .iter()
        .find(|(kind, _)| *kind == event_type)
        .map_or(&[], |(_, actions)| actions)
}

/// An outcome an event forces on its actions (`"simulate": "fail"` in its payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forced {
    Succeed,
    Fail,
    Timeout,
}

impl Forced {
    /// The outcome `payload` forces, if it names one.
    pub fn of(payload: &serde_json::Value) -> Option<Forced> {
        serde_json::from_value(payload.get("simulate")?.clone()).ok()
    }
}

/// How the simulated actions behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Simulation {
    /// Multiplies every action's latency (0 makes them instant).
    pub latency_scale: f64,
    /// Whether actions fail and hang at their kind's odds; without it, only a forced outcome
    /// fails or hangs.
    pub random_faults: bool,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            latency_scale: 1.0,
            random_faults: true,
        }
    }
}

/// A kind's latency range and odds of failing and of hanging.
struct Profile {
    latency_ms: (u64, u64),
    fails: f64,
    hangs: f64,
}

const fn profile(action: ActionKind) -> Profile {
    match action {
        ActionKind::Webhook => Profile {
            latency_ms: (20, 200),
            fails: 0.15,
            hangs: 0.05,
        },
        ActionKind::Email => Profile {
            latency_ms: (10, 80),
            fails: 0.05,
            hangs: 0.02,
        },
        ActionKind::SearchIndex => Profile {
            latency_ms: (5, 50),
            fails: 0.03,
            hangs: 0.01,
        },
        ActionKind::Payment => Profile {
            latency_ms: (50, 300),
            fails: 0.10,
            hangs: 0.03,
        },
    }
}

/// Why an action failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ActionError(pub String);

/// Runs `action` for `entity`: its result, or why it failed. A hanging action never
/// returns; its caller's timeout ends it.
pub async fn run(
    action: ActionKind,
    entity: &str,
    forced: Option<Forced>,
    simulation: Simulation,
) -> Result<String, ActionError> {
    let profile = profile(action);
    let (low, high) = profile.latency_ms;
    let latency =
        Duration::from_millis(fastrand::u64(low..=high)).mul_f64(simulation.latency_scale);
    let roll = fastrand::f64();
    let outcome = forced.unwrap_or(if !simulation.random_faults {
        Forced::Succeed
    } else if roll < profile.hangs {
        Forced::Timeout
    } else if roll < profile.hangs + profile.fails {
        Forced::Fail
    } else {
        Forced::Succeed
    });
    match outcome {
        Forced::Timeout => std::future::pending().await,
        Forced::Fail => {
            tokio::time::sleep(latency).await;
            Err(ActionError(failure(action, entity)))
        }
        Forced::Succeed => {
            tokio::time::sleep(latency).await;
            Ok(success(action, entity))
        }
    }
}

fn success(action: ActionKind, entity: &str) -> String {
    match action {
        ActionKind::Webhook => format!("webhook for {entity} delivered (HTTP 200)"),
        ActionKind::Email => format!("e-mail about {entity} sent"),
        ActionKind::SearchIndex => format!("{entity} indexed"),
        ActionKind::Payment => format!("payment for {entity} settled"),
    }
}

fn failure(action: ActionKind, entity: &str) -> String {
    match action {
        ActionKind::Webhook => format!("webhook for {entity}: subscriber answered HTTP 503"),
        ActionKind::Email => format!("e-mail about {entity}: mail server refused the message"),
        ActionKind::SearchIndex => format!("indexing {entity}: index is read-only"),
        ActionKind::Payment => format!("payment for {entity}: processor declined"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_known_types_only() {
        assert_eq!(
            actions_for("order.shipped"),
            [ActionKind::Email, ActionKind::Webhook]
        );
        assert!(actions_for("audit.ping").is_empty());
    }

    #[test]
    fn a_payload_forces_an_outcome() {
        let payload = serde_json::json!({ "simulate": "timeout" });
        assert_eq!(Forced::of(&payload), Some(Forced::Timeout));
        assert_eq!(
            Forced::of(&serde_json::json!({ "simulate": "never" })),
            None
        );
        assert_eq!(Forced::of(&serde_json::json!(null)), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn forced_outcomes_are_what_they_say() {
        let instant = Simulation {
            latency_scale: 0.0,
            random_faults: true,
        };
        let ok = run(ActionKind::Email, "user-1", Some(Forced::Succeed), instant).await;
        assert_eq!(ok.unwrap(), "e-mail about user-1 sent");
        let failed = run(ActionKind::Payment, "order-1", Some(Forced::Fail), instant).await;
        assert!(failed.unwrap_err().0.contains("declined"));
        let hang = run(
            ActionKind::Webhook,
            "order-1",
            Some(Forced::Timeout),
            instant,
        );
        let waited = tokio::time::timeout(Duration::from_millis(20), hang).await;
        assert!(waited.is_err(), "a hanging action never returns");
    }
}
