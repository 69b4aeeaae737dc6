//! The pull exit: `/metrics` (Prometheus text exposition, or OpenMetrics with exemplars when
//! asked for), `/health` and `/ready`, and the viewer's pages and API when it runs.
//!
//! A web configuration file in the exporter-toolkit format (setting `pull.web_config_file`)
//! secures it: TLS with optional client certificates, basic auth or a bearer token for
//! `/metrics`, the viewer's own credentials, extra headers; reloaded when it changes and on
//! SIGHUP. [`web_config`] documents the format; `/health` and `/ready` stay open to probes.

mod auth;
mod gate;
mod reload;
mod security;
mod tls;
pub mod web_config;

pub use security::WebConfig;
pub use web_config::WebConfigError;

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, TextEncoder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connections::{self, ConnectionLimits, ConnectionStats, TlsSource};
use super::openmetrics::{self, Format};
use alys_telemetry_catalog::exemplars::{EXEMPLARS, SeriesKey};
use alys_telemetry_core::health::{HealthRegistry, HealthStatus};
use alys_telemetry_viewer::{self as viewer, Viewer};

/// What the endpoint serves from.
#[derive(Clone)]
pub struct PullState {
    pub registry: prometheus::Registry,
    pub health: HealthRegistry,
    pub readiness: Readiness,
    /// The viewer's pages and API (`viewer.enabled`).
    pub viewer: Option<Viewer>,
}

/// The routes. Unknown paths answer 404 and other methods 405 (axum's defaults).
pub fn router(state: PullState) -> Router {
    let viewer = state.viewer.as_ref().map(Viewer::routes);
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(state);
    match viewer {
        Some(pages) => router.merge(pages),
        None => router,
    }
}

async fn metrics(State(state): State<PullState>, headers: HeaderMap) -> Response {
    // Collection runs the SDK's and our callbacks; a panic there must not take the
    // endpoint down with it.
    let gathered = std::panic::catch_unwind(AssertUnwindSafe(|| state.registry.gather()));
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = openmetrics::negotiate(accept);
    let mut body = Vec::new();
    let encoded = match gathered {
        Ok(families) => encode(format, &families, &mut body),
        Err(_) => Err("metrics collection failed".to_string()),
    };
    match encoded {
        Ok(()) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(message) => {
            tracing::error!(target: "alys_telemetry::export", "{message}");
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}

/// The text format for whoever does not ask otherwise; OpenMetrics, with the histograms'
/// exemplars, for a scraper that asks for it (Prometheus does).
fn encode(format: Format, families: &[MetricFamily], body: &mut Vec<u8>) -> Result<(), String> {
    match format {
        Format::PrometheusText => TextEncoder::new()
            .encode(families, body)
            .map_err(|e| format!("metrics encoding failed: {e}")),
        Format::OpenMetrics => {
            let exemplar = |name: &str, labels: &[(&str, &str)], le: f64| {
                EXEMPLARS.get(&SeriesKey::new(name, labels.iter().copied()), le)
            };
            openmetrics::encode(families, exemplar, body)
                .map_err(|e| format!("OpenMetrics encoding failed: {e}"))
        }
    }
}

async fn health(State(state): State<PullState>, headers: HeaderMap) -> Response {
    let report = state.health.report().await;
    let code = match report.status {
        HealthStatus::Healthy | HealthStatus::Degraded => StatusCode::OK,
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    // Browsers get the page; API clients (and probes) keep the JSON.
    if let Some(v) = &state.viewer
        && viewer::pages::wants_html(&headers)
    {
        return viewer::pages::health(&report, &v.history, code);
    }
    (code, axum::Json(report)).into_response()
}

async fn ready(State(state): State<PullState>) -> Response {
    match state.readiness.phase() {
        Phase::Ready => (StatusCode::OK, "ready\n").into_response(),
        Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response(),
        Phase::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

/// Serves `router` on `listener` until `stop` resolves, its connections within the default
/// [`ConnectionLimits`] (the pipeline passes the configured ones).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stats = ConnectionStats::new();
    connections::serve(listener, router, ConnectionLimits::default(), stats, stop).await;
    Ok(())
}

/// Binds the endpoint's address. The pipeline does this before it builds anything, so that
/// an address in use stops start-up with nothing else created.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// Serves `state` on `listener` in a task of its own until `stop` turns true, within
/// `limits`, secured by `web` when given (and reloading it); the connections' metrics are
/// registered on `meter`.
pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    state: PullState,
    limits: ConnectionLimits,
    meter: &opentelemetry::metrics::Meter,
    stop: watch::Receiver<bool>,
    web: Option<WebConfig>,
) -> JoinHandle<()> {
    let stats = ConnectionStats::new();
    stats.register(meter);
    let until_stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let Some(web) = web else {
        return tokio::spawn(async move {
            let stop = until_stopped(stop);
            connections::serve(listener, router(state), limits, stats, stop).await;
        });
    };
    let (current, reloader) = reload::start(web, Arc::clone(&stats));
    let tls = current.tls.clone().map(|acceptor| {
        let source: TlsSource = Arc::new(move || acceptor.borrow().clone());
        source
    });
    let gate = gate::Gate::new(current, Arc::clone(&stats));
    let router = router(state).layer(axum::middleware::from_fn_with_state(gate, gate::check));
    // One task: the guard's abort of it stops the reloader too.
    tokio::spawn(async move {
        let serve = connections::serve_tls(
            listener,
            router,
            limits,
            stats,
            tls,
            until_stopped(stop.clone()),
        );
        tokio::join!(serve, reloader.run(until_stopped(stop)));
    })
}

/// Where the process is in its life, for `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting = 0,
    Ready = 1,
    ShuttingDown = 2,
}

/// Readiness shared between the pipeline and the endpoint.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::ShuttingDown,
        }
    }
    /// Ready, unless shutdown has already begun.
    pub fn set_ready(&self) {
        let _ = self.0.compare_exchange(
            Phase::Starting as u8,
            Phase::Ready as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
    pub fn set_shutting_down(&self) {
        self.0.store(Phase::ShuttingDown as u8, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_never_returns_from_shutdown() {
        let r = Readiness::new();
        assert_eq!(r.phase(), Phase::Starting);
        r.set_ready();
        assert_eq!(r.phase(), Phase::Ready);
        r.set_shutting_down();
        r.set_ready();
        assert_eq!(r.phase(), Phase::ShuttingDown);
    }
}
