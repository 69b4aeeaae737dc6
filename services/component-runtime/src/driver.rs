//! The service's own load: a client that sends messages to the service's API over HTTP, as
//! any caller would, each in a trace of its own whose context travels in the `traceparent`
//! header. Most messages are good; some carry a bad payload or an unknown sensor, some enter
//! the pipeline past the source, and now and then a request is malformed, so that every
//! metric moves, 4xx statuses included.

use std::net::SocketAddr;
use std::time::Duration;

use alys_telemetry::root_span;
use alys_telemetry::sources::http::propagation::inject;
use alys_telemetry::sources::throttle::Throttle;
use fastrand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::json;

use crate::work::REFERENCE;

/// How the driver drives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriverOptions {
    /// The API's address.
    pub api: SocketAddr,
    /// Messages per second.
    pub rate: f64,
}

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot build the driver's HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One request the driver makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A message for component `component` with this JSON body.
    Message {
        component: &'static str,
        body: String,
    },
    /// The list of components, as a dashboard would poll it.
    List,
}

/// Failed requests, logged at most every 10 s.
static FAILED: Throttle = Throttle::new(Duration::from_secs(10));

/// Sends requests at `options.rate` until cancelled (the service aborts it as it stops).
pub async fn run(options: DriverOptions) -> Result<(), DriverError> {
    let client = reqwest::Client::builder()
        // A developer's HTTP(S)_PROXY must not capture loopback traffic.
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(DriverError::Client)?;
    let base = format!("http://{}", options.api);
    // A rate that is not a number waits a second between requests rather than panicking.
    let period = Duration::try_from_secs_f64(1.0 / options.rate.clamp(0.01, 10_000.0))
        .unwrap_or(Duration::from_secs(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = Rng::new();
    for n in 0u64.. {
        ticker.tick().await;
        // Every 100th request reads the list, as a dashboard polling it would.
        let request = if n % 100 == 99 {
            Request::List
        } else {
            next_message(&mut rng)
        };
        send(&client, &base, request).await;
    }
    Ok(())
}

/// Sends one request in a new trace, its context in the headers.
async fn send(client: &reqwest::Client, base: &str, request: Request) {
    let (name, builder) = match &request {
        Request::Message { component, body } => (
            *component,
            client
                .post(format!("{base}/components/{component}/messages"))
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone()),
        ),
        Request::List => ("list", client.get(format!("{base}/components"))),
    };
    let scope = root_span!("driver.send", otel.kind = "client", component = name);
    let mut headers = HeaderMap::new();
    inject(&scope.context(), &mut headers);
    let response = scope.instrument(builder.headers(headers).send()).await;
    match response {
        Ok(r) if r.status().is_server_error() => failed(&format!("status {}", r.status())),
        Ok(_) => {}
        Err(e) => failed(&e.to_string()),
    }
}

fn failed(what: &str) {
    if let Some(occurrences) = FAILED.occurred() {
        tracing::warn!(occurrences, "the driver's request failed: {what}");
    }
}

/// The next message: mostly good ones at the source, and every kind of trouble now and then.
pub fn next_message(rng: &mut Rng) -> Request {
    let sensor = rng.choice(REFERENCE.iter()).map_or("s1", |(s, _)| *s);
    let reading = format!("sensor={sensor} temperature={:.1}", rng.f64() * 40.0 - 5.0);
    let message = |component, body: serde_json::Value| Request::Message {
        component,
        body: body.to_string(),
    };
    match rng.u32(..1000) {
        // A payload the parser cannot read.
        0..15 => message("source", json!({ "payload": "temperature 21.5" })),
        // A sensor the enricher has no reference data for.
        15..30 => message("source", json!({ "payload": "sensor=s99 temperature=3.0" })),
        // Into the pipeline past the source, the fields already parsed.
        30..60 => message(
            "enricher",
            json!({ "payload": reading, "fields": { "sensor": sensor } }),
        ),
        60..80 => message("parser", json!({ "payload": reading })),
        // Malformed requests: broken JSON (400), and a component that does not exist (404).
        80..85 => Request::Message {
            component: "source",
            body: "{\"payload\": ".into(),
        },
        85..88 => message("mixer", json!({ "payload": reading })),
        _ => message("source", json!({ "payload": reading })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_messages_are_good_and_every_kind_of_trouble_comes() {
        let mut rng = Rng::with_seed(4);
        let requests: Vec<Request> = (0..5_000).map(|_| next_message(&mut rng)).collect();
        let count = |f: &dyn Fn(&str, &str) -> bool| {
            requests
                .iter()
                .filter(|r| matches!(r, Request::Message { component, body } if f(component, body)))
                .count()
        };
        let good = count(&|c, b| c == "source" && b.contains("sensor=s") && !b.contains("s99"));
        assert!(good > 4_000, "{good}");
        assert!(count(&|_, b| b.contains("temperature 21.5")) > 0);
        assert!(count(&|_, b| b.contains("s99")) > 0);
        assert!(count(&|c, _| c == "enricher") > 0);
        assert!(count(&|c, _| c == "mixer") > 0);
        assert!(count(&|_, b| serde_json::from_str::<serde_json::Value>(b).is_err()) > 0);
    }
}
