//! Each attempt of an export, seen at the transport. opentelemetry-otlp retries inside one
//! export call and returns only the last result, so a collector outage would show in the
//! counters only when the budget is spent, tens of seconds late, and the TelemetryExportFailing
//! alert and the demo's first-run hint would wait for it. The transport sees every attempt: the
//! gRPC interceptor runs once per attempt, and so does the HTTP client. An attempt that starts
//! while the same call is still running means the one before it failed, so a failure is
//! counted as the retry begins (within one backoff wait of it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use tonic::service::Interceptor;

use super::stats::ExportStats;
use alys_telemetry_catalog::pipeline::Signal;

/// The attempts of one exporter's current export call (the SDK calls it for one batch at a
/// time).
#[derive(Debug)]
pub(crate) struct Attempts {
    in_call: AtomicU64,
    stats: Arc<ExportStats>,
    signal: Signal,
}

impl Attempts {
    pub(crate) fn new(stats: Arc<ExportStats>, signal: Signal) -> Arc<Attempts> {
        Arc::new(Attempts {
            in_call: AtomicU64::new(0),
            stats,
            signal,
        })
    }

    /// An export call begins.
    pub(crate) fn begin(&self) {
        self.in_call.store(0, Ordering::Relaxed);
    }

    /// The attempts the current call made so far.
    pub(crate) fn made(&self) -> u64 {
        self.in_call.load(Ordering::Relaxed)
    }

    /// The transport starts an attempt.
    fn started(&self) {
        let before = self.in_call.fetch_add(1, Ordering::Relaxed);
        self.stats.attempt_started(self.signal, before > 0);
    }
}

/// Runs once per gRPC attempt (after the configured headers are added).
#[derive(Debug, Clone)]
pub(crate) struct AttemptInterceptor(pub(crate) Arc<Attempts>);

impl Interceptor for AttemptInterceptor {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        self.0.started();
        Ok(request)
    }
}

/// An HTTP client that tells `attempts` about each request it sends.
#[derive(Debug)]
pub(crate) struct AttemptClient<C> {
    pub(crate) inner: C,
    pub(crate) attempts: Arc<Attempts>,
}

#[async_trait::async_trait]
impl<C: HttpClient> HttpClient for AttemptClient<C> {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.attempts.started();
        self.inner.send_bytes(request).await
    }
}
