//! The governance gRPC stream (seed 000 plan A and implementation A). The StreamActor
//! records these.

use super::MetricDef;

const SEED: &str = "seed 000 (StreamActor metrics)";
const OPERATOR: &str = "issue 5 (what an operator needs beyond the seed)";

pub const CONNECTION_STATUS: MetricDef = MetricDef::gauge(
    "alys_governance_connection_status",
    "",
    "Governance stream connection (0=disconnected, 1=connected)",
    &[],
)
.from(SEED);
pub const MESSAGE_BUFFER_SIZE: MetricDef = MetricDef::gauge(
    "alys_governance_message_buffer_size",
    "",
    "Outgoing messages buffered while disconnected",
    &[],
)
.from(SEED);
pub const RECONNECT_ATTEMPTS: MetricDef = MetricDef::counter(
    "alys_governance_reconnect_attempts_total",
    "",
    "Reconnection attempts to the governance node",
    &[],
)
.from(SEED);
pub const REQUEST_CORRELATION: MetricDef = MetricDef::histogram(
    "alys_governance_request_correlation_duration_seconds",
    "s",
    "Time from a request to its correlated response",
    &[],
    &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0],
)
.from(SEED);
pub const FEDERATION_UPDATE_PROCESSING: MetricDef = MetricDef::histogram(
    "alys_federation_update_processing_duration_seconds",
    "s",
    "Time to process a federation update",
    &[],
    &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
)
.from(SEED);
pub const MESSAGES_SENT: MetricDef = MetricDef::counter(
    "alys_governance_messages_sent_total",
    "",
    "Messages sent on the governance stream, by type",
    &["message_type"],
)
.from(OPERATOR);
pub const MESSAGES_RECEIVED: MetricDef = MetricDef::counter(
    "alys_governance_messages_received_total",
    "",
    "Messages received on the governance stream, by type (unknown and malformed included)",
    &["message_type"],
)
.from(OPERATOR);
pub const BUFFER_DROPPED: MetricDef = MetricDef::counter(
    "alys_governance_buffer_dropped_total",
    "",
    "Buffered messages dropped (oldest first) because the buffer was full",
    &[],
)
.from(OPERATOR);
pub const CORRELATION_TIMEOUTS: MetricDef = MetricDef::counter(
    "alys_governance_correlation_timeouts_total",
    "",
    "Requests whose response did not arrive in time",
    &[],
)
.from(OPERATOR);
pub const PENDING_REQUESTS: MetricDef = MetricDef::gauge(
    "alys_governance_pending_requests",
    "",
    "Requests waiting for their response",
    &[],
)
.from(OPERATOR);
pub const STREAM_ERRORS: MetricDef = MetricDef::counter(
    "alys_governance_stream_errors_total",
    "",
    "Stream errors by gRPC status code",
    &["code"],
)
.from(OPERATOR);
pub const CONNECTED_SINCE: MetricDef = MetricDef::gauge(
    "alys_governance_connected_since_timestamp_seconds",
    "s",
    "Unix time the current connection was established (0 while disconnected)",
    &[],
)
.from(OPERATOR);

pub const INVALID_MESSAGES: MetricDef = MetricDef::counter(
    "alys_governance_invalid_messages_total",
    "",
    "Received messages that were skipped: of an unknown type, or malformed",
    &["reason"],
)
.from("issue 5 (robustness)");
pub const SERVER_REQUESTS: MetricDef = MetricDef::counter(
    "alys_governance_server_requests_total",
    "",
    "Signature requests a governance node answered, by outcome",
    &["outcome"],
)
.from("issue 5 (the governance node)");
pub const SERVER_AUTH_FAILURES: MetricDef = MetricDef::counter(
    "alys_governance_server_auth_failures_total",
    "",
    "Streams a governance node refused for a missing or wrong token",
    &[],
)
.from("issue 5 (security)");
pub const SERVER_STREAMS: MetricDef = MetricDef::gauge(
    "alys_governance_server_streams",
    "",
    "Node streams a governance node holds open",
    &[],
)
.from("issue 5 (the governance node)");

pub const ALL: &[MetricDef] = &[
    CONNECTION_STATUS,
    MESSAGE_BUFFER_SIZE,
    RECONNECT_ATTEMPTS,
    REQUEST_CORRELATION,
    FEDERATION_UPDATE_PROCESSING,
    MESSAGES_SENT,
    MESSAGES_RECEIVED,
    BUFFER_DROPPED,
    CORRELATION_TIMEOUTS,
    PENDING_REQUESTS,
    STREAM_ERRORS,
    CONNECTED_SINCE,
    INVALID_MESSAGES,
    SERVER_REQUESTS,
    SERVER_AUTH_FAILURES,
    SERVER_STREAMS,
];
