//! The governance stream as the node's StreamActor sees it: connection, buffer, correlation
//! of requests with responses, and every message in and out.

use crate::instruments::{Counter, CounterVec, Gauge, Histogram};
use crate::{LabelValue, MetricFamily};

/// The name the Alys governance dashboard and the governance alert rules query.
const DASHBOARD_NAME: &str =
    "the name the Alys governance dashboard and the governance alert rules query";

/// What an operator needs to see on the stream beyond the connection and the buffer.
const OPERATOR: &str = "operators see the stream's traffic and failures per kind";

/// The StreamActor's instruments.
#[derive(MetricFamily)]
#[family(title = "governance stream", crate = crate)]
pub struct GovernanceMetrics {
    /// Governance stream connection (0=disconnected, 1=connected)
    #[metric(name = "alys_governance_connection_status", start = zero, why = DASHBOARD_NAME)]
    pub connection_status: Gauge,
    /// Outgoing messages the governance node has not acknowledged yet (waiting for a connection, or in flight)
    #[metric(name = "alys_governance_message_buffer_size", start = zero, why = DASHBOARD_NAME)]
    pub buffer_size: Gauge,
    /// Reconnection attempts to the governance node
    #[metric(name = "alys_governance_reconnect_attempts_total", why = DASHBOARD_NAME)]
    pub reconnect_attempts: Counter,
    /// Time from a request to its correlated response
    #[metric(
        name = "alys_governance_request_correlation_duration_seconds",
        unit = "s",
        buckets = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0],
        why = DASHBOARD_NAME
    )]
    pub correlation: Histogram,
    /// Time to process a federation update
    #[metric(
        name = "alys_federation_update_processing_duration_seconds",
        unit = "s",
        buckets = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        why = DASHBOARD_NAME
    )]
    pub federation_update: Histogram,
    /// Messages sent on the governance stream, by type
    #[metric(name = "alys_governance_messages_sent_total", labels(message_type), why = OPERATOR)]
    pub sent: CounterVec<GovernanceMessageType>,
    /// Messages received on the governance stream, by type (unknown and malformed included)
    #[metric(
        name = "alys_governance_messages_received_total",
        labels(message_type),
        why = OPERATOR
    )]
    pub received: CounterVec<GovernanceMessageType>,
    /// Buffered messages dropped (oldest first) because the buffer was full
    #[metric(
        name = "alys_governance_buffer_dropped_total",
        why = "the GovernanceBufferDropping alert fires on it"
    )]
    pub buffer_dropped: Counter,
    /// Outgoing messages given up before the governance node acknowledged them, by reason
    #[metric(
        name = "alys_governance_messages_given_up_total",
        labels(reason),
        why = "nothing sent is lost silently: whatever is not delivered is counted under why"
    )]
    pub given_up: CounterVec<GiveUpReason>,
    /// Signature requests answered to their caller as cancelled: the stream stopped before the response
    #[metric(
        name = "alys_governance_requests_cancelled_total",
        why = "a stop cancels the requests in flight and says how many"
    )]
    pub cancelled: Counter,
    /// Requests whose response did not arrive in time
    #[metric(
        name = "alys_governance_correlation_timeouts_total",
        why = "the GovernanceCorrelationTimeouts alert fires on it"
    )]
    pub correlation_timeouts: Counter,
    /// Requests waiting for their response
    #[metric(name = "alys_governance_pending_requests", start = zero, why = OPERATOR)]
    pub pending: Gauge,
    /// Stream errors by gRPC status code
    #[metric(name = "alys_governance_stream_errors_total", labels(code), why = OPERATOR)]
    pub stream_errors: CounterVec<GrpcCode>,
    /// Unix time the current connection was established (0 while disconnected)
    #[metric(
        name = "alys_governance_connected_since_timestamp_seconds",
        unit = "s",
        start = zero,
        why = "the GovernanceReconnectStorm alert tells a flapping stream from a steady one"
    )]
    pub connected_since: Gauge,
    /// Received messages that were skipped: of an unknown type, or malformed
    #[metric(
        name = "alys_governance_invalid_messages_total",
        labels(reason),
        why = "a governance node speaking a newer protocol shows here before it breaks anything"
    )]
    pub invalid: CounterVec<InvalidMessageReason>,
}

/// Messages on the governance stream (`message_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum GovernanceMessageType {
    SignatureRequest,
    SignatureResponse,
    FederationUpdate,
    Heartbeat,
    Acknowledgement,
    Receipt,
    Unknown,
}

/// Why an outgoing message was given up (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum GiveUpReason {
    /// The buffer was full: the oldest unacknowledged message made room (also counted in
    /// `alys_governance_buffer_dropped_total`, which the alert reads).
    BufferFull,
    /// A request's deadline passed before the governance node acknowledged it: nobody
    /// waits for its answer, so it is not sent (or re-sent).
    Expired,
    /// The StreamActor stopped with the message unacknowledged.
    Cancelled,
}

/// Why a received stream message was skipped (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum InvalidMessageReason {
    /// A payload this version does not know.
    UnknownType,
    /// A known payload missing what it needs (an empty request id, a zero version).
    Malformed,
    /// A response to no pending request (late, after its timeout, or never asked).
    Uncorrelated,
}

/// gRPC status codes (`code`), as the gRPC specification names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum GrpcCode {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl GrpcCode {
    /// The label of a gRPC status code by its number (0 `ok` to 16 `unauthenticated`, the
    /// order the variants are declared in); a number gRPC does not define is `unknown`, as
    /// gRPC itself maps it.
    pub fn from_number(number: i32) -> GrpcCode {
        usize::try_from(number)
            .ok()
            .and_then(|i| GrpcCode::ALL.get(i).copied())
            .unwrap_or(GrpcCode::Unknown)
    }
}
