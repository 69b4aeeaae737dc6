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

mod exemplars {
    use super::*;
    use alys_telemetry::sources::catalog::MetricFamily;
    use alys_telemetry::sources::catalog::instruments::HistogramVec;
    use alys_telemetry::sources::catalog::labels::ActorType;
    use alys_test_support::http_get_accepting;
    use alys_test_support::span_context;
    use opentelemetry::Context;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    /// A family of this test's own: the process's exemplars are kept by series, and no other
    /// test records into this one.
    #[derive(MetricFamily)]
    #[family(title = "exemplar test")]
    struct ExemplarTestMetrics {
        /// Time a test step took
        #[metric(
            name = "alys_exemplar_test_step_seconds",
            unit = "s",
            labels(actor_type),
            buckets = [0.01, 0.1, 1.0],
            why = "the exemplar test records into it"
        )]
        step: HistogramVec<ActorType>,
    }

    /// What Prometheus 3 sends when it scrapes.
    const PROMETHEUS_3_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[test]
    fn openmetrics_carries_the_sampled_records_exemplars_and_text_stays_as_it_was() {
        let e = Endpoint::start();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(e.state.registry.clone())
            .scope_info_enabled(false)
            .build()
            .unwrap();
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        let metrics = ExemplarTestMetrics::new(&provider.meter("test"));
        // Recorded in a sampled trace (the current context), in an unsampled one, and for a
        // span given explicitly.
        let sampled = span_context(0xabc, 0x11, true);
        let unsampled = span_context(0xdef, 0x22, false);
        {
            let _in = Context::new().with_remote_span_context(sampled).attach();
            metrics.step.record(ActorType::Chain, 0.05);
        }
        {
            let _in = Context::new().with_remote_span_context(unsampled).attach();
            metrics.step.record(ActorType::Chain, 0.5);
        }
        let given = span_context(0x123, 0x33, true);
        metrics.step.record_in(ActorType::Engine, 5.0, &given);

        let (code, body, content_type) =
            http_get_accepting(&e.url("/metrics"), PROMETHEUS_3_ACCEPT).unwrap();
        assert_eq!(code, 200);
        assert_eq!(
            content_type.as_deref(),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        let bucket = |labels: &str| {
            body.lines()
                .find(|l| {
                    l.starts_with(&format!("alys_exemplar_test_step_seconds_bucket{{{labels}"))
                })
                .unwrap_or_else(|| panic!("no bucket {labels} in {body}"))
                .to_string()
        };
        let chain_01 = bucket(r#"actor_type="chain",le="0.1"}"#);
        assert!(
            chain_01.contains(&format!(
                r#"# {{trace_id="{}",span_id="{}"}} 0.05 "#,
                TraceId::from(0xabc),
                SpanId::from(0x11)
            )),
            "{chain_01}"
        );
        let chain_1 = bucket(r#"actor_type="chain",le="1"}"#);
        assert!(
            !chain_1.contains('#'),
            "an unsampled record keeps no exemplar: {chain_1}"
        );
        let engine_inf = bucket(r#"actor_type="engine",le="+Inf"}"#);
        assert!(
            engine_inf.contains(&format!(r#"trace_id="{}""#, TraceId::from(0x123))),
            "{engine_inf}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");

        // Anyone else gets the text format, without exemplars, as before.
        for accept in [None, Some("*/*"), Some("text/plain")] {
            let (code, text, content_type) = match accept {
                Some(a) => http_get_accepting(&e.url("/metrics"), a).unwrap(),
                None => http_get(&e.url("/metrics")).unwrap(),
            };
            assert_eq!(code, 200);
            assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
            assert!(
                !text.contains("trace_id") && !text.contains("# EOF"),
                "{text}"
            );
            assert!(
                text.contains(
                    r#"alys_exemplar_test_step_seconds_bucket{actor_type="chain",le="0.1"} 1"#
                ),
                "{text}"
            );
        }
    }

    /// Grafana opens an exemplar's trace in Jaeger by the label named in the Prometheus
    /// datasource's `exemplarTraceIdDestinations`: it must be the one the endpoint writes.
    #[test]
    fn grafanas_datasource_opens_exemplars_by_the_label_the_endpoint_writes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/dashboards/provisioning/datasources.yml"
        );
        let yaml = std::fs::read_to_string(path).unwrap();
        let destinations: Vec<&str> = yaml
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("exemplarTraceIdDestinations:"))
            .skip(1)
            .take_while(|l| l.trim_start().starts_with('-') || l.starts_with("          "))
            .filter_map(|l| {
                l.trim_start()
                    .trim_start_matches("- ")
                    .strip_prefix("name:")
            })
            .map(str::trim)
            .collect();
        assert_eq!(
            destinations,
            [alys_telemetry::exits::openmetrics::TRACE_ID_LABEL],
            "{path}"
        );
    }
}
