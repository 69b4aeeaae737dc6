//! The schema registry: the payload each known event type must carry. A schema here is the
//! required fields and their JSON types, enough to refuse the payloads that would break the
//! projections and the consumers of the stream.

use serde_json::Value;

use crate::labels::{EventType, ValidationResult};

/// The JSON type a required field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
}

impl FieldType {
    fn matches(self, value: &Value) -> bool {
        match self {
            FieldType::String => value.as_str().is_some_and(|s| !s.is_empty()),
            FieldType::Number => value.as_f64().is_some_and(f64::is_finite),
        }
    }

    fn name(self) -> &'static str {
        match self {
            FieldType::String => "a non-empty string",
            FieldType::Number => "a number",
        }
    }
}

/// One subject's schema: its payload is an object with these fields.
#[derive(Debug, Clone)]
pub struct Schema {
    pub subject: EventType,
    pub required: &'static [(&'static str, FieldType)],
}

/// The schemas of the known event types.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    schemas: Vec<Schema>,
}

impl SchemaRegistry {
    /// The built-in schemas, one per known event type.
    pub fn builtin() -> SchemaRegistry {
        use FieldType::{Number, String};
        let schemas = vec![
            Schema {
                subject: EventType::UserCreated,
                required: &[("email", String), ("name", String)],
            },
            Schema {
                subject: EventType::UserUpdated,
                required: &[],
            },
            Schema {
                subject: EventType::OrderPlaced,
                required: &[("order_id", String), ("amount", Number)],
            },
            Schema {
                subject: EventType::OrderShipped,
                required: &[("order_id", String), ("carrier", String)],
            },
            Schema {
                subject: EventType::PaymentProcessed,
                required: &[("amount", Number), ("currency", String)],
            },
        ];
        SchemaRegistry { schemas }
    }

    /// How many schemas are registered.
    pub fn len(&self) -> usize {
        self.schemas.len()
    }

    /// Whether no schema is registered.
    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    /// Checks `payload` against the schema of `subject`: `Unregistered` when it has none,
    /// `Valid`, or `Invalid` with what is wrong.
    pub fn validate(
        &self,
        subject: EventType,
        payload: &Value,
    ) -> (ValidationResult, Option<String>) {
        let Some(schema) = self.schemas.iter().find(|s| s.subject == subject) else {
            return (ValidationResult::Unregistered, None);
        };
        let Some(object) = payload.as_object() else {
            return (
                ValidationResult::Invalid,
                Some("the payload must be a JSON object".to_string()),
            );
        };
        for (field, kind) in schema.required {
            match object.get(*field) {
                Some(value) if kind.matches(value) => {}
                Some(_) => {
                    let problem = format!("`{field}` must be {}", kind.name());
                    return (ValidationResult::Invalid, Some(problem));
                }
                None => {
                    let problem = format!("`{field}` is required");
                    return (ValidationResult::Invalid, Some(problem));
                }
            }
        }
        (ValidationResult::Valid, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_checked_against_their_subjects_schema() {
        let registry = SchemaRegistry::builtin();
        let ok = json!({"order_id": "o-1", "amount": 12.5});
        assert_eq!(
            registry.validate(EventType::OrderPlaced, &ok).0,
            ValidationResult::Valid
        );
        let (result, why) = registry.validate(EventType::OrderPlaced, &json!({"order_id": "o-1"}));
        assert_eq!(result, ValidationResult::Invalid);
        assert_eq!(why.as_deref(), Some("`amount` is required"));
        let (result, _) = registry.validate(
            EventType::OrderPlaced,
            &json!({"order_id": "o", "amount": "3"}),
        );
        assert_eq!(result, ValidationResult::Invalid);
        assert_eq!(
            registry.validate(EventType::UserUpdated, &json!(3)).0,
            ValidationResult::Invalid
        );
        assert_eq!(
            registry.validate(EventType::Other, &json!(3)).0,
            ValidationResult::Unregistered
        );
    }
}
