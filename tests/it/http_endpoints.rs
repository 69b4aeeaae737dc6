//! The pull endpoint over a real socket: routes, status codes, readiness, health checks and
//! the failure path of /metrics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alys_telemetry::exits::pull::{self, PullState};
use alys_telemetry::health::CheckResult;
use alys_test_support::{http_get, http_request};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

struct Endpoint {
    addr: SocketAddr,
    state: PullState,
    // Dropping the runtime stops the server.
    _runtime: tokio::runtime::Runtime,
}

impl Endpoint {
    fn start() -> Endpoint {
        let (runtime, listener, addr) = crate::server::runtime_and_listener();
        let state = crate::server::empty_state();
        let router = pull::router(state.clone());
        runtime.spawn(pull::serve(listener, router, std::future::pending()));
        Endpoint {
            addr,
            state,
            _runtime: runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let e = Endpoint::start();
    assert_eq!(http_get(&e.url("/nope")).unwrap().0, 404);
    assert_eq!(http_get(&e.url("/metrics/extra")).unwrap().0, 404);
    for path in ["/metrics", "/health", "/ready"] {
        assert_eq!(http_request("POST", &e.url(path)).unwrap().0, 405, "{path}");
        assert_eq!(
            http_request("DELETE", &e.url(path)).unwrap().0,
            405,
            "{path}"
        );
    }
}

#[test]
fn ready_only_between_start_and_shutdown() {
    let e = Endpoint::start();
    let (code, body, _) = http_get(&e.url("/ready")).unwrap();
    assert_eq!((code, body.trim()), (503, "starting"));
    e.state.readiness.set_ready();
    assert_eq!(http_get(&e.url("/ready")).unwrap().0, 200);
    e.state.readiness.set_shutting_down();
    let (code, body, _) = http_get(&e.url("/ready")).unwrap();
    assert_eq!((code, body.trim()), (503, "shutting down"));
}

#[test]
fn health_reports_each_check_and_fails_on_a_failing_check() {
    let e = Endpoint::start();
    let (code, body, _) = http_get(&e.url("/health")).unwrap();
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(json["uptime_seconds"].is_u64());

    e.state
        .health
        .register("sync", Duration::from_millis(200), || async {
            CheckResult::degraded("200 blocks behind")
        });
    let (code, body, _) = http_get(&e.url("/health")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, json["status"].as_str()), (200, Some("degraded")));
    assert_eq!(json["checks"]["sync"]["detail"], "200 blocks behind");

    e.state
        .health
        .register("storage", Duration::from_millis(200), || async {
            CheckResult::unhealthy("database closed")
        });
    let (code, body, _) = http_get(&e.url("/health")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, json["status"].as_str()), (503, Some("unhealthy")));
    assert_eq!(json["checks"]["storage"]["status"], "unhealthy");
    assert_eq!(json["checks"]["sync"]["status"], "degraded");
}

#[test]
fn a_hanging_check_is_unhealthy_and_does_not_delay_the_answer() {
    let e = Endpoint::start();
    e.state
        .health
        .register("governance", Duration::from_millis(300), || async {
            std::future::pending::<CheckResult>().await
        });
    e.state
        .health
        .register("chain", Duration::from_millis(300), || async {
            CheckResult::healthy("ok")
        });
    let started = Instant::now();
    let (code, body, _) = http_get(&e.url("/health")).unwrap();
    let took = started.elapsed();
    assert_eq!(code, 503);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["checks"]["governance"]["status"], "unhealthy");
    assert_eq!(json["checks"]["chain"]["status"], "healthy");
}

#[test]
fn metrics_serve_the_registry_in_text_format() {
    let e = Endpoint::start();
    let counter = prometheus::IntCounter::new("alys_test_events_total", "test events").unwrap();
    counter.inc_by(7);
    e.state.registry.register(Box::new(counter)).unwrap();
    let (code, body, content_type) = http_get(&e.url("/metrics")).unwrap();
    assert_eq!(code, 200);
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
    assert!(body.contains("alys_test_events_total 7"), "{body}");
}

/// A collector whose collection panics, as a buggy callback would.
struct Exploding(Vec<Desc>);

impl Collector for Exploding {
    fn desc(&self) -> Vec<&Desc> {
        self.0.iter().collect()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        panic!("collection exploded")
    }
}

#[test]
fn a_failing_collection_answers_500_and_the_endpoint_survives() {
    let e = Endpoint::start();
    e.state
        .registry
        .register(Box::new(Exploding(Vec::new())))
        .unwrap();
    let (code, body, _) = http_get(&e.url("/metrics")).unwrap();
    assert_eq!(code, 500);
    assert!(body.contains("metrics collection failed"), "{body}");
    // The server still answers.
    assert_eq!(http_get(&e.url("/health")).unwrap().0, 200);
}
