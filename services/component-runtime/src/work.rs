//! What each component does to a record, and how it can fail. The work is simulated (a
//! source that stamps, a parser, an enricher with reference data, a sink that delivers), as
//! the demo node simulates a chain; the failures are the ones such components have, at
//! configurable rates, plus a crash a caller can ask for.

use std::time::Duration;

use fastrand::Rng;

use crate::kinds::{ComponentId, ErrorType};
use crate::record::Record;

/// How often things go wrong, each a chance per event in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// A component crashes while processing a message.
    pub crash_rate: f64,
    /// The sink's delivery overruns its deadline.
    pub timeout_rate: f64,
    /// A restarted instance fails to come up.
    pub instantiation_failure_rate: f64,
}

impl Faults {
    /// Nothing fails unless a caller asks for it.
    pub const NONE: Faults = Faults {
        crash_rate: 0.0,
        timeout_rate: 0.0,
        instantiation_failure_rate: 0.0,
    };
}

/// The sink's deadline for one delivery.
pub const DELIVERY_DEADLINE: Duration = Duration::from_millis(25);

/// The most `key=value` pairs a payload may hold.
pub const MAX_PAIRS: usize = 32;

/// Sensors the enricher has reference data for, and where each stands.
pub const REFERENCE: [(&str, &str); 8] = [
    ("s1", "boiler-room"),
    ("s2", "roof"),
    ("s3", "server-hall"),
    ("s4", "loading-dock"),
    ("s5", "cold-store"),
    ("s6", "office"),
    ("s7", "workshop"),
    ("s8", "basement"),
];

/// Why a component could not process a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    #[error("the payload is not key=value pairs: {0}")]
    InvalidPayload(String),
    #[error("no reference data for sensor {0:?}")]
    MissingReference(String),
    #[error("the delivery did not finish within {} ms", DELIVERY_DEADLINE.as_millis())]
    Timeout,
    /// The component itself failed; its supervisor restarts it.
    #[error("crashed: {0}")]
    Crash(String),
}

impl ComponentError {
    /// Its `error_type` label.
    pub fn error_type(&self) -> ErrorType {
        match self {
            ComponentError::InvalidPayload(_) => ErrorType::InvalidPayload,
            ComponentError::MissingReference(_) => ErrorType::MissingReference,
            ComponentError::Timeout => ErrorType::Timeout,
            ComponentError::Crash(_) => ErrorType::Crash,
        }
    }
}

/// Component `id` processes `record`: the record's fields change, or it fails.
pub async fn process(
    id: ComponentId,
    record: &mut Record,
    faults: &Faults,
    rng: &mut Rng,
) -> Result<(), ComponentError> {
    if record.crash_at == Some(id) {
        return Err(ComponentError::Crash(
            "a fault injected by the caller".into(),
        ));
    }
    if rng.f64() < faults.crash_rate {
        return Err(ComponentError::Crash("lost its working state".into()));
    }
    match id {
        ComponentId::Source => {
            simulate(rng, 200..1_000).await;
            Ok(())
        }
        ComponentId::Parser => {
            simulate(rng, 300..2_000).await;
            let pairs = parse_payload(&record.payload).map_err(ComponentError::InvalidPayload)?;
            record.fields.extend(pairs);
            Ok(())
        }
        ComponentId::Enricher => {
            simulate(rng, 500..4_000).await;
            let location = enrich(&record.fields)?;
            record.fields.insert("location".into(), location.into());
            Ok(())
        }
        ComponentId::Sink => deliver(faults, rng).await,
    }
}

/// The enricher's lookup: the location of the record's sensor.
pub fn enrich(
    fields: &std::collections::BTreeMap<String, String>,
) -> Result<&'static str, ComponentError> {
    let sensor = fields.get("sensor").map(String::as_str).unwrap_or("");
    REFERENCE
        .iter()
        .find(|(s, _)| *s == sensor)
        .map(|(_, location)| *location)
        .ok_or_else(|| ComponentError::MissingReference(sensor.to_string()))
}

/// The sink writes the record downstream, within its deadline or not at all.
async fn deliver(faults: &Faults, rng: &mut Rng) -> Result<(), ComponentError> {
    if rng.f64() < faults.timeout_rate {
        // The downstream write hangs; the sink gives up at its deadline.
        tokio::time::sleep(DELIVERY_DEADLINE).await;
        return Err(ComponentError::Timeout);
    }
    simulate(rng, 1_000..4_000).await;
    Ok(())
}

