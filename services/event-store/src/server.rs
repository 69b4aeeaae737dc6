//! The service as a running thing: the store, its API on a listener, and a graceful stop that
//! closes the WebSocket subscribers and lets requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry::metrics::Meter;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::metrics::Metrics;
use crate::store::{Store, StoreConfig};
use crate::ws::Subscribers;

/// Why the service could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the API server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the API server's task ended abnormally: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// The running service.
pub struct Running {
    /// Where the API listens (the port resolved when 0 was asked for).
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the store and its API on `addr`, measured on `meter`.
pub async fn start(
    addr: SocketAddr,
    config: StoreConfig,
    meter: &Meter,
) -> Result<Running, ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;
    let metrics = Arc::new(Metrics::new(meter));
    let store = Arc::new(Store::new(config, metrics));
    let (stop, stopping) = watch::channel(false);
    let state = AppState {
        store: Arc::clone(&store),
        subscribers: Arc::new(Subscribers::new(stopping.clone())),
    };
    let app = api::router(state, meter);
    let mut until = stopping;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = until.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%addr, "event store API listening");
    Ok(Running {
        addr,
        store,
        stop,
        task,
    })
}

impl Running {
    /// Stops accepting, closes the subscribers, and waits for requests in flight.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(ServeError::Task)?
            .map_err(ServeError::Serve)
    }
}
