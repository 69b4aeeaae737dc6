//! The viewer's pages and API over a real socket, on the pull endpoint's router: content
//! negotiation on /health, outside values escaped, filters checked, and /api/ answers that an
//! OTLP reader (opentelemetry-proto's serde types) takes.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use alys_telemetry::exits::pull::{self, PullState, Readiness};
use alys_telemetry::exits::viewer::Viewer;
use alys_telemetry::exits::viewer::history::HealthHistory;
use alys_telemetry::exits::viewer::store::{StoreConfig, TraceStore};
use alys_telemetry::health::{CheckResult, HealthRegistry};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, Status, TraceContextExt, TraceId, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

const MARKUP: &str = "<script>document.title='owned'</script><img src=x onerror=alert(1)>";

struct Node {
    addr: SocketAddr,
    block: TraceId,
    failed: TraceId,
    _provider: SdkTracerProvider,
    _runtime: tokio::runtime::Runtime,
}

/// A node's pull endpoint with the viewer, and three traces: a block's four hops (one
/// attribute holding markup), a failed one, and one linked to the block's.
fn start() -> Node {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = TraceStore::start(StoreConfig::new(8 << 20)).unwrap();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(Resource::builder().with_service_name("alys-node").build())
        .with_span_processor(store.processor())
        .build();
    let tracer = provider.tracer("test");
    let t0 = SystemTime::now() - Duration::from_secs(2);
    let (block, block_span) = hops(&tracer, t0, false);
    let (failed, _) = hops(&tracer, t0, true);
    let mut linked = tracer
        .span_builder("sync.import_batch")
        .with_start_time(t0)
        .with_links(vec![Link::with_context(block_span)])
        .start(&tracer);
    linked.end_with_timestamp(t0 + Duration::from_millis(5));
    store.settle_now();

    let health = HealthRegistry::new();
    health.register("chain", Duration::from_millis(100), || async {
        CheckResult::degraded(format!("peer says {MARKUP}"))
    });
    let history = HealthHistory::new();
    runtime.block_on(async { history.record(&health.report().await, SystemTime::now()) });
    let state = PullState {
        registry: prometheus::Registry::new(),
        health: health.clone(),
        readiness: Readiness::new(),
        viewer: Some(Viewer {
            store: Some(store),
            history,
            health,
        }),
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(pull::serve(
        listener,
        pull::router(state),
        std::future::pending(),
    ));
    Node {
        addr,
        block,
        failed,
        _provider: provider,
        _runtime: runtime,
    }
}

fn hops(
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    t0: SystemTime,
    fail: bool,
) -> (TraceId, SpanContext) {
    let ms = Duration::from_millis;
    let mut root = tracer
        .span_builder("chain.produce_block")
        .with_start_time(t0)
        .with_attributes([KeyValue::new("validator", MARKUP)])
        .start(tracer);
    root.add_event("block produced", vec![KeyValue::new("transactions", 42)]);
    let root_cx = root.span_context().clone();
    let mut cx = Context::new().with_remote_span_context(root_cx.clone());
    root.end_with_timestamp(t0 + ms(100));
    for (i, hop) in [
        "engine.execute_block",
        "storage.store_block",
        "network.broadcast_block",
    ]
    .into_iter()
    .enumerate()
    {
        let start = t0 + ms(100 + 30 * i as u64);
        let mut span = tracer
            .span_builder(hop)
            .with_start_time(start)
            .start_with_context(tracer, &cx);
        if fail && i == 1 {
            span.set_status(Status::error("disk full"));
        }
        cx = Context::new().with_remote_span_context(span.span_context().clone());
        span.end_with_timestamp(start + ms(31));
    }
    (root_cx.trace_id(), root_cx)
}

fn get(node: &Node, path: &str, accept: Option<&str>) -> (u16, String, reqwest::header::HeaderMap) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(format!("http://{}{path}", node.addr));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().unwrap(), headers)
}

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// No markup from outside survives as markup: no script element, no onerror attribute.
fn assert_inert(body: &str) {
    let lower = body.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script element in the page");
    assert!(
        !lower.contains("<img"),
        "an img element from outside in the page"
    );
}