/// Starts an instance of a component (loading and preparing it, simulated); a restarted
/// one fails to come up at the configured rate.
pub async fn instantiate(restart: bool, faults: &Faults, rng: &mut Rng) -> Result<(), String> {
    simulate(rng, 1_000..8_000).await;
    if restart && rng.f64() < faults.instantiation_failure_rate {
        return Err("its module did not load".into());
    }
    Ok(())
}

/// Spends `micros` (a range) of simulated work.
async fn simulate(rng: &mut Rng, micros: std::ops::Range<u64>) {
    tokio::time::sleep(Duration::from_micros(rng.u64(micros))).await;
}

/// `key=value` pairs separated by whitespace: at least one, at most [`MAX_PAIRS`], keys of
/// `[a-z0-9_]`, values not empty. The error says which token is wrong.
pub fn parse_payload(payload: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for token in payload.split_whitespace() {
        let Some((key, value)) = token.split_once('=') else {
            return Err(format!("{token:?} has no '='"));
        };
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(format!("{key:?} is not a key of [a-z0-9_]"));
        }
        if value.is_empty() {
            return Err(format!("{key:?} has no value"));
        }
        pairs.push((key.to_string(), value.to_string()));
        if pairs.len() > MAX_PAIRS {
            return Err(format!("more than {MAX_PAIRS} pairs"));
        }
    }
    if pairs.is_empty() {
        return Err("no pairs".into());
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &str, stage: ComponentId) -> Record {
        Record {
            id: 1,
            payload: payload.into(),
            fields: Default::default(),
            crash_at: None,
            stage,
        }
    }

    #[test]
    fn payloads_parse_into_pairs_or_say_what_is_wrong() {
        assert_eq!(
            parse_payload("sensor=s1  temperature=21.5").unwrap(),
            [
                ("sensor".to_string(), "s1".to_string()),
                ("temperature".to_string(), "21.5".to_string())
            ]
        );
        assert_eq!(parse_payload("   ").unwrap_err(), "no pairs");
        assert_eq!(
            parse_payload("sensor").unwrap_err(),
            "\"sensor\" has no '='"
        );
        assert_eq!(
            parse_payload("Sensor=s1").unwrap_err(),
            "\"Sensor\" is not a key of [a-z0-9_]"
        );
        assert_eq!(parse_payload("a= b=1").unwrap_err(), "\"a\" has no value");
        let many = (0..=MAX_PAIRS)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>();
        assert!(parse_payload(&many.join(" ")).is_err());
    }

    #[tokio::test]
    async fn a_record_goes_through_every_component() {
        let mut rng = Rng::with_seed(7);
        let mut r = record("sensor=s3 humidity=40", ComponentId::Source);
        for id in [
            ComponentId::Source,
            ComponentId::Parser,
            ComponentId::Enricher,
            ComponentId::Sink,
        ] {
            process(id, &mut r, &Faults::NONE, &mut rng).await.unwrap();
        }
        assert_eq!(r.fields["location"], "server-hall");
        assert_eq!(r.fields["humidity"], "40");
    }

    #[tokio::test]
    async fn each_component_fails_its_own_way() {
        let mut rng = Rng::with_seed(7);
        let none = Faults::NONE;
        let mut bad = record("temperature", ComponentId::Parser);
        let err = process(ComponentId::Parser, &mut bad, &none, &mut rng).await;
        assert_eq!(err.unwrap_err().error_type(), ErrorType::InvalidPayload);
        let mut unknown = record("sensor=s99", ComponentId::Enricher);
        unknown.fields.insert("sensor".into(), "s99".into());
        let err = process(ComponentId::Enricher, &mut unknown, &none, &mut rng).await;
        assert_eq!(
            err.unwrap_err(),
            ComponentError::MissingReference("s99".into())
        );
        let always = Faults {
            timeout_rate: 1.0,
            ..none
        };
        let mut slow = record("sensor=s1", ComponentId::Sink);
        let err = process(ComponentId::Sink, &mut slow, &always, &mut rng).await;
        assert_eq!(err.unwrap_err().error_type(), ErrorType::Timeout);
        let mut crash = record("sensor=s1", ComponentId::Source);
        crash.crash_at = Some(ComponentId::Source);
        let err = process(ComponentId::Source, &mut crash, &none, &mut rng).await;
        assert_eq!(err.unwrap_err().error_type(), ErrorType::Crash);
        let failing = Faults {
            instantiation_failure_rate: 1.0,
            ..none
        };
        assert!(
            instantiate(false, &failing, &mut rng).await.is_ok(),
            "a first start"
        );
        assert!(instantiate(true, &failing, &mut rng).await.is_err());
    }
}
