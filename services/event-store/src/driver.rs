//! The simulated client: it ingests events (most valid, some of each kind of bad input),
//! queries in every way the API offers, and keeps a WebSocket subscriber, all over HTTP to the
//! service itself, each request in a trace of its own carried by W3C `traceparent`, so that
//! every metric of the catalogue moves while it runs.

use std::net::SocketAddr;
use std::time::Duration;

use alys_telemetry::root_span;
use alys_telemetry::sources::http::propagation;
use alys_telemetry::sources::traces::TraceScope;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The entities the driver writes to: few enough that each gets snapshots.
const ENTITIES: u64 = 40;

/// Drives the API at `addr`, one round per `interval`, until `stop` turns true.
pub async fn run(addr: SocketAddr, interval: Duration, stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the driver cannot build its HTTP client; it does not run");
            return;
        }
    };
    let driver = Driver {
        base: format!("http://{addr}"),
        client,
        rng: fastrand::Rng::new(),
    };
    let subscriber = tokio::spawn(subscribe(addr, stop.clone()));
    driver.rounds(interval, stop).await;
    let _ = subscriber.await;
}

struct Driver {
    base: String,
    client: reqwest::Client,
    rng: fastrand::Rng,
}

impl Driver {
    async fn rounds(mut self, interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            round += 1;
            self.round(round).await;
        }
    }

    /// One round: an event, and by turns a batch, a query, bad input, a broken subscriber.
    async fn round(&mut self, round: u64) {
        let body = match round {
            r if r.is_multiple_of(29) => "{\"event_type\": \"user.created\", ".to_string(),
            r if r.is_multiple_of(23) => {
                json!({"event_type": "user.created", "entity_id": self.entity()}).to_string()
            }
            r if r.is_multiple_of(17) => {
                json!({"event_type": "order.placed", "entity_id": self.entity(),
                                        "payload": {"order_id": "o-1"}})
                .to_string()
            }
            r if r.is_multiple_of(11) => {
                json!({"event_type": "audit.note", "entity_id": self.entity(),
                                        "payload": "free text"})
                .to_string()
            }
            _ => self.event().to_string(),
        };
        self.post("/events", body).await;
        if round.is_multiple_of(10) {
            let batch: Vec<Value> = (0..5).map(|_| self.event()).collect();
            self.post("/events/batch", Value::Array(batch).to_string())
                .await;
        }
        if round.is_multiple_of(3) {
            let path = match (round / 3) % 5 {
                0 => "/events?limit=20".to_string(),
                1 => "/events?event_type=order.placed&limit=10".to_string(),
                2 => format!("/events?entity_id={}", self.entity()),
                3 => format!(
                    "/events?entity_id={}&event_type=user.updated",
                    self.entity()
                ),
                _ => format!("/entities/{}", self.entity()),
            };
            self.get(&path).await;
        }
        if round.is_multiple_of(53) {
            self.get("/events?limit=none").await;
            self.post("/events", "x".repeat(70 * 1024)).await;
        }
        if round.is_multiple_of(41) {
            drop_a_subscriber(&self.base).await;
        }
    }

    fn entity(&mut self) -> String {
        format!("entity-{}", self.rng.u64(0..ENTITIES))
    }

    /// A valid event of a random type.
    fn event(&mut self) -> Value {
        let entity = self.entity();
        let amount = f64::from(self.rng.u32(1..50_000)) / 100.0;
        let plan = ["free", "pro", "team"][self.rng.usize(0..3)];
        let (event_type, payload) = match self.rng.u8(0..5) {
            0 => (
                "user.created",
                json!({"email": format!("{entity}@example.org"), "name": entity}),
            ),
            1 => ("user.updated", json!({"plan": plan})),
            2 => (
                "order.placed",
                json!({"order_id": format!("o-{}", self.rng.u32(..)), "amount": amount}),
            ),
            3 => (
                "order.shipped",
                json!({"order_id": format!("o-{}", self.rng.u32(..)), "carrier": "ups"}),
            ),
            _ => (
                "payment.processed",
                json!({"amount": amount, "currency": "EUR"}),
            ),
        };
        json!({"event_type": event_type, "entity_id": entity, "payload": payload,
               "metadata": {"source": "driver"}})
    }

    async fn post(&self, path: &str, body: String) {
        let scope = root_span!(
            "driver.request",
            http.request.method = "POST",
            url.path = path
        );
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        send(scope, request).await;
    }

    async fn get(&self, path: &str) {
        let scope = root_span!(
            "driver.request",
            http.request.method = "GET",
            url.path = path
        );
        send(scope, self.client.get(format!("{}{path}", self.base))).await;
    }
}

/// Sends `request` in `scope`, with the scope's W3C context in its headers.
async fn send(scope: TraceScope, request: reqwest::RequestBuilder) {
    let mut headers = http::HeaderMap::new();
    scope.in_scope(|| propagation::inject_current(&mut headers));
    let sent = scope.instrument(request.headers(headers).send()).await;
    match sent {
        Ok(response) => {
            let status = response.status();
            // Reading the body completes the exchange the server measures.
            let _ = response.bytes().await;
            tracing::debug!(%status, "driver request answered");
        }
        Err(error) => tracing::warn!(%error, "driver request failed"),
    }
}

/// The long-lived subscriber: counts what the stream sends, reconnecting after a failure.
async fn subscribe(addr: SocketAddr, mut stop: watch::Receiver<bool>) {
    let url = format!("ws://{addr}/ws");
    let mut received: u64 = 0;
    while !*stop.borrow() {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((mut socket, _)) => loop {
                tokio::select! {
                    message = socket.next() => match message {
                        Some(Ok(_)) => received += 1,
                        _ => break,
                    },
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            },
            Err(error) => tracing::warn!(%error, "the driver's subscriber cannot connect"),
        }
        // Not a synchronisation: a pause before reconnecting, cut short by the stop.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
    }
    tracing::info!(received, "the driver's subscriber stopped");
}

/// A subscriber that vanishes without the close handshake, as a crashed client does.
async fn drop_a_subscriber(base: &str) {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    if let Ok((socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
        // Dropping the underlying stream closes the TCP connection with no close frame.
        drop(socket.into_inner());
    }
}
