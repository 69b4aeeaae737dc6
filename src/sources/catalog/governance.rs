//! The governance stream as the node's StreamActor sees it: connection, buffer, correlation
//! of requests with responses, and every message in and out.

use super::family::metric_family;
use super::labels::label_enum;

/// The name the Alys governance dashboard and the governance alert rules query.
const DASHBOARD_NAME: &str =
    "the name the Alys governance dashboard and the governance alert rules query";

/// What an operator needs to see on the stream beyond the connection and the buffer.
const OPERATOR: &str = "operators see the stream's traffic and failures per kind";

metric_family! {
    /// The StreamActor's instruments.
    pub struct GovernanceMetrics, "governance stream" {
        /// Governance stream connection (0=disconnected, 1=connected)
        pub connection_status: gauge("alys_governance_connection_status") {
            start: zero,
            why: DASHBOARD_NAME,
        },
        /// Outgoing messages the governance node has not acknowledged yet (waiting for a connection, or in flight)
        pub buffer_size: gauge("alys_governance_message_buffer_size") {
            start: zero,
            why: DASHBOARD_NAME,
        },
        /// Reconnection attempts to the governance node
        pub reconnect_attempts: counter("alys_governance_reconnect_attempts_total") {
            why: DASHBOARD_NAME,
        },
        /// Time from a request to its correlated response
        pub correlation: histogram("alys_governance_request_correlation_duration_seconds") {
            unit: "s",
            buckets: [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0],
            why: DASHBOARD_NAME,
        },
        /// Time to process a federation update
        pub federation_update: histogram("alys_federation_update_processing_duration_seconds") {
            unit: "s",
            buckets: [0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
            why: DASHBOARD_NAME,
        },
        /// Messages sent on the governance stream, by type
        pub sent: counter("alys_governance_messages_sent_total") {
            labels: { message_type: GovernanceMessageType },
            why: OPERATOR,
        },
        /// Messages received on the governance stream, by type (unknown and malformed included)
        pub received: counter("alys_governance_messages_received_total") {
            labels: { message_type: GovernanceMessageType },
            why: OPERATOR,
        },
        /// Buffered messages dropped (oldest first) because the buffer was full
        pub buffer_dropped: counter("alys_governance_buffer_dropped_total") {
            why: "the GovernanceBufferDropping alert fires on it",
        },
        /// Outgoing messages given up before the governance node acknowledged them, by reason
        pub given_up: counter("alys_governance_messages_given_up_total") {
            labels: { reason: GiveUpReason },
            why: "nothing sent is lost silently: whatever is not delivered is counted under why",
        },
        /// Signature requests answered to their caller as cancelled: the stream stopped before the response
        pub cancelled: counter("alys_governance_requests_cancelled_total") {
            why: "a stop cancels the requests in flight and says how many",
        },
        /// Requests whose response did not arrive in time
        pub correlation_timeouts: counter("alys_governance_correlation_timeouts_total") {
            why: "the GovernanceCorrelationTimeouts alert fires on it",
        },
        /// Requests waiting for their response
        pub pending: gauge("alys_governance_pending_requests") {
            start: zero,
            why: OPERATOR,
        },
        /// Stream errors by gRPC status code
        pub stream_errors: counter("alys_governance_stream_errors_total") {
            labels: { code: GrpcCode },
            why: OPERATOR,
        },
        /// Unix time the current connection was established (0 while disconnected)
        pub connected_since: gauge("alys_governance_connected_since_timestamp_seconds") {
            unit: "s",
            start: zero,
            why: "the GovernanceReconnectStorm alert tells a flapping stream from a steady one",
        },
        /// Received messages that were skipped: of an unknown type, or malformed
        pub invalid: counter("alys_governance_invalid_messages_total") {
            labels: { reason: InvalidMessageReason },
            why: "a governance node speaking a newer protocol shows here before it breaks anything",
        },
    }
}

label_enum! {
    /// Messages on the governance stream (`message_type`).
    pub enum GovernanceMessageType {
        SignatureRequest => "signature_request",
        SignatureResponse => "signature_response",
        FederationUpdate => "federation_update",
        Heartbeat => "heartbeat",
        Acknowledgement => "acknowledgement",
        Receipt => "receipt",
        Unknown => "unknown",
    }
}

label_enum! {
    /// Why an outgoing message was given up (`reason`).
    pub enum GiveUpReason {
        /// The buffer was full: the oldest unacknowledged message made room (also counted in
        /// `alys_governance_buffer_dropped_total`, which the alert reads).
        BufferFull => "buffer_full",
        /// A request's deadline passed before the governance node acknowledged it: nobody
        /// waits for its answer, so it is not sent (or re-sent).
        Expired => "expired",
        /// The StreamActor stopped with the message unacknowledged.
        Cancelled => "cancelled",
    }
}

label_enum! {
    /// Why a received stream message was skipped (`reason`).
    pub enum InvalidMessageReason {
        /// A payload this version does not know.
        UnknownType => "unknown_type",
        /// A known payload missing what it needs (an empty request id, a zero version).
        Malformed => "malformed",
        /// A response to no pending request (late, after its timeout, or never asked).
        Uncorrelated => "uncorrelated",
    }
}

label_enum! {
    /// gRPC status codes (`code`), as the gRPC specification names them.
    pub enum GrpcCode {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

impl GrpcCode {
    /// The label of a tonic status code.
    pub fn from_code(code: tonic::Code) -> GrpcCode {
        use tonic::Code as C;
        match code {
            C::Ok => GrpcCode::Ok,
            C::Cancelled => GrpcCode::Cancelled,
            C::Unknown => GrpcCode::Unknown,
            C::InvalidArgument => GrpcCode::InvalidArgument,
            C::DeadlineExceeded => GrpcCode::DeadlineExceeded,
            C::NotFound => GrpcCode::NotFound,
            C::AlreadyExists => GrpcCode::AlreadyExists,
            C::PermissionDenied => GrpcCode::PermissionDenied,
            C::ResourceExhausted => GrpcCode::ResourceExhausted,
            C::FailedPrecondition => GrpcCode::FailedPrecondition,
            C::Aborted => GrpcCode::Aborted,
            C::OutOfRange => GrpcCode::OutOfRange,
            C::Unimplemented => GrpcCode::Unimplemented,
            C::Internal => GrpcCode::Internal,
            C::Unavailable => GrpcCode::Unavailable,
            C::DataLoss => GrpcCode::DataLoss,
            C::Unauthenticated => GrpcCode::Unauthenticated,
        }
    }
}
