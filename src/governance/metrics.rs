//! The governance family's instruments, shared by the StreamActor and the governance node.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use opentelemetry::metrics::Meter;

use crate::catalog::governance as defs;
use crate::catalog::instruments::{CounterVec, GaugeVec, HistogramVec};
use crate::catalog::labels::{GovernanceMessageType, GrpcCode, InvalidMessageReason, Outcome};

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

/// The governance node's instruments.
pub(crate) struct ServerMetrics {
    pub requests: CounterVec<Outcome>,
    pub auth_failures: CounterVec<()>,
    streams: GaugeVec<()>,
    open: AtomicI64,
    pub answered: AtomicU64,
}

impl ServerMetrics {
    pub fn new(meter: &Meter) -> Arc<Self> {
        Arc::new(ServerMetrics {
            requests: CounterVec::new(&defs::SERVER_REQUESTS, meter),
            auth_failures: CounterVec::new(&defs::SERVER_AUTH_FAILURES, meter),
            streams: GaugeVec::new(&defs::SERVER_STREAMS, meter),
            open: AtomicI64::new(0),
            answered: AtomicU64::new(0),
        })
    }

    /// A stream opened (`+1`) or closed (`-1`).
    pub fn stream_delta(&self, delta: i64) {
        let now = self.open.fetch_add(delta, Ordering::Relaxed) + delta;
        self.streams.set((), now.max(0) as f64);
    }
}
