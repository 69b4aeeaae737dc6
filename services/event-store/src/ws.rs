//! The WebSocket stream (`GET /ws`): every event stored after a subscriber connects is sent
//! to it as a text message, the JSON the query API returns. A subscriber that falls more
//! than the stream's buffer behind skips events (counted as `lagged`) rather than holding
//! the store back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::{broadcast, watch};

use crate::api::AppState;
use crate::labels::WsErrorReason;
use crate::metrics::WebSocketMetrics;
use crate::store::Store;

/// The connected subscribers, and the signal that tells them the service is stopping.
#[derive(Debug)]
pub struct Subscribers {
    active: AtomicU64,
    stopping: watch::Receiver<bool>,
}

impl Subscribers {
    /// Subscribers that close their connections when `stopping` turns true.
    pub fn new(stopping: watch::Receiver<bool>) -> Subscribers {
        Subscribers {
            active: AtomicU64::new(0),
            stopping,
        }
    }

    /// Subscribers connected now.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }
}

/// Counts a connection as active for as long as it lives.
struct Active<'a> {
    subscribers: &'a Subscribers,
    metrics: &'a WebSocketMetrics,
}

impl<'a> Active<'a> {
    fn new(subscribers: &'a Subscribers, metrics: &'a WebSocketMetrics) -> Active<'a> {
        let now = subscribers.active.fetch_add(1, Ordering::Relaxed) + 1;
        metrics.connections.add(1);
        metrics.active.set(now as f64);
        Active {
            subscribers,
            metrics,
        }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        let now = self.subscribers.active.fetch_sub(1, Ordering::Relaxed) - 1;
        self.metrics.active.set(now as f64);
    }
}

/// Upgrades the request; the subscription starts now, so that no event stored after the
/// 101 answer is missed.
pub async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let events = app.store.subscribe();
    ws.on_upgrade(move |socket| serve(socket, events, app.store, app.subscribers))
}

async fn serve(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<axum::extract::ws::Utf8Bytes>,
    store: Arc<Store>,
    subscribers: Arc<Subscribers>,
) {
    let metrics = &store.metrics().websocket;
    let _active = Active::new(&subscribers, metrics);
    let mut stopping = subscribers.stopping.clone();
    let stop = async move {
        // The guard `wait_for` returns is not `Send`: only the fact is kept.
        let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(json) => {
                    if socket.send(Message::Text(json)).await.is_err() {
                        metrics.errors.add(WsErrorReason::SendFailed, 1);
                        break;
                    }
                    metrics.messages_sent.add(1);
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    metrics.errors.add(WsErrorReason::Lagged, 1);
                    tracing::debug!(skipped, "a WebSocket subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Ok(Message::Close(_))) => break,
                // Pings are answered by the protocol layer; anything else a subscriber
                // sends has no meaning here.
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    metrics.errors.add(WsErrorReason::ReceiveFailed, 1);
                    tracing::debug!(%error, "a WebSocket subscriber's connection broke");
                    break;
                }
            },
            () = &mut stop => {
                // The service is stopping: a clean close, not a dropped connection.
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
}
