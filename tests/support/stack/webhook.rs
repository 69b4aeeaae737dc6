//! An Alertmanager webhook receiver: an HTTP server (axum) that keeps every notification it
//! is posted, for tests to wait on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;

type Received = Arc<Mutex<Vec<Value>>>;

/// A running receiver; stops when dropped.
pub struct Webhook {
    pub addr: SocketAddr,
    received: Received,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn receive(State(received): State<Received>, Json(body): Json<Value>) {
    received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(body);
}

impl Webhook {
    /// Listens on `addr` (port 0 for any); every path accepts POSTed JSON.
    pub fn start(addr: SocketAddr) -> Webhook {
        let received: Received = Arc::default();
        let listener = std::net::TcpListener::bind(addr)
            .unwrap_or_else(|e| panic!("bind the webhook receiver on {addr}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local_addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/{*path}", post(receive))
            .with_state(received.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("webhook runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Webhook {
            addr,
            received,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Every notification so far.
    pub fn notifications(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The first notification in which `alertname` has `status` ("firing" or "resolved"),
    /// waiting up to `timeout`.
    pub fn wait_for(&self, alertname: &str, status: &str, timeout: Duration) -> Option<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let found = self.notifications().into_iter().find(|n| {
                n["alerts"].as_array().is_some_and(|alerts| {
                    alerts
                        .iter()
                        .any(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
                })
            });
            if found.is_some() || std::time::Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
