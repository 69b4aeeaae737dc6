//! The service as a whole: the runtime of components, its HTTP API and its driver, on a
//! running telemetry pipeline, until a stop or the end of the run.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alys_telemetry::sources::tasks::TaskMonitor;
use alys_telemetry::{StopRequest, TelemetryGuard};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::driver::{self, DriverOptions};
use crate::kinds::TaskKind;
use crate::runtime::{Runtime, RuntimeOptions};

/// How the service runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Where the HTTP API listens.
    pub api: SocketAddr,
    /// Stop by itself after this long; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Messages per second the driver sends to the API; 0 leaves the driving to others.
    pub rate: f64,
    pub runtime: RuntimeOptions,
}

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot listen for the API on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the service on `telemetry` until `stop` resolves or the run's duration passes, then
/// stops its parts within a quarter of the shutdown timeout. Returns when the stop began, so
/// that the flush that follows ends within the shutdown timeout of that moment.
pub async fn run(
    telemetry: &TelemetryGuard,
    options: Options,
    stop: impl Future<Output = StopRequest>,
) -> Result<Instant, ServiceError> {
    let meter = telemetry.meter();
    let listener = TcpListener::bind(options.api)
        .await
        .map_err(|source| ServiceError::Listen {
            addr: options.api,
            source,
        })?;
    let api = listener.local_addr().unwrap_or(options.api);
    let tasks = TaskMonitor::<TaskKind>::new(&meter);
    let runtime = Runtime::start(&meter, telemetry.health(), options.runtime);
    let app = crate::api::router(runtime.clone(), &meter);
    let (mut server, stop_api) = serve(&tasks, listener, app);
    telemetry.mark_ready();
    tracing::info!(api = %format!("http://{api}"), "component runtime ready");
    let driver = (options.rate > 0.0).then(|| {
        let rate = options.rate;
        tasks.spawn(TaskKind::Driver, driver::run(DriverOptions { api, rate }))
    });
    let server_ended = until_stop(stop, options.duration, &mut server).await;
    let began = Instant::now();
    telemetry.mark_stopping();
    if let Some(driver) = driver {
        driver.abort();
    }
    let teardown = async move {
        // Requests in progress finish; then the components stop.
        let _ = stop_api.send(());
        if !server_ended {
            let _ = server.await;
        }
        runtime.stop().await;
    };
    within(telemetry.shutdown_timeout() / 4, teardown).await;
    Ok(began)
}

/// The API's server, measured as a task; the sender stops it gracefully.
fn serve(
    tasks: &TaskMonitor<TaskKind>,
    listener: TcpListener,
    app: axum::Router,
) -> (JoinHandle<std::io::Result<()>>, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.await;
    });
    (tasks.spawn(TaskKind::Api, server.into_future()), stop)
}

/// Waits for `stop`, the end of the run's `duration`, or the end of the API's `server`
/// (which should not end by itself); whether it was the server.
async fn until_stop(
    stop: impl Future<Output = StopRequest>,
    duration: Option<Duration>,
    server: &mut JoinHandle<std::io::Result<()>>,
) -> bool {
    let deadline = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        request = stop => {
            tracing::info!(%request, "component runtime stopping");
            false
        }
        _ = deadline => {
            tracing::info!("component runtime reached the end of its run");
            false
        }
        ended = server => {
            tracing::error!("the API server ended by itself: {ended:?}");
            true
        }
    }
}

/// Waits for `teardown` at most `bound`: the rest of the stop belongs to the flush.
async fn within(bound: Duration, teardown: impl Future<Output = ()>) {
    if tokio::time::timeout(bound, teardown).await.is_err() {
        tracing::warn!(
            bound_ms = bound.as_millis() as u64,
            "the components did not stop within their share of the stop; no longer waiting"
        );
    }
}
