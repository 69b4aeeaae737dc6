//! The service as a test subject: the real binary, with a clean environment, its API and its
//! pull endpoint on ephemeral loopback ports, waited for until both answer, and killed on
//! drop.

use std::process::Command;
use std::time::Duration;

use alys_test_support::exposition::{Exposition, parse_exposition};
use alys_test_support::{Proc, free_port, http_get, http_post, wait_until};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_component-runtime");

/// Nothing fails by chance and nothing drives the service but the test: what it measures is
/// what the test did.
pub const QUIET: &[&str] = &[
    "--rate",
    "0",
    "--crash-rate",
    "0",
    "--timeout-rate",
    "0",
    "--instantiation-failure-rate",
    "0",
];

pub struct Service {
    pub proc: Proc,
    pub api_port: u16,
    pub pull_port: u16,
}

impl Service {
    /// The service with no driver and no chance failures, pushing nothing, plus `args`.
    pub fn quiet(args: &[&str]) -> Service {
        let mut all = QUIET.to_vec();
        all.push("--no-push");
        all.extend_from_slice(args);
        Service::start(&all, &[])
    }

    /// `component-runtime ARGS` with `env` (and none of the test's own OTEL_,
    /// ALYS_TELEMETRY_ or RUST_LOG variables), its API and pull endpoint on free ports.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Service {
        let (api_port, pull_port) = (free_port(), free_port());
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("OTEL_") || key.starts_with("ALYS_TELEMETRY_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.args(["--api", &format!("127.0.0.1:{api_port}")])
            .args(["--listen", &format!("127.0.0.1:{pull_port}")])
            .args(args)
            .envs(env.iter().copied());
        let service = Service {
            proc: Proc::spawn(cmd, "component-runtime"),
            api_port,
            pull_port,
        };
        wait_until("the service's /ready", Duration::from_secs(30), || {
            http_get(&service.pull("/ready"))
                .ok()
                .filter(|(code, _, _)| *code == 200)
        });
        wait_until("the service's API", Duration::from_secs(10), || {
            http_get(&service.api("/components"))
                .ok()
                .filter(|(code, _, _)| *code == 200)
        });
        service
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    pub fn pull(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.pull_port)
    }

    /// POSTs `body` (JSON text) to component `component`: the status and the JSON answer.
    pub fn post(&self, component: &str, body: &str) -> (u16, Value) {
        let url = self.api(&format!("/components/{component}/messages"));
        let (status, text) =
            http_post(&url, "application/json", body).unwrap_or_else(|e| panic!("POST {url}: {e}"));
        (status, json(&text))
    }

    /// POSTs a message that must be accepted; its id.
    pub fn send(&self, component: &str, body: &str) -> u64 {
        let (status, answer) = self.post(component, body);
        assert_eq!(status, 202, "{answer}");
        answer["message_id"].as_u64().expect("a message id")
    }

    /// `GET /components/{id}`.
    pub fn component(&self, id: &str) -> Value {
        let (status, text, _) = http_get(&self.api(&format!("/components/{id}"))).expect("GET");
        assert_eq!(status, 200, "{text}");
        json(&text)
    }

    /// Waits until component `id` has processed (successfully or not) `n` messages.
    pub fn wait_handled(&self, id: &str, n: u64) -> Value {
        wait_until(
            &format!("{id} to have handled {n} messages"),
            Duration::from_secs(20),
            || {
                let c = self.component(id);
                let handled = c["processed"].as_u64()? + c["errors"].as_u64()?;
                (handled >= n).then_some(c)
            },
        )
    }

    pub fn metrics(&self) -> String {
        match http_get(&self.pull("/metrics")) {
            Ok((200, body, _)) => body,
            other => panic!("/metrics answered {other:?}"),
        }
    }

    /// The sum of the samples of `name` with `labels` on `/metrics`.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        parse_exposition(&self.metrics()).sum(name, labels)
    }

    /// Waits until `name{labels}` is `value`.
    pub fn wait_metric(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        wait_until(
            &format!("{name}{labels:?} to be {value}"),
            Duration::from_secs(20),
            || (self.metric(name, labels) == Some(value)).then_some(()),
        );
    }

    /// `/health`: its status code and report.
    pub fn health(&self) -> (u16, Value) {
        let (status, text, _) = http_get(&self.pull("/health")).expect("GET /health");
        (status, json(&text))
    }

    /// Sends `sig` and waits for the exit.
    pub fn stop(&mut self, sig: &str) -> std::process::ExitStatus {
        self.proc.signal(sig);
        self.proc
            .wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("no exit within 15 s of SIG{sig}"))
    }
}

#[track_caller]
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A trace id and span id of the test's own, unique to this process and call.
pub fn own_ids() -> (String, String) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let trace = format!("{:016x}{:08x}{:08x}", nanos, std::process::id(), call);
    let span = format!("{:016x}", nanos ^ 0x5eed_0000_0000_0001);
    (trace, span)
}

/// POSTs `body` to component `component` with a W3C `traceparent` of the given ids,
/// sampled or not: the status and the JSON answer.
pub fn post_traced(
    service: &Service,
    component: &str,
    body: &str,
    (trace, span): (&str, &str),
    sampled: bool,
) -> (u16, Value) {
    let flags = if sampled { "01" } else { "00" };
    let url = service.api(&format!("/components/{component}/messages"));
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace}-{span}-{flags}"))
        .body(body.to_string())
        .send()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (status, json(&response.text().expect("a body")))
}

/// The sum of the samples `selector` names in `m`: `name` or `name{label=value,…}` (values
/// unquoted, matched exactly); `None` when there is none.
#[track_caller]
pub fn pick(m: &Exposition, selector: &str) -> Option<f64> {
    let (name, labels) = match selector.split_once('{') {
        Some((name, rest)) => (name, rest.trim_end_matches('}')),
        None => (selector, ""),
    };
    let labels: Vec<(&str, &str)> = labels
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .unwrap_or_else(|| panic!("{pair:?} in {selector:?} is not label=value"))
        })
        .collect();
    m.sum(name, &labels)
}
