//! A webhook receiver for Alertmanager: a real HTTP server (axum) on a loopback port that
//! keeps every JSON notification it is posted.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::oneshot;

type Received = Arc<Mutex<Vec<Value>>>;

/// Collects what Alertmanager posts to `/alerts` and below. Stopped (and its port freed) on
/// drop.
pub struct Webhook {
    addr: SocketAddr,
    /// Every notification received so far, in order.
    pub received: Received,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Serves on an ephemeral loopback port, on a thread of its own.
    pub fn start() -> Webhook {
        Webhook::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves on `addr` (the stack harness's side of its network, where the services reach
    /// it as `alys-webhook`).
    pub fn start_on(addr: SocketAddr) -> Webhook {
        let listener = std::net::TcpListener::bind(addr)
            .unwrap_or_else(|e| panic!("bind the webhook receiver on {addr}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local_addr");
        let received = Received::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route("/alerts", post(receive))
            // alerts/alertmanager.yml posts warnings to /alerts/warning.
            .route("/alerts/{*receiver}", post(receive))
            .with_state(received.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("webhook runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("webhook server");
            });
        });
        Webhook {
            addr,
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/alerts", self.addr)
    }

    /// Notifications that carry `alertname` with `status`.
    pub fn notifications(&self, alertname: &str, status: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|n| {
                n["status"] == status
                    && n["alerts"].as_array().is_some_and(|a| {
                        a.iter()
                            .any(|x| x["labels"]["alertname"] == alertname && x["status"] == status)
                    })
            })
            .cloned()
            .collect()
    }
}

async fn receive(State(received): State<Received>, body: axum::body::Bytes) -> StatusCode {
    match serde_json::from_slice(&body) {
        Ok(json) => {
            received.lock().unwrap().push(json);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_notifications_are_kept_and_found_by_alert() {
        let hook = Webhook::start();
        let body = r#"{"status":"firing","alerts":[{"status":"firing","labels":{"alertname":"SyncFailed"}}]}"#;
        let (code, _) = crate::http_post(&hook.url(), "application/json", body).unwrap();
        assert_eq!(code, 200);
        let (code, _) = crate::http_post(&hook.url(), "application/json", "not json").unwrap();
        assert_eq!(code, 400);
        assert_eq!(hook.notifications("SyncFailed", "firing").len(), 1);
        assert!(hook.notifications("SyncFailed", "resolved").is_empty());
        assert_eq!(hook.received.lock().unwrap().len(), 1);
    }
}
