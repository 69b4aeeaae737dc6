//! The seed's component metrics on `/metrics` under the seed's names and labels, the
//! library's actor metrics under the service's own kinds, a crash the supervisor restarts,
//! counted everywhere it should be, and the service's own driving moving every metric.

use std::time::Duration;

use alys_test_support::exposition::{Exposition, parse_exposition};
use alys_test_support::wait_until;

use crate::support::{Service, pick};

const GOOD: &str = r#"{"payload": "sensor=s1 temperature=21.5"}"#;

#[test]
fn the_seeds_metrics_carry_its_names_and_labels() {
    let service = Service::quiet(&[]);
    for _ in 0..3 {
        service.send("source", GOOD);
    }
    service.send("source", r#"{"payload": "temperature 21.5"}"#);
    service.send("source", r#"{"payload": "sensor=s42 temperature=1"}"#);
    let sink = [("component", "sink")];
    service.wait_metric("component_processing_latency_seconds_count", &sink, 3.0);
    let m = parse_exposition(&service.metrics());
    counters_by_component(&m);
    the_latency_histogram(&m);
    gauges_by_component(&m);
}

/// Three good messages, one the parser cannot read, one the enricher has no sensor for.
fn counters_by_component(m: &Exposition) {
    let processed = ["source", "parser", "enricher", "sink"].map(|c| {
        pick(
            m,
            &format!("component_messages_processed_total{{component={c}}}"),
        )
    });
    assert_eq!(processed, [Some(5.0), Some(4.0), Some(3.0), Some(3.0)]);
    let kind = m.types.get("component_messages_processed_total");
    assert_eq!(kind.map(String::as_str), Some("counter"));
    assert!(
        !m.has("component_messages_processed"),
        "only the _total name is on /metrics"
    );
    let errors = "component_errors_total";
    assert_eq!(
        pick(
            m,
            &format!("{errors}{{component=parser,error_type=invalid_payload}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        pick(
            m,
            &format!("{errors}{{component=enricher,error_type=missing_reference}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        pick(m, &format!("{errors}{{component=sink,error_type=timeout}}")),
        Some(0.0)
    );
    assert_eq!(
        pick(
            m,
            "component_instantiations_total{component=sink,outcome=succeeded}"
        ),
        Some(1.0)
    );
    assert_eq!(pick(m, "component_restarts_total"), Some(0.0));
}

/// The histogram as the seed exports it: buckets by `le` (the seed's 0.001 and 0.01 among
/// them), its sum and count; failed messages took time too.
fn the_latency_histogram(m: &Exposition) {
    let name = "component_processing_latency_seconds";
    assert_eq!(m.types.get(name).map(String::as_str), Some("histogram"));
    for le in ["0.001", "0.01", "+Inf"] {
        let bucket = pick(m, &format!("{name}_bucket{{component=parser,le={le}}}"));
        assert!(bucket.is_some(), "no le={le} bucket");
    }
    assert_eq!(
        pick(m, &format!("{name}_count{{component=parser}}")),
        Some(5.0)
    );
    assert!(pick(m, &format!("{name}_sum{{component=sink}}")).is_some_and(|s| s > 0.0));
    for series in ["_count", "_sum", "_bucket"] {
        let labels = m.label_names(&format!("{name}{series}"));
        assert!(labels.contains("component"), "{series}: {labels:?}");
    }
}

/// Queue depth, health and lifecycle state, observed at the scrape.
fn gauges_by_component(m: &Exposition) {
    let labels = m.label_names("component_queue_depth");
    assert_eq!(labels, ["component".to_string()].into());
    assert_eq!(pick(m, "component_queue_depth{component=sink}"), Some(0.0));
    assert_eq!(
        pick(m, "component_state{component=enricher,state=running}"),
        Some(1.0)
    );
    assert_eq!(
        pick(m, "component_state{component=enricher}"),
        Some(1.0),
        "one state at a time"
    );
    assert_eq!(
        pick(
            m,
            "component_health_status{component=enricher,status=healthy}"
        ),
        Some(1.0)
    );
    assert_eq!(
        pick(m, "component_health_status{component=enricher}"),
        Some(1.0),
        "one status"
    );
}

#[test]
fn the_librarys_actor_metrics_carry_the_services_kinds() {
    let service = Service::quiet(&[]);
    service.send("source", GOOD);
    service.wait_handled("sink", 1);
    let text = service.metrics();
    let m = parse_exposition(&text);
    for (actor, message) in [
        ("source", "ingest"),
        ("parser", "parse"),
        ("enricher", "enrich"),
        ("sink", "deliver"),
    ] {
        let selector = format!(
            "alys_actor_messages_total{{actor_type={actor},message_type={message},outcome=processed}}"
        );
        assert_eq!(pick(&m, &selector), Some(1.0), "{selector}");
    }
    let hop = |from: &str, to: &str, message: &str| {
        let name = "alys_inter_actor_message_latency_seconds_count";
        pick(
            &m,
            &format!("{name}{{from_actor={from},to_actor={to},message_type={message}}}"),
        )
    };
    assert_eq!(hop("api", "source", "ingest"), Some(1.0));
    assert_eq!(hop("source", "parser", "parse"), Some(1.0));
    assert_eq!(hop("enricher", "sink", "deliver"), Some(1.0));
    assert_eq!(
        pick(&m, "alys_actor_total_count"),
        Some(5.0),
        "four components and the API"
    );
    assert!(
        !text.contains("actor_type=\"chain\""),
        "the node's kinds leaked into the service"
    );
}

#[test]
fn a_crash_is_restarted_by_the_supervisor_and_counted() {
    let service = Service::quiet(&[]);
    service.send(
        "source",
        r#"{"payload": "sensor=s1 t=1", "crash_at": "enricher"}"#,
    );
    let restarted = [("component", "enricher"), ("failure_type", "crash")];
    service.wait_metric("component_restarts_total", &restarted, 1.0);
    // The restarted enricher works: the next message reaches the sink.
    service.send("source", GOOD);
    service.wait_handled("sink", 1);

    let m = parse_exposition(&service.metrics());
    assert_eq!(
        pick(
            &m,
            "component_errors_total{component=enricher,error_type=crash}"
        ),
        Some(1.0)
    );
    assert_eq!(
        pick(
            &m,
            "component_instantiations_total{component=enricher,outcome=succeeded}"
        ),
        Some(2.0),
        "the first instance and the restarted one"
    );
    assert_eq!(
        pick(&m, "component_restarts_total"),
        Some(1.0),
        "nothing else restarted"
    );
    assert_eq!(
        pick(
            &m,
            "alys_actor_restarts_total{actor_type=enricher,reason=error}"
        ),
        Some(1.0)
    );
    let tree = "alys_supervision_tree_restarts_total\
                {supervisor=supervisor,child_actor=enricher,restart_reason=error}";
    assert_eq!(pick(&m, tree), Some(1.0));
    let enricher = service.component("enricher");
    assert_eq!(enricher["restarts"], 1, "{enricher}");
    assert_eq!(enricher["last_failure"]["type"], "crash", "{enricher}");
    assert_eq!(enricher["state"], "running", "{enricher}");
}

/// What the service's own driving must move, with chance failures turned up.
const MOVED_BY_THE_DRIVER: &[&str] = &[
    "component_messages_processed_total{component=source}",
    "component_messages_processed_total{component=parser}",
    "component_messages_processed_total{component=enricher}",
    "component_messages_processed_total{component=sink}",
    "component_processing_latency_seconds_count{component=source}",
    "component_processing_latency_seconds_count{component=sink}",
    "component_errors_total{component=parser,error_type=invalid_payload}",
    "component_errors_total{component=enricher,error_type=missing_reference}",
    "component_errors_total{component=sink,error_type=timeout}",
    "component_errors_total{error_type=crash}",
    "component_restarts_total",
    "component_instantiations_total{outcome=failed}",
    "component_instantiation_duration_seconds_count",
    "http_server_request_duration_seconds_count{http_response_status_code=202}",
    "http_server_request_duration_seconds_count{http_response_status_code=400}",
    "http_server_request_duration_seconds_count{http_response_status_code=404}",
    "alys_task_polls_total{task=driver}",
    "alys_actor_messages_total{outcome=failed}",
    "alys_actor_lifecycle_duration_seconds_count{step=recovery}",
];

#[test]
fn the_driver_moves_every_component_metric() {
    let service = Service::start(
        &[
            "--no-push",
            "--rate",
            "40",
            "--crash-rate",
            "0.002",
            "--timeout-rate",
            "0.05",
            "--instantiation-failure-rate",
            "0.5",
        ],
        &[],
    );
    let still_at_zero = || -> Vec<&str> {
        let m = parse_exposition(&service.metrics());
        let moved = |s: &&str| pick(&m, s).is_some_and(|v| v > 0.0);
        MOVED_BY_THE_DRIVER
            .iter()
            .copied()
            .filter(|s| !moved(s))
            .collect()
    };
    let last = std::cell::RefCell::new(Vec::new());
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("every metric to move", Duration::from_secs(60), || {
            *last.borrow_mut() = still_at_zero();
            last.borrow().is_empty().then_some(())
        })
    }));
    assert!(
        waited.is_ok(),
        "after 60 s of driving, still at 0: {:?}",
        last.borrow()
    );
}
