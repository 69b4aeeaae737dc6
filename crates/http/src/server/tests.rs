//! The layer on an axum router, called in process: what it measures, under which labels,
//! and the span it opens. These tests own the process's propagator and subscriber globals:
//! they are this crate's only unit-test binary that sets them.

use std::sync::{Mutex, OnceLock};

use alys_test_support::exposition::parse_exposition;
use alys_test_support::metrics::Registry;
use alys_test_support::sample_sum;
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

use super::HttpServerLayer;

fn app(registry: &Registry) -> Router {
    Router::new()
        .route(
            "/events",
            post(|body: String| async move { format!("stored {}", body.len()) }),
        )
        .route(
            "/events/{id}",
            get(|| async { tracing::info_span!("handler.work").in_scope(|| "an event") }),
        )
        .route("/broken", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .layer(HttpServerLayer::new(&registry.meter()))
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

const DURATION: &str = "http_server_request_duration_seconds_count";

#[test]
fn requests_are_measured_by_method_route_and_status() {
    let _one = one_at_a_time();
    block_on(requests_are_measured());
}

async fn requests_are_measured() {
    let registry = Registry::new();
    let app = app(&registry);
    let post = Request::post("/events")
        .body(Body::from("{\"a\":1}"))
        .expect("request");
    let (status, body) = send(&app, post).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "stored 7"));
    for _ in 0..3 {
        assert_eq!(
            send(&app, get_request("/events/42")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        send(&app, get_request("/broken")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let text = registry.text();
    let labels = |method, route, status| {
        vec![
            ("http_request_method", method),
            ("http_route", route),
            ("http_response_status_code", status),
            ("url_scheme", "http"),
            ("network_protocol_version", "1.1"),
        ]
    };
    assert_eq!(
        sample_sum(&text, DURATION, &labels("GET", "/events/{id}", "200")),
        Some(3.0),
        "{text}"
    );
    let posted = labels("POST", "/events", "200");
    assert_eq!(sample_sum(&text, DURATION, &posted), Some(1.0));
    let request_bytes = "http_server_request_body_size_bytes_sum";
    assert_eq!(sample_sum(&text, request_bytes, &posted), Some(7.0));
    let response_bytes = "http_server_response_body_size_bytes_sum";
    assert_eq!(sample_sum(&text, response_bytes, &posted), Some(8.0));
    // A server error carries error.type, its status code as the conventions say.
    let mut failed = labels("GET", "/broken", "503");
    failed.push(("error_type", "503"));
    assert_eq!(sample_sum(&text, DURATION, &failed), Some(1.0), "{text}");
    // Every request has ended: none is in flight.
    let active = [("http_request_method", "GET"), ("url_scheme", "http")];
    assert_eq!(
        sample_sum(&text, "http_server_active_requests", &active),
        Some(0.0)
    );
}

#[test]
fn ten_thousand_unknown_paths_make_one_series_not_ten_thousand() {
    let _one = one_at_a_time();
    block_on(unknown_paths());
}

async fn unknown_paths() {
    let registry = Registry::new();
    let app = app(&registry);
    for i in 0..10_000 {
        let path = format!("/events/{i}/no/such/route/{}", i * 7);
        assert_eq!(
            send(&app, get_request(&path)).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // An invented method is _OTHER, not a new label value.
    let odd = Request::builder()
        .method("FROBNICATE")
        .uri("/events/1")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, odd).await.0, StatusCode::METHOD_NOT_ALLOWED);

    let text = registry.text();
    let exposition = parse_exposition(&text);
    let series: Vec<_> = exposition.matching(DURATION, &[]).collect();
    assert_eq!(
        series.len(),
        2,
        "one series per method and status: {series:?}"
    );
    let unmatched = [
        ("http_request_method", "GET"),
        ("http_response_status_code", "404"),
    ];
    assert_eq!(sample_sum(&text, DURATION, &unmatched), Some(10_000.0));
    assert!(
        !exposition.label_names(DURATION).is_empty() && !text.contains("no/such/route"),
        "a raw path reached a label"
    );
    let other = [
        ("http_request_method", "_OTHER"),
        ("http_route", "/events/{id}"),
        ("http_response_status_code", "405"),
    ];
    assert_eq!(sample_sum(&text, DURATION, &other), Some(1.0), "{text}");
}

/// The process's propagator is W3C trace context, once for the binary.
fn w3c_propagator() {
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        )
    });
}

/// The tests run one at a time: `tracing` caches whether a span's callsite is of interest
/// when the callsite is first hit, and a test hitting it on another thread while the trace
/// test installs its subscriber can leave it cached as of no interest.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn a_request_with_a_traceparent_continues_the_callers_trace_in_a_server_span() {
    let _one = one_at_a_time();
    w3c_propagator();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let registry = Registry::new();
    tracing::subscriber::with_default(subscriber, || {
        block_on(async {
            let app = app(&registry);
            let request = Request::get("/events/7")
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(Body::empty())
                .expect("request");
            assert_eq!(send(&app, request).await.0, StatusCode::OK);
        })
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(server.name, "GET /events/{id}");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    let attribute = |key: &str| {
        server
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attribute("http.route").as_deref(), Some("/events/{id}"));
    assert_eq!(
        attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attribute("url.path").as_deref(), Some("/events/7"));
    let work = spans
        .iter()
        .find(|s| s.name == "handler.work")
        .expect("the handler's span");
    assert_eq!(work.parent_span_id, server.span_context.span_id());
}
