//! Bounded, parallel shutdown of the three providers.
//!
//! Each provider's shutdown blocks (the batch processors join their worker threads), and
//! against a collector that accepts but never answers each can take its full export timeout.
//! So the three run at once on plain threads, and we wait for them on the async side with one
//! deadline. Plain threads rather than `spawn_blocking`: a runtime waits for its blocking
//! tasks when it is dropped, and an abandoned shutdown must not hold the process. Waiting
//! asynchronously keeps a current-thread runtime's I/O driver running, which the tonic
//! exporter needs to deliver the final batch.

use std::time::{Duration, Instant};

use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::sync::oneshot;

use alys_telemetry_catalog::pipeline::Signal;

/// How one signal's shutdown ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalShutdown {
    /// The provider flushed and shut down (not a proof of delivery: see the export metrics).
    Done,
    /// The provider reported an error.
    Failed(String),
    /// It did not finish within the bound and was abandoned.
    TimedOut,
    /// That signal was not set up.
    NotConfigured,
}

/// The outcome of [`TelemetryGuard::shutdown`](super::TelemetryGuard::shutdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub traces: SignalShutdown,
    pub metrics: SignalShutdown,
    pub logs: SignalShutdown,
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// True when no signal failed or timed out.
    pub fn is_clean(&self) -> bool {
        [&self.traces, &self.metrics, &self.logs]
            .iter()
            .all(|s| matches!(s, SignalShutdown::Done | SignalShutdown::NotConfigured))
    }
}

#[derive(Default)]
pub(crate) struct Providers {
    pub tracer: Option<SdkTracerProvider>,
    pub meter: Option<SdkMeterProvider>,
    pub logger: Option<SdkLoggerProvider>,
}

impl Providers {
    /// Whether the OTLP exit runs (the logger provider exists only for it).
    pub(crate) fn pushes(&self) -> bool {
        self.logger.is_some()
    }
}

type Outcome = oneshot::Receiver<Result<(), String>>;

fn start(
    signal: Signal,
    timeout: Duration,
    f: impl FnOnce(Duration) -> Result<(), String> + Send + 'static,
) -> Option<Outcome> {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("otel-shutdown-{}", signal.as_str()))
        .spawn(move || {
            let _ = tx.send(f(timeout));
        });
    spawned.ok().map(|_| rx)
}

async fn finish(outcome: Option<Outcome>, deadline: tokio::time::Instant) -> SignalShutdown {
    let Some(rx) = outcome else {
        return SignalShutdown::Failed("could not start a shutdown thread".into());
    };
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(Ok(()))) => SignalShutdown::Done,
        Ok(Ok(Err(e))) => SignalShutdown::Failed(e),
        Ok(Err(_)) => SignalShutdown::Failed("shutdown thread ended without answer".into()),
        Err(_) => SignalShutdown::TimedOut,
    }
}

pub(crate) async fn shutdown_all(providers: Providers, bound: Duration) -> ShutdownReport {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + bound;
    let Providers {
        tracer,
        meter,
        logger,
    } = providers;
    if tracer.is_some() {
        // Spans made from now on are made through `tracing`, into whatever provider the
        // process has next, not into this one after it has stopped.
        alys_telemetry_core::traces::set_tracer(None);
    }
    let traces = tracer.map(|p| {
        start(Signal::Traces, bound, move |t| {
            p.shutdown_with_timeout(t).map_err(|e| e.to_string())
        })
    });
    let metrics = meter.map(|p| {
        start(Signal::Metrics, bound, move |t| {
            p.shutdown_with_timeout(t).map_err(|e| e.to_string())
        })
    });
    let logs = logger.map(|p| {
        start(Signal::Logs, bound, move |t| {
            p.shutdown_with_timeout(t).map_err(|e| e.to_string())
        })
    });
    let finish_opt = |o: Option<Option<Outcome>>| async move {
        match o {
            None => SignalShutdown::NotConfigured,
            Some(outcome) => finish(outcome, deadline).await,
        }
    };
    let (traces, metrics, logs) =
        tokio::join!(finish_opt(traces), finish_opt(metrics), finish_opt(logs));
    ShutdownReport {
        traces,
        metrics,
        logs,
        elapsed: started.elapsed(),
    }
}
