//! One request in flight, from its arrival to the end of its response body: it holds the
//! request's place in `http.server.active_requests` and its server span, and records the
//! duration and body sizes once, when it ends, however it ends (the body finished, or
//! dropped by a client that went away, or a handler that failed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_semantic_conventions::attribute as attr;
use quanta::Instant;

use super::Shared;
use super::metrics::{RequestAttributes, status_error};
use alys_telemetry_core::traces::TraceScope;

/// Bytes the handler read from the request body, shared with the body that counts them.
pub(crate) type BytesRead = Arc<AtomicU64>;

pub(crate) struct Exchange {
    shared: Arc<Shared>,
    attributes: RequestAttributes,
    started: Instant,
    request_bytes: BytesRead,
    response_bytes: u64,
    status: Option<u16>,
    error: Option<&'static str>,
    scope: TraceScope,
}

impl Exchange {
    /// Counts the request in flight.
    pub(crate) fn begin(
        shared: Arc<Shared>,
        attributes: RequestAttributes,
        request_bytes: BytesRead,
        scope: TraceScope,
    ) -> Exchange {
        shared.metrics.active.add(1, &attributes.active());
        Exchange {
            shared,
            attributes,
            started: Instant::now(),
            request_bytes,
            response_bytes: 0,
            status: None,
            error: None,
            scope,
        }
    }

    /// The response's head is ready: its status goes on the span and the measurements.
    pub(crate) fn responded(&mut self, status: u16) {
        self.status = Some(status);
        self.error = status_error(status);
        if let Some(span) = self.scope.span() {
            span.record(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
            if let Some(error) = self.error {
                span.record(attr::ERROR_TYPE, error);
                span.record("otel.status_code", "error");
            }
        }
    }

    /// The service failed before any response (its error type is unknown to the layer).
    pub(crate) fn failed(&mut self) {
        self.error = Some("_OTHER");
        if let Some(span) = self.scope.span() {
            span.record(attr::ERROR_TYPE, "_OTHER");
            span.record("otel.status_code", "error");
        }
    }

    pub(crate) fn sent(&mut self, bytes: u64) {
        self.response_bytes += bytes;
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let metrics = &self.shared.metrics;
        let attributes = self.attributes.finished(self.status, self.error);
        let seconds = self.started.elapsed().as_secs_f64();
        metrics.duration.record(seconds, &attributes);
        let read = self.request_bytes.load(Ordering::Relaxed);
        metrics.request_size.record(read as f64, &attributes);
        metrics
            .response_size
            .record(self.response_bytes as f64, &attributes);
        metrics.active.add(-1, &self.attributes.active());
    }
}
