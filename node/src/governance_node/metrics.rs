//! The governance node's instruments.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use alys_telemetry::sources::catalog::governance as defs;
use alys_telemetry::sources::catalog::instruments::{CounterVec, GaugeVec};
use alys_telemetry::sources::catalog::labels::Outcome;
use opentelemetry::metrics::Meter;

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
