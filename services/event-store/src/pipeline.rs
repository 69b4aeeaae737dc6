//! Stream pipelines: named filters every stored event goes through, as AllSource's stream
//! processing runs them. A pipeline passes an event (it is processed: counted, and its
//! sequence kept as the pipeline's latest) or drops it (it is filtered), by its event type
//! and/or one field of its payload.
//!
//! A pipeline's name becomes the `pipeline` label of its metrics, so it is bounded twice:
//! a name is 1 to 32 characters of `[a-z0-9_-]` (the form the keyed instruments keep as it
//! is), and at most [`MAX_PIPELINES`] are registered at once.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{MAX_NAME_LEN, StoredEvent};
use crate::metrics::PipelineMetrics;

/// Most pipelines registered at once: every event runs through each of them.
pub const MAX_PIPELINES: usize = 16;
/// Longest pipeline name, in characters.
pub const MAX_PIPELINE_NAME: usize = 32;
/// Distinct pipeline names the per-pipeline metrics keep series for over the process's life:
/// four times the pipelines registered at once, room for pipelines replaced during a run.
/// Past it the SDK folds new names into its overflow series, and the library counts each
/// such record in `alys_telemetry_cardinality_overflow_total{metric}`.
pub const PIPELINE_SERIES: usize = 4 * MAX_PIPELINES;

/// Why a pipeline was not registered or removed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The body is not JSON of a pipeline's shape.
    #[error("the body is not a valid pipeline: {0}")]
    Json(#[source] serde_json::Error),
    /// A field's value is not allowed.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken.
    #[error("a pipeline named `{0}` is already registered")]
    Exists(String),
    /// As many pipelines are registered as the store runs.
    #[error("{MAX_PIPELINES} pipelines are registered, the most the store runs: delete one first")]
    Full,
    /// No pipeline has the name asked for.
    #[error("no pipeline named `{0}` is registered")]
    NotFound(String),
}

/// A pipeline as a client registers it (`POST /pipelines`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: String,
    /// Passes only events of this type.
    pub event_type: Option<String>,
    /// Passes only events whose object payload has this field ...
    pub field: Option<String>,
    /// ... with this value (any JSON value; without it, any value passes).
    pub equals: Option<Value>,
}

/// A registered pipeline, with what it has seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pipeline {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// Events its filter passed.
    pub processed: u64,
    /// Events its filter dropped.
    pub filtered: u64,
    /// The sequence of the latest event it passed.
    pub last_sequence: Option<u64>,
}

