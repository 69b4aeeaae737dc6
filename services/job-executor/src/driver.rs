//! The driver: traffic for the executor to work on, sent over HTTP to the service's own API
//! as any client would send it. Each event is a trace of its own (`driver.send_event`, a
//! client span) whose W3C context goes in the request's `traceparent`, so the API's server
//! span, the event's span and its attempts all continue it across the HTTP boundary.
//!
//! A steady stream of events of every rule's type and some of no rule's, a few on the same
//! entities and payloads (so the cache finds results), a share sent twice (so deduplication
//! finds them), a share poisoned to fail every attempt (so jobs reach the dead-letter queue),
//! and now and then a burst larger than the queue (so the queue fills and pushes back).

use std::time::Duration;

use alys_telemetry::root_span;
use alys_telemetry::sources::http::propagation;
use http::HeaderMap;
use tracing::field::Empty;

use crate::executor::EventIn;

/// What the driver sends, and how often.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The API's base URL (`http://127.0.0.1:9400`).
    pub target: String,
    /// Between two events.
    pub interval: Duration,
    /// Every this many events, a burst.
    pub burst_every: u32,
    /// Events in a burst, sent back to back.
    pub burst_size: u32,
    /// Share of events sent a second time.
    pub duplicate_share: f64,
    /// Share of events whose actions all fail.
    pub poison_share: f64,
    /// Share of events whose actions all hang past their timeout.
    pub hang_share: f64,
}

impl DriverConfig {
    pub fn new(target: impl Into<String>) -> DriverConfig {
        DriverConfig {
            target: target.into(),
            interval: Duration::from_millis(200),
            burst_every: 50,
            burst_size: 40,
            duplicate_share: 0.05,
            poison_share: 0.03,
            hang_share: 0.01,
        }
    }
}

/// The event types the driver sends, with their weights: every rule's, and one of none.
const TYPES: &[(&str, u32)] = &[
    ("order.created", 40),
    ("order.shipped", 20),
    ("order.cancelled", 10),
    ("user.signup", 20),
    ("audit.ping", 10),
];

/// Sends events until `stop` resolves.
pub async fn run(config: DriverConfig, stop: impl Future<Output = ()>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        // Loopback traffic never goes through a developer's HTTP(S)_PROXY.
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the driver cannot build its HTTP client");
            return;
        }
    };
    let url = format!("{}/events", config.target.trim_end_matches('/'));
    let mut sent: u32 = 0;
    let mut last: Option<EventIn> = None;
    let drive = async {
        loop {
            tokio::time::sleep(config.interval).await;
            sent = sent.wrapping_add(1);
            let burst = if config.burst_every > 0 && sent.is_multiple_of(config.burst_every) {
                config.burst_size.max(1)
            } else {
                1
            };
            for _ in 0..burst {
                let event = match &last {
                    Some(previous) if fastrand::f64() < config.duplicate_share => previous.clone(),
                    _ => make_event(&config),
                };
                send(&client, &url, &event).await;
                last = Some(event);
            }
        }
    };
    tokio::select! {
        () = stop => {}
        () = drive => {}
    }
}

/// One event, in a trace of its own that the request carries on.
async fn send(client: &reqwest::Client, url: &str, event: &EventIn) {
    let scope = root_span!(
        "driver.send_event",
        otel.name = format!("POST {}", event.event_type),
        otel.kind = "client",
        otel.status_code = Empty,
        "event.type" = event.event_type.as_str(),
        "event.entity" = event.entity.as_str(),
        http.response.status_code = Empty,
    );
    let mut headers = HeaderMap::new();
    propagation::inject(&scope.context(), &mut headers);
    let body = match serde_json::to_vec(event) {
        Ok(body) => body,
        Err(_) => return,
    };
    let request = client
        .post(url)
        .headers(headers)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send();
    let response = scope.clone().instrument(request).await;
    let Some(span) = scope.span() else {
        return;
    };
    match response {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", i64::from(status.as_u16()));
            if status.is_server_error() {
                span.record("otel.status_code", "error");
            }
        }
        Err(error) => {
            span.record("otel.status_code", "error");
            tracing::debug!(%error, "the driver's event was not delivered");
        }
    }
}

fn make_event(config: &DriverConfig) -> EventIn {
    let total: u32 = TYPES.iter().map(|(_, w)| w).sum();
    let mut pick = fastrand::u32(0..total);
    let event_type = TYPES
        .iter()
        .find(|(_, weight)| {
            let found = pick < *weight;
            pick = pick.saturating_sub(*weight);
            found
        })
        .map_or("order.created", |(t, _)| t);
    let entity = if event_type.starts_with("user.") {
        format!("user-{}", fastrand::u32(0..16))
    } else {
        format!("order-{}", fastrand::u32(0..16))
    };
    let amount = [10, 25, 50, 100][fastrand::usize(0..4)];
    let mut payload = serde_json::json!({ "amount": amount });
    let roll = fastrand::f64();
    if roll < config.poison_share {
        payload["simulate"] = "fail".into();
    } else if roll < config.poison_share + config.hang_share {
        payload["simulate"] = "timeout".into();
    }
    EventIn {
        id: Some(format!("drv-{:016x}", fastrand::u64(..))),
        event_type: event_type.to_string(),
        entity,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{Forced, actions_for};

    #[test]
    fn events_cover_every_rule_and_unmatched_ones() {
        let config = DriverConfig {
            poison_share: 0.5,
            hang_share: 0.2,
            ..DriverConfig::new("http://127.0.0.1:1")
        };
        let events: Vec<EventIn> = (0..2_000).map(|_| make_event(&config)).collect();
        for (event_type, _) in TYPES {
            assert!(
                events.iter().any(|e| e.event_type == *event_type),
                "{event_type}"
            );
        }
        assert!(events.iter().any(|e| actions_for(&e.event_type).is_empty()));
        let forced = |f| {
            events
                .iter()
                .filter(|e| Forced::of(&e.payload) == Some(f))
                .count()
        };
        assert!(forced(Forced::Fail) > 800, "{}", forced(Forced::Fail));
        assert!(forced(Forced::Timeout) > 250, "{}", forced(Forced::Timeout));
    }
}
