//! The layers' optional spans: the server's continues the caller's W3C context, the
//! client's goes out in the request's headers, and both carry how the call ended.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, Request};
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer, ServiceExt, service_fn};
use tracing_subscriber::layer::SubscriberExt;

use super::tests::{STREAM, request, response};
use super::{RpcClientLayer, RpcServerLayer};
use alys_test_support::metrics::Registry;

/// The request headers the inner service saw.
type Seen = Arc<Mutex<Option<HeaderMap>>>;

#[test]
fn with_spans_the_server_continues_the_callers_trace_and_the_client_sends_its_own() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let registry = Registry::new();
    let seen: Seen = Arc::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let server = RpcServerLayer::new(&registry.meter()).with_spans();
            let mut traced = request(&format!("/{STREAM}"), "application/grpc");
            traced.headers_mut().insert(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                    .parse()
                    .expect("value"),
            );
            let answered = server
                .layer(service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(response(200, Some("14"), vec![]))
                }))
                .oneshot(traced)
                .await;
            drop(answered);
            // A method the server does not have.
            let answered = server
                .layer(service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(response(200, Some("12"), vec![]))
                }))
                .oneshot(request("/pkg.Svc/Invented", "application/grpc"))
                .await;
            drop(answered);
            let client = RpcClientLayer::new(&registry.meter()).with_spans();
            let inner_seen = Arc::clone(&seen);
            let inner = service_fn(move |request: Request<()>| {
                *inner_seen.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(request.headers().clone());
                async { Ok::<_, Infallible>(response(200, Some("0"), vec![])) }
            });
            let answered = client
                .layer(inner)
                .oneshot(request("/pkg.Svc/Get", "application/grpc"))
                .await;
            drop(answered);
        })
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let attribute = |span: &SpanData, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    let unknown = spans
        .iter()
        .find(|s| s.name == "pkg.Svc/Invented")
        .unwrap_or_else(|| panic!("no span of the unknown method in {spans:#?}"));
    assert_eq!(attribute(unknown, "rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(
        attribute(unknown, "rpc.method_original").as_deref(),
        Some("pkg.Svc/Invented")
    );
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server && s.name == STREAM)
        .expect("server span");
    assert_eq!(server.name, STREAM);
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(attribute(server, "rpc.method").as_deref(), Some(STREAM));
    assert_eq!(
        attribute(server, "rpc.response.status_code").as_deref(),
        Some("UNAVAILABLE")
    );
    assert_eq!(
        attribute(server, "error.type").as_deref(),
        Some("UNAVAILABLE")
    );
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("client span");
    assert_eq!(client.name, "pkg.Svc/Get");
    assert_eq!(
        attribute(client, "rpc.response.status_code").as_deref(),
        Some("OK")
    );
    let headers = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .expect("a call");
    let traceparent = headers.get("traceparent").expect("traceparent sent");
    let expected = format!(
        "00-{}-{}-01",
        client.span_context.trace_id(),
        client.span_context.span_id()
    );
    assert_eq!(traceparent.to_str().ok(), Some(expected.as_str()));
}