impl PipelineSpec {
    /// A pipeline from a request body, or what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<PipelineSpec, PipelineError> {
        let spec: PipelineSpec = serde_json::from_slice(body).map_err(PipelineError::Json)?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), PipelineError> {
        check_name(&self.name)?;
        // `equals` alone is a filter missing its field, which says more than "no filter".
        if self.equals.is_some() && self.field.is_none() {
            return Err(invalid(
                "`equals` compares a payload `field`, and none is given",
            ));
        }
        if self.event_type.is_none() && self.field.is_none() {
            return Err(invalid(
                "a pipeline filters on `event_type`, `field`, or both",
            ));
        }
        for (key, value) in [("event_type", &self.event_type), ("field", &self.field)] {
            match value.as_deref() {
                Some("") => return Err(invalid(&format!("`{key}` is empty"))),
                Some(v) if v.len() > MAX_NAME_LEN => {
                    return Err(invalid(&format!(
                        "`{key}` is longer than {MAX_NAME_LEN} bytes"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A name is a label value: 1 to 32 characters of `[a-z0-9_-]`.
fn check_name(name: &str) -> Result<(), PipelineError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-');
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.chars().count() > MAX_PIPELINE_NAME {
        Some(format!("is longer than {MAX_PIPELINE_NAME} characters"))
    } else {
        name.chars()
            .find(|c| !allowed(*c))
            .map(|c| format!("contains {c:?}"))
    };
    match problem {
        Some(problem) => Err(invalid(&format!(
            "the pipeline name {name:?} {problem}: a name is 1 to {MAX_PIPELINE_NAME} \
             characters of [a-z0-9_-]"
        ))),
        None => Ok(()),
    }
}

fn invalid(message: &str) -> PipelineError {
    PipelineError::Invalid(message.to_string())
}

impl Pipeline {
    fn passes(&self, event: &StoredEvent) -> bool {
        let of_type = self
            .event_type
            .as_ref()
            .is_none_or(|t| *t == event.event_type);
        let field = match &self.field {
            None => true,
            Some(field) => match (event.payload.get(field), &self.equals) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(value), Some(wanted)) => value == wanted,
            },
        };
        of_type && field
    }
}

/// The registered pipelines, in the order they were registered.
#[derive(Debug, Default)]
pub struct Pipelines {
    registered: Vec<Pipeline>,
}

impl Pipelines {
    /// Registers `spec`; refused when its name is taken or [`MAX_PIPELINES`] are registered.
    pub fn register(&mut self, spec: PipelineSpec) -> Result<Pipeline, PipelineError> {
        if self.registered.iter().any(|p| p.name == spec.name) {
            return Err(PipelineError::Exists(spec.name));
        }
        if self.registered.len() >= MAX_PIPELINES {
            return Err(PipelineError::Full);
        }
        let pipeline = Pipeline {
            name: spec.name,
            event_type: spec.event_type,
            field: spec.field,
            equals: spec.equals,
            processed: 0,
            filtered: 0,
            last_sequence: None,
        };
        self.registered.push(pipeline.clone());
        Ok(pipeline)
    }

    /// Removes the pipeline `name`; returns it, with what it saw.
    pub fn remove(&mut self, name: &str) -> Result<Pipeline, PipelineError> {
        let index = self
            .registered
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| PipelineError::NotFound(name.to_string()))?;
        Ok(self.registered.remove(index))
    }

    pub fn list(&self) -> &[Pipeline] {
        &self.registered
    }

    pub fn len(&self) -> usize {
        self.registered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }

    /// Runs `event` through every pipeline, each measured under its name.
    pub fn run(&mut self, event: &StoredEvent, metrics: &PipelineMetrics) {
        for pipeline in &mut self.registered {
            let started = Instant::now();
            let passes = pipeline.passes(event);
            if passes {
                pipeline.processed += 1;
                pipeline.last_sequence = Some(event.sequence);
            } else {
                pipeline.filtered += 1;
            }
            let took = started.elapsed().as_secs_f64();
            metrics.duration.record(&pipeline.name, took);
            match passes {
                true => metrics.processed.add(&pipeline.name, 1),
                false => metrics.filtered.add(&pipeline.name, 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(body: Value) -> Result<PipelineSpec, PipelineError> {
        PipelineSpec::parse(body.to_string().as_bytes())
    }

    fn event(event_type: &str, payload: Value) -> StoredEvent {
        StoredEvent {
            sequence: 7,
            event_type: event_type.into(),
            entity_id: "e".into(),
            payload,
            metadata: None,
            timestamp_ms: 0,
        }
    }

    #[test]
    fn names_are_bounded_label_values() {
        assert!(spec(json!({"name": "eur-payments_2", "field": "currency"})).is_ok());
        for name in ["", "Orders", "a b", "ünï", &"a".repeat(33)] {
            let error = spec(json!({"name": name, "field": "x"})).expect_err(name);
            assert!(error.to_string().contains("[a-z0-9_-]"), "{error}");
        }
        assert!(spec(json!({"name": "a"})).is_err(), "no filter");
        assert!(
            spec(json!({"name": "a", "equals": 1})).is_err(),
            "equals alone"
        );
        assert!(spec(json!({"name": "a", "field": "x", "color": 1})).is_err());
    }

    #[test]
    fn filters_pass_by_type_and_field() {
        let mut pipelines = Pipelines::default();
        let registered = pipelines.register(
            spec(json!({"name": "eur", "event_type": "payment.processed",
                        "field": "currency", "equals": "EUR"}))
            .expect("valid"),
        );
        let p = registered.expect("registered");
        assert!(p.passes(&event("payment.processed", json!({"currency": "EUR"}))));
        assert!(!p.passes(&event("payment.processed", json!({"currency": "USD"}))));
        assert!(!p.passes(&event("order.placed", json!({"currency": "EUR"}))));
        assert!(!p.passes(&event("payment.processed", json!("EUR"))));
        let any = spec(json!({"name": "any", "field": "amount"})).expect("valid");
        let any = pipelines.register(any).expect("registered");
        assert!(any.passes(&event("x", json!({"amount": null}))));
    }

    #[test]
    fn names_are_unique_and_the_count_is_capped() {
        let mut pipelines = Pipelines::default();
        for i in 0..MAX_PIPELINES {
            let s = spec(json!({"name": format!("p{i}"), "field": "x"})).expect("valid");
            assert!(pipelines.register(s).is_ok());
        }
        let again = spec(json!({"name": "p0", "field": "x"})).expect("valid");
        assert!(matches!(
            pipelines.register(again),
            Err(PipelineError::Exists(_))
        ));
        let more = spec(json!({"name": "more", "field": "x"})).expect("valid");
        assert!(matches!(pipelines.register(more), Err(PipelineError::Full)));
        assert!(pipelines.remove("p3").is_ok());
        assert!(matches!(
            pipelines.remove("p3"),
            Err(PipelineError::NotFound(_))
        ));
        assert_eq!(pipelines.len(), MAX_PIPELINES - 1);
    }
}
