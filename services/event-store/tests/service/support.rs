//! The service under test: the `event-store` binary on ephemeral loopback ports, killed when
//! the test drops it, and the ways a test talks to it.

use std::process::Command;
use std::time::Duration;

use alys_test_support::exposition::{Exposition, parse_exposition};
use alys_test_support::{Proc, free_port, http_get, http_post, http_request, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_event-store");

/// A running `event-store`.
pub struct Service {
    pub proc: Proc,
    /// The pull endpoint's port (`/metrics`, `/ready`).
    pub pull_port: u16,
    /// The API's port.
    pub api_port: u16,
}

impl Service {
    /// Without its simulated client, so that the test's requests are the only ones, and
    /// without OTLP push.
    pub fn quiet() -> Service {
        Service::start(
            &["--no-driver"],
            &[("ALYS_TELEMETRY_PUSH_ENABLED", "false")],
        )
    }

    /// With `args` and `env` on top of fresh ports; waits until it is ready.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Service {
        let pull_port = free_port();
        let mut api_port = free_port();
        while api_port == pull_port {
            api_port = free_port();
        }
        let mut cmd = Command::new(BIN);
        // The developer's own telemetry settings must not reach the service under test.
        for (key, _) in std::env::vars() {
            if key.starts_with("OTEL_") || key.starts_with("ALYS_TELEMETRY_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ALYS_TELEMETRY_LISTEN", format!("127.0.0.1:{pull_port}"))
            .env("RUST_LOG", "info")
            .args(["--listen", &format!("127.0.0.1:{api_port}")])
            .args(args)
            .envs(env.iter().copied());
        let service = Service {
            proc: Proc::spawn(cmd, "event-store"),
            pull_port,
            api_port,
        };
        wait_until("the event store's /ready", Duration::from_secs(30), || {
            http_get(&service.pull("/ready"))
                .ok()
                .filter(|(code, _, _)| *code == 200)
        });
        service
    }

    pub fn pull(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.pull_port)
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.api_port)
    }

    /// POSTs a JSON body to the API: (status, body as JSON).
    pub fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, text) = http_post(&self.api(path), "application/json", body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (status, json(&text))
    }

    /// GETs from the API: (status, body as JSON).
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, text, _) =
            http_get(&self.api(path)).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (status, json(&text))
    }

    /// DELETEs on the API: (status, body as JSON).
    pub fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, text) = http_request("DELETE", &self.api(path))
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
        (status, json(&text))
    }

    pub fn metrics(&self) -> String {
        match http_get(&self.pull("/metrics")) {
            Ok((200, body, _)) => body,
            other => panic!("/metrics answered {other:?}"),
        }
    }

    pub fn exposition(&self) -> Exposition {
        parse_exposition(&self.metrics())
    }

    /// Waits until the sum of `name` with `labels` is at least `at_least`; returns it.
    pub fn wait_for_sum(&self, name: &str, labels: &[(&str, &str)], at_least: f64) -> f64 {
        wait_until(
            &format!("{name}{labels:?} >= {at_least}"),
            Duration::from_secs(20),
            || {
                self.exposition()
                    .sum(name, labels)
                    .filter(|v| *v >= at_least)
            },
        )
    }

    /// Sends SIGTERM and asserts a clean exit within `limit`.
    pub fn stop(&mut self, limit: Duration) {
        self.proc.signal("TERM");
        let status = self.proc.wait_exit(limit);
        assert!(
            status.is_some_and(|s| s.success()),
            "the event store did not exit cleanly within {limit:?} of SIGTERM: {status:?}\n{}",
            self.proc.output_tail(20)
        );
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A valid event of `event_type` for `entity`.
pub fn event(event_type: &str, entity: &str) -> String {
    let payload = match event_type {
        "user.created" => serde_json::json!({"email": "a@example.org", "name": "A"}),
        "order.placed" => serde_json::json!({"order_id": "o-1", "amount": 12.5}),
        "order.shipped" => serde_json::json!({"order_id": "o-1", "carrier": "ups"}),
        "payment.processed" => serde_json::json!({"amount": 3.0, "currency": "EUR"}),
        _ => serde_json::json!({"note": "free"}),
    };
    serde_json::json!({"event_type": event_type, "entity_id": entity, "payload": payload})
        .to_string()
}
