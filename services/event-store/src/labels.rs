//! The label values of the store's metrics: every one a closed set, so that no outside value
//! (an entity id, a client's free-form event type) can make a series of its own.

use alys_telemetry::sources::catalog::LabelValue;

/// The type of an event (`event_type`): the types the store has schemas for, and `other` for
/// any type a client invents (still stored and queryable by its own name, counted here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum EventType {
    /// `user.created`
    UserCreated,
    /// `user.updated`
    UserUpdated,
    /// `order.placed`
    OrderPlaced,
    /// `order.shipped`
    OrderShipped,
    /// `payment.processed`
    PaymentProcessed,
    /// Any type without a schema.
    Other,
}

impl EventType {
    /// The types with a schema, and the names clients send them under.
    pub const KNOWN: [(EventType, &'static str); 5] = [
        (EventType::UserCreated, "user.created"),
        (EventType::UserUpdated, "user.updated"),
        (EventType::OrderPlaced, "order.placed"),
        (EventType::OrderShipped, "order.shipped"),
        (EventType::PaymentProcessed, "payment.processed"),
    ];

    /// The label of a client's event type: its known type, else `other`.
    pub fn of(name: &str) -> EventType {
        EventType::KNOWN
            .iter()
            .find(|(_, known)| *known == name)
            .map_or(EventType::Other, |(t, _)| *t)
    }
}

/// Why an ingest request was refused (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum IngestErrorReason {
    /// The body is not JSON, or not JSON of the right shape.
    MalformedJson,
    /// A required field (`event_type`, `entity_id`, `payload`) is missing.
    MissingField,
    /// A field is present but its value is not allowed (empty, too long, bad characters).
    InvalidField,
    /// The payload breaks its event type's schema.
    SchemaViolation,
    /// The body is larger than the store accepts.
    TooLarge,
    /// The store holds as many events as it is allowed to.
    StoreFull,
}

/// The kind of a query (`query_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum QueryType {
    /// `GET /events` without a filter.
    All,
    /// `GET /events?event_type=…`
    ByType,
    /// `GET /events?entity_id=…`
    ByEntity,
    /// `GET /events?entity_id=…&event_type=…`
    ByEntityAndType,
    /// `GET /entities/{id}`: an entity's projected state.
    Entity,
}

/// A projection the store keeps up to date on every event (`projection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum Projection {
    /// Each entity's state: the fields of its events' object payloads, merged in order.
    EntityState,
    /// Events per type.
    TypeCounts,
}

/// A schema subject (`subject`): the event types with a schema, and `other` for the rest.
pub type Subject = EventType;

/// What a schema validation found (`result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum ValidationResult {
    /// The payload matches its type's schema.
    Valid,
    /// The payload breaks its type's schema: the event is refused.
    Invalid,
    /// The type has no schema: the payload is accepted as it is.
    Unregistered,
}

/// What went wrong on a WebSocket connection (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
pub enum WsErrorReason {
    /// The subscriber fell behind the stream and events were skipped for it.
    Lagged,
    /// An event could not be written to the connection.
    SendFailed,
    /// The connection broke (no close handshake, a protocol error).
    ReceiveFailed,
}
