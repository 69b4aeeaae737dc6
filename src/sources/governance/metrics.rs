//! The StreamActor's instruments.

use opentelemetry::metrics::Meter;

use crate::sources::catalog::governance as defs;
use crate::sources::catalog::instruments::{CounterVec, GaugeVec, HistogramVec};
use crate::sources::catalog::labels::{GovernanceMessageType, GrpcCode, InvalidMessageReason};

/// The StreamActor's instruments.
pub(crate) struct ClientMetrics {
    pub connected: GaugeVec<()>,
    pub connected_since: GaugeVec<()>,
    pub buffer_size: GaugeVec<()>,
    pub buffer_dropped: CounterVec<()>,
    pub reconnect_attempts: CounterVec<()>,
    pub correlation: HistogramVec<()>,
    pub correlation_timeouts: CounterVec<()>,
    pub pending: GaugeVec<()>,
    pub federation_update: HistogramVec<()>,
    pub sent: CounterVec<GovernanceMessageType>,
    pub received: CounterVec<GovernanceMessageType>,
    pub stream_errors: CounterVec<GrpcCode>,
    pub invalid: CounterVec<InvalidMessageReason>,
}

impl ClientMetrics {
    pub fn new(meter: &Meter) -> Self {
        ClientMetrics {
            connected: GaugeVec::new(&defs::CONNECTION_STATUS, meter),
            connected_since: GaugeVec::new(&defs::CONNECTED_SINCE, meter),
            buffer_size: GaugeVec::new(&defs::MESSAGE_BUFFER_SIZE, meter),
            buffer_dropped: CounterVec::new(&defs::BUFFER_DROPPED, meter),
            reconnect_attempts: CounterVec::new(&defs::RECONNECT_ATTEMPTS, meter),
            correlation: HistogramVec::new(&defs::REQUEST_CORRELATION, meter),
            correlation_timeouts: CounterVec::new(&defs::CORRELATION_TIMEOUTS, meter),
            pending: GaugeVec::new(&defs::PENDING_REQUESTS, meter),
            federation_update: HistogramVec::new(&defs::FEDERATION_UPDATE_PROCESSING, meter),
            sent: CounterVec::new(&defs::MESSAGES_SENT, meter),
            received: CounterVec::new(&defs::MESSAGES_RECEIVED, meter),
            stream_errors: CounterVec::new(&defs::STREAM_ERRORS, meter),
            invalid: CounterVec::new(&defs::INVALID_MESSAGES, meter),
        }
    }
}