#[test]
fn health_answers_json_to_tools_and_a_page_to_browsers() {
    let node = start();
    let (code, body, headers) = get(&node, "/health", None);
    assert_eq!(code, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "degraded");
    let (_, body, _) = get(&node, "/health", Some("application/json"));
    assert!(body.starts_with('{'));

    let (code, page, headers) = get(&node, "/health", Some(BROWSER));
    assert_eq!(code, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(page.contains("status-degraded"));
    assert!(
        page.contains("&lt;script&gt;document.title="),
        "the detail is not shown as text"
    );
    assert_inert(&page);
    // The history has the recorded result.
    assert!(page.contains(r#"<i class="degraded""#), "{page}");
}

#[test]
fn the_trace_list_shows_operations_buckets_and_filters() {
    let node = start();
    let (code, page, _) = get(&node, "/traces", None);
    assert_eq!(code, 200);
    assert!(page.contains("chain.produce_block"));
    assert!(page.contains("sync.import_batch"));
    assert!(page.contains(&node.block.to_string()));
    let (_, failed, _) = get(&node, "/traces?view=failed", None);
    assert!(failed.contains(&node.failed.to_string()));
    assert!(!failed.contains(&format!("/traces/{}", node.block)));
    let (_, slow, _) = get(&node, "/traces?min_duration=1s", None);
    assert!(slow.contains("No kept trace matches"));
    let (code, bad, _) = get(&node, "/traces?min_duration=250", None);
    assert_eq!(code, 400);
    assert!(bad.contains("min_duration"), "{bad}");
    let (_, index, _) = get(&node, "/", None);
    for link in [
        "href=\"/traces\"",
        "href=\"/health\"",
        "href=\"/metrics\"",
        "href=\"/api/\"",
    ] {
        assert!(index.contains(link), "{link}");
    }
}

#[test]
fn a_trace_page_draws_the_hops_in_order_on_the_critical_path_and_escapes_attributes() {
    let node = start();
    let (code, page, _) = get(&node, &format!("/traces/{}", node.block), None);
    assert_eq!(code, 200);
    assert_inert(&page);
    assert!(
        page.contains("&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;")
            || page.contains("&lt;script&gt;document.title='owned'&lt;/script&gt;")
    );
    let rows: Vec<(&str, bool)> = page
        .split("class=\"row span-row")
        .skip(1)
        .map(|row| {
            let name = row
                .split("data-name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (name, row.contains("data-critical=\"true\""))
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("chain.produce_block", true),
            ("engine.execute_block", true),
            ("storage.store_block", true),
            ("network.broadcast_block", true),
        ]
    );
    assert!(page.contains("block produced"), "the event is shown");
    assert_eq!(get(&node, "/traces/nothex", None).0, 400);
    assert_eq!(
        get(&node, &format!("/traces/{}", TraceId::from(7)), None).0,
        404
    );
}

#[test]
fn the_api_serves_otlp_json_that_an_otlp_reader_takes() {
    let node = start();
    let (code, body, _) = get(&node, "/api/traces?limit=10", None);
    assert_eq!(code, 200);
    let data: TracesData = serde_json::from_str(&body).expect("OTLP JSON TracesData");
    let spans: Vec<_> = data
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.iter()))
        .collect();
    assert_eq!(spans.len(), 9);
    // Ids in hex and times as strings, as the OTLP JSON mapping writes them.
    let raw: serde_json::Value = serde_json::from_str(&body).unwrap();
    let first = &raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(first["traceId"].as_str().unwrap().len(), 32);
    assert!(first["startTimeUnixNano"].is_string());
    let service = &raw["resourceSpans"][0]["resource"]["attributes"];
    assert!(service.to_string().contains("alys-node"));

    let (_, one, _) = get(&node, &format!("/api/traces/{}", node.block), None);
    let one: TracesData = serde_json::from_str(&one).unwrap();
    let root = one.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .unwrap();
    assert_eq!(root.name, "chain.produce_block");
    // JSON carries the value as it is; only HTML escapes it.
    assert!(format!("{:?}", root.attributes).contains(MARKUP));

    let (code, body, _) = get(&node, "/api/traces?view=sideways", None);
    assert_eq!(code, 400);
    assert!(body.contains("view"));
    assert_eq!(
        get(&node, &format!("/api/traces/{}", TraceId::from(7)), None).0,
        404
    );
    let (_, ops, _) = get(&node, "/api/operations", None);
    let ops: serde_json::Value = serde_json::from_str(&ops).unwrap();
    let produce = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["spanname"] == "chain.produce_block")
        .unwrap();
    assert_eq!(produce["latency"].as_array().unwrap().len(), 9);
    assert_eq!(produce["error"], 1);
    let (_, health, _) = get(&node, "/api/health", None);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["history"]["chain"][0]["status"], "degraded");
}
