//! The simulated client: it ingests events (most valid, some of each kind of bad input),
//! queries in every way the API offers, registers stream pipelines and replays projections,
//! and keeps a WebSocket subscriber, all over HTTP to the service itself, each request in a trace of its own carried by W3C `traceparent`, so that
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
/// Events a replay of the driver's goes back: the recent log, since a replay holds the store
/// while it runs and the whole log of a long run would hold it for seconds.
const REPLAY_WINDOW: u64 = 500;
/// The pipelines registered at start: one by event type, one by type and payload field.
const PIPELINES: [&str; 2] = [
    r#"{"name": "orders", "event_type": "order.placed"}"#,
    r#"{"name": "eur-payments", "event_type": "payment.processed", "field": "currency", "equals": "EUR"}"#,
];

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
        last_sequence: 0,
    };
    let subscriber = tokio::spawn(subscribe(addr, stop.clone()));
    driver.rounds(interval, stop).await;
    let _ = subscriber.await;
}

struct Driver {
    base: String,
    client: reqwest::Client,
    rng: fastrand::Rng,
    /// The sequence of the latest event the driver stored: where its replays end.
    last_sequence: u64,
}

impl Driver {
    async fn rounds(mut self, interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for pipeline in PIPELINES {
            self.post("/pipelines", pipeline.to_string()).await;
        }
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

    /// One round: an event, and by turns a batch, a query, a replay, a pipeline added or
    /// removed, bad input, a broken subscriber.
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
        let stored = self.post("/events", body).await;
        if let Some(sequence) = stored.and_then(|body| body["sequence"].as_u64()) {
            self.last_sequence = sequence;
        }
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
        self.control(round).await;
        if round.is_multiple_of(53) {
            self.get("/events?limit=none").await;
            self.post("/events", "x".repeat(70 * 1024)).await;
            let unknown = json!({"projection": "balances"}).to_string();
            self.post("/replays", unknown).await;
        }
        if round.is_multiple_of(41) {
            drop_a_subscriber(&self.base).await;
        }
    }

    /// By turns, a replay, and a pipeline that comes and goes (so that the gauge of
    /// registered pipelines falls as well as rises).
    async fn control(&self, round: u64) {
        if round.is_multiple_of(37) {
            self.replay(round / 37).await;
        }
        if round.is_multiple_of(61) {
            match (round / 61) % 2 {
                1 => {
                    let plans = r#"{"name": "plans", "field": "plan"}"#;
                    self.post("/pipelines", plans.to_string()).await;
                }
                _ => self.delete("/pipelines/plans").await,
            }
        }
    }

    /// A replay of the recent log, by turns: the type counts (completes); the entity states
    /// of `order.placed` events (completes: their payloads are objects); all entity states
    /// (fails once the window holds an `audit.note`, whose payload is text).
    async fn replay(&self, turn: u64) {
        let from = self.last_sequence.saturating_sub(REPLAY_WINDOW).max(1);
        let body = match turn % 3 {
            0 => json!({"projection": "type_counts", "from": from}),
            1 => json!({"projection": "entity_state", "from": from, "event_type": "order.placed"}),
            _ => json!({"projection": "entity_state", "from": from}),
        };
        self.post("/replays", body.to_string()).await;
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

    /// POSTs `body`; the answer's JSON, when there is one.
    async fn post(&self, path: &str, body: String) -> Option<Value> {
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
        send(scope, request).await
    }

    async fn delete(&self, path: &str) {
        let scope = root_span!(
            "driver.request",
            http.request.method = "DELETE",
            url.path = path
        );
        let request = self.client.delete(format!("{}{path}", self.base));
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

/// Sends `request` in `scope`, with the scope's W3C context in its headers; the answer's
/// JSON, when there is one.
async fn send(scope: TraceScope, request: reqwest::RequestBuilder) -> Option<Value> {
    let mut headers = http::HeaderMap::new();
    scope.in_scope(|| propagation::inject_current(&mut headers));
    let sent = scope.instrument(request.headers(headers).send()).await;
    match sent {
        Ok(response) => {
            let status = response.status();
            // Reading the body completes the exchange the server measures.
            let body = response.bytes().await.ok();
            tracing::debug!(%status, "driver request answered");
            body.and_then(|body| serde_json::from_slice(&body).ok())
        }
        Err(error) => {
            tracing::warn!(%error, "driver request failed");
            None
        }
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
