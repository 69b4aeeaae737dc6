//! The viewer in a real browser (Debian's chromium, headless): the demo's /traces lists
//! chain.produce_block, its trace page draws the four actor hops in order with the critical
//! path marked, /health is a page for a browser, and markup from outside (a resource attribute
//! from the environment, a span attribute) shows as text and runs nothing. Screenshots are
//! kept under target/tmp/viewer/ (trace-waterfall.png is the one docs/viewer.md shows).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::support::browser::{Chromium, eval, screenshot};
use crate::support::node::Demo;
use crate::support::{http_get, wait_until};
use alys_telemetry::exits::pull::{self, PullState, Readiness};
use alys_telemetry::exits::viewer::Viewer;
use alys_telemetry::exits::viewer::history::HealthHistory;
use alys_telemetry::exits::viewer::store::{StoreConfig, TraceStore};
use alys_telemetry::health::HealthRegistry;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

/// Runs `window.owned = …` and changes the title if it ever runs.
const MARKUP: &str =
    "<script>window.owned=1;document.title='owned'</script><img src=x onerror=\"window.owned=2\">";

fn artefact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("viewer")
        .join(name)
}

/// The id of a settled chain.produce_block trace with its four hops.
fn block_trace(demo: &Demo) -> String {
    wait_until("a settled block trace", Duration::from_secs(30), || {
        let (code, body, _) =
            http_get(&demo.url("/api/traces?operation=chain.produce_block&limit=20")).ok()?;
        (code == 200).then_some(())?;
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["resourceSpans"].as_array()?.iter().find_map(|rs| {
            let spans = rs["scopeSpans"][0]["spans"].as_array()?;
            (spans.len() == 4).then(|| spans[0]["traceId"].as_str().map(str::to_string))?
        })
    })
}

/// Asserts that nothing from outside ran or became markup.
fn assert_inert(tab: &headless_chrome::Tab) {
    let state = eval(
        tab,
        "return { owned: typeof window.owned, title: document.title, \
         scripts: document.querySelectorAll('script').length, \
         imgs: document.querySelectorAll('img').length, \
         text: document.body.textContent.includes(\"<script>window.owned=1;document.title='owned'</script>\") };",
    );
    assert_eq!(
        state["owned"], "undefined",
        "a script from outside ran: {state}"
    );
    assert_ne!(state["title"], "owned", "{state}");
    assert_eq!(state["scripts"], 0, "{state}");
    assert_eq!(state["imgs"], 0, "{state}");
    assert_eq!(
        state["text"], true,
        "the markup is not shown as text: {state}"
    );
}

#[test]
fn the_demo_pages_show_the_block_trace_as_a_waterfall_with_its_critical_path() {
    let encoded = "%3Cscript%3Ewindow.owned%3D1%3Bdocument.title%3D%27owned%27%3C%2Fscript%3E%3Cimg%20src%3Dx%20onerror%3D%22window.owned%3D2%22%3E";
    let demo = Demo::start(
        &["--no-push"],
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            &format!("deployment.note={encoded}"),
        )],
    );
    let trace_id = block_trace(&demo);
    let chrome = Chromium::launch();

    let list = chrome.open(&demo.url("/traces"));
    let listed = eval(
        &list,
        "return [...document.querySelectorAll('tr.trace')].map(r => r.dataset.operation);",
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "chain.produce_block"),
        "{listed}"
    );
    let ops = eval(
        &list,
        "return [...document.querySelectorAll('table.operations td:first-child')].map(td => td.innerText);",
    );
    assert!(ops.to_string().contains("chain.produce_block"), "{ops}");
    screenshot(&list, &artefact("traces.png"));

    let page = chrome.open(&demo.url(&format!("/traces/{trace_id}")));
    let rows = eval(
        &page,
        "return [...document.querySelectorAll('.span-row')].map(r => { const bar = r.querySelector('.bar').getBoundingClientRect(); \
         return { name: r.dataset.name, critical: r.dataset.critical === 'true', top: r.getBoundingClientRect().top, \
                  left: bar.left, width: bar.width, marks: r.querySelectorAll('.crit').length, \
                  diamond: getComputedStyle(r.querySelector('.name'), '::after').content }; });",
    );
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "chain.produce_block",
            "engine.execute_block",
            "storage.store_block",
            "network.broadcast_block"
        ],
        "{rows:?}"
    );
    for pair in rows.windows(2) {
        assert!(
            pair[1]["top"].as_f64() > pair[0]["top"].as_f64(),
            "rows out of order: {pair:?}"
        );
        assert!(
            pair[1]["left"].as_f64() >= pair[0]["left"].as_f64(),
            "a hop starts before its sender: {pair:?}"
        );
    }
    for r in rows {
        assert_eq!(r["critical"], true, "{r}");
        assert!(
            r["marks"].as_u64().unwrap() >= 1,
            "no critical segment drawn: {r}"
        );
        assert!(r["diamond"].as_str().unwrap().contains('◆'), "{r}");
        assert!(r["width"].as_f64().unwrap() >= 1.0, "{r}");
    }
    // As the page first shows (details closed): docs/viewer-trace.png is this artefact.
    screenshot(&page, &artefact("trace-waterfall.png"));
    // The resource attribute from the environment is on the page, as text.
    eval(
        &page,
        "document.querySelectorAll('details').forEach(d => d.open = true); return null;",
    );
    assert_inert(&page);
    screenshot(&page, &artefact("trace.png"));

    let health = chrome.open(&demo.url("/health"));
    let checks = eval(
        &health,
        "return [...document.querySelectorAll('tr.check')].map(r => r.dataset.check);",
    );
    assert!(checks.to_string().contains("chain"), "{checks}");
    screenshot(&health, &artefact("health.png"));
}

#[test]
fn a_span_attribute_holding_markup_shows_as_text_and_runs_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = TraceStore::start(StoreConfig::new(4 << 20)).unwrap();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(store.processor())
        .build();
    let tracer = provider.tracer("test");
    let mut span = tracer.start("bridge.process_peg");
    span.set_attribute(KeyValue::new("peer.note", MARKUP));
    span.add_event(MARKUP.to_string(), vec![KeyValue::new("why", MARKUP)]);
    let trace_id = opentelemetry::trace::Span::span_context(&span).trace_id();
    span.end_with_timestamp(SystemTime::now());
    store.settle_now();
    let health = HealthRegistry::new();
    let state = PullState {
        registry: prometheus::Registry::new(),
        health: health.clone(),
        readiness: Readiness::new(),
        viewer: Some(Viewer {
            store: Some(store),
            history: HealthHistory::new(),
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

    let chrome = Chromium::launch();
    let page = chrome.open(&format!("http://{addr}/traces/{trace_id}"));
    eval(
        &page,
        "document.querySelectorAll('details').forEach(d => d.open = true); return null;",
    );
    assert_inert(&page);
    screenshot(&page, &artefact("markup.png"));
    let _ = provider.shutdown();
}
