//! Events as clients send them and as the store keeps them, and the checks a new event
//! passes before anything else looks at it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::IngestError;
use crate::labels::IngestErrorReason;

/// The longest `event_type` and `entity_id` accepted, in bytes: identifiers, not documents.
pub const MAX_NAME_LEN: usize = 128;

/// An event as a client sends it (`POST /events`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub event_type: String,
    pub entity_id: String,
    pub payload: Value,
    /// Free-form context the store keeps with the event (who, from where).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// An event as the store keeps and returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the store, from 1: ids are never reused.
    pub sequence: u64,
    pub event_type: String,
    pub entity_id: String,
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// When the store accepted it, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl NewEvent {
    /// One event from a request body, or what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<NewEvent, IngestError> {
        let event: NewEvent = serde_json::from_slice(body).map_err(json_error)?;
        event.check()?;
        Ok(event)
    }

    /// A batch (a JSON array of events) from a request body, or what is wrong with it.
    pub fn parse_batch(body: &[u8], max: usize) -> Result<Vec<NewEvent>, IngestError> {
        // Each element parsed on its own, so that an error names the event it is about.
        let values: Vec<Value> = serde_json::from_slice(body).map_err(json_error)?;
        if values.is_empty() || values.len() > max {
            return Err(IngestError::Invalid {
                reason: IngestErrorReason::InvalidField,
                message: format!("a batch holds 1 to {max} events, not {}", values.len()),
            });
        }
        let mut events = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            let event = serde_json::from_value::<NewEvent>(value)
                .map_err(json_error)
                .and_then(|event| event.check().map(|()| event))
                .map_err(|e| e.in_batch(index))?;
            events.push(event);
        }
        Ok(events)
    }

    /// The identifiers are usable as index keys and in logs.
    fn check(&self) -> Result<(), IngestError> {
        check_name("event_type", &self.event_type, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
        })?;
        check_name("entity_id", &self.entity_id, |c| !c.is_control())
    }
}

fn check_name(field: &str, value: &str, allowed: impl Fn(char) -> bool) -> Result<(), IngestError> {
    let problem = if value.is_empty() {
        Some("is empty".to_string())
    } else if value.len() > MAX_NAME_LEN {
        Some(format!("is longer than {MAX_NAME_LEN} bytes"))
    } else {
        value
            .chars()
            .find(|c| !allowed(*c))
            .map(|c| format!("contains {c:?}, which is not allowed"))
    };
    match problem {
        Some(problem) => Err(IngestError::Invalid {
            reason: IngestErrorReason::InvalidField,
            message: format!("`{field}` {problem}"),
        }),
        None => Ok(()),
    }
}

/// serde_json's message names the field and the position; the reason tells a missing field
/// from a body that is not the right JSON at all.
fn json_error(e: serde_json::Error) -> IngestError {
    let message = e.to_string();
    let reason = if message.starts_with("missing field") {
        IngestErrorReason::MissingField
    } else {
        IngestErrorReason::MalformedJson
    };
    IngestError::Json { reason, source: e }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(body: &str) -> IngestErrorReason {
        match NewEvent::parse(body.as_bytes()) {
            Err(e) => e.reason(),
            Ok(event) => panic!("{body} was accepted as {event:?}"),
        }
    }

    #[test]
    fn a_complete_event_parses() {
        let event =
            NewEvent::parse(br#"{"event_type":"user.created","entity_id":"u-1","payload":{}}"#)
                .expect("valid event");
        assert_eq!(
            (event.event_type.as_str(), event.entity_id.as_str()),
            ("user.created", "u-1")
        );
    }

    #[test]
    fn each_kind_of_bad_body_gets_its_reason() {
        assert_eq!(reason("{not json"), IngestErrorReason::MalformedJson);
        assert_eq!(
            reason(r#"{"event_type":"a","payload":1}"#),
            IngestErrorReason::MissingField
        );
        assert_eq!(
            reason(r#"{"event_type":"","entity_id":"e","payload":1}"#),
            IngestErrorReason::InvalidField
        );
        assert_eq!(
            reason(r#"{"event_type":"a b","entity_id":"e","payload":1}"#),
            IngestErrorReason::InvalidField
        );
        assert_eq!(
            reason(r#"{"event_type":"a","entity_id":"e","payload":1,"extra":2}"#),
            IngestErrorReason::MalformedJson
        );
    }

    #[test]
    fn a_batch_names_the_event_that_is_wrong() {
        let body = br#"[{"event_type":"a","entity_id":"e","payload":1},
                        {"event_type":"a","entity_id":"","payload":1}]"#;
        let error = NewEvent::parse_batch(body, 10).expect_err("second event is invalid");
        assert!(error.to_string().contains("event 1"), "{error}");
        assert!(NewEvent::parse_batch(b"[]", 10).is_err());
    }
}
