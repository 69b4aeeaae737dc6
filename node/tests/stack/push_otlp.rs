//! The push exit against a real OTLP receiver (the OpenTelemetry Collector at the release the
//! stack pins): traces with correct parentage,
//! metrics and logs arrive over gRPC and over HTTP/protobuf, with the resource set.

use std::time::Duration;

use crate::support::node::Demo;
use crate::support::{OtlpCollector, ReceivedSpan, http_get, wait_until};

const FAST_EXPORT: &[(&str, &str)] = &[
    ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
];

/// The demo pushing over gRPC to `collector` with fast exports, plus `args`.
fn demo_pushing_to(collector: &OtlpCollector, args: &[&str]) -> Demo {
    let endpoint = collector.grpc_endpoint();
    let mut all = vec!["--otlp-endpoint", endpoint.as_str()];
    all.extend_from_slice(args);
    Demo::start(&all, FAST_EXPORT)
}

/// Waits until a span named `root` has a chain of descendants named `chain`, each the child
/// of the one before in the same trace, and returns the whole chain.
fn span_chain(
    collector: &OtlpCollector,
    what: &str,
    root: &str,
    chain: &[&str],
) -> Vec<ReceivedSpan> {
    wait_until(what, Duration::from_secs(30), || {
        let spans = collector.spans();
        let child_of = |name: &str, parent: &ReceivedSpan| {
            spans
                .iter()
                .find(|s| {
                    s.name == name && s.parent_id == parent.span_id && s.trace_id == parent.trace_id
                })
                .cloned()
        };
        spans.iter().filter(|s| s.name == root).find_map(|first| {
            let mut found = vec![first.clone()];
            for name in chain {
                let next = child_of(name, found.last()?)?;
                found.push(next);
            }
            Some(found)
        })
    })
}

/// One block's trace: chain → engine → storage → network.
fn block_trace(collector: &OtlpCollector) -> Vec<ReceivedSpan> {
    let trace = span_chain(
        collector,
        "a whole block trace at the receiver",
        "chain.produce_block",
        &[
            "engine.execute_block",
            "storage.store_block",
            "network.broadcast_block",
        ],
    );
    assert!(
        trace[0].parent_id.is_empty(),
        "a block starts its own trace"
    );
    trace
}

fn assert_pipeline_arrives(collector: &OtlpCollector, service: &str) {
    let trace = block_trace(collector);
    assert_eq!(trace.len(), 4);
    let engine = &trace[1];
    let attr = |k: &str| {
        engine
            .attributes
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attr("from_actor").as_deref(), Some("chain"));
    assert_eq!(attr("to_actor").as_deref(), Some("engine"));

    let names = wait_until(
        "the node's metrics at the receiver",
        Duration::from_secs(30),
        || {
            let names = collector.metric_names();
            [
                "alys_actor_messages",
                "alys_block_production_duration",
                "alys_sync_current_height",
            ]
            .iter()
            .all(|n| names.contains(*n))
            .then_some(names)
        },
    );
    assert!(
        names.contains("alys_telemetry_export_attempts"),
        "{names:?}"
    );

    let resource = collector.resource_attributes();
    let get = |k: &str| {
        resource
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("service.name"), Some(service));
    assert!(get("service.instance.id").is_some());
    assert!(get("service.version").is_some());
    assert!(get("deployment.environment.name").is_some());

    wait_until(
        "the node's logs at the receiver",
        Duration::from_secs(30),
        || {
            collector
                .logs()
                .iter()
                .any(|l| l.body == "block produced")
                .then_some(())
        },
    );
}

#[test]
fn grpc_push_delivers_traces_metrics_and_logs() {
    let collector = OtlpCollector::start();
    let mut demo = demo_pushing_to(
        &collector,
        &[
            "--service-name",
            "alys-node-grpc",
            "--block-interval",
            "300ms",
        ],
    );
    assert_pipeline_arrives(&collector, "alys-node-grpc");
    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn http_protobuf_push_delivers_traces_metrics_and_logs() {
    let collector = OtlpCollector::start();
    let mut env = FAST_EXPORT.to_vec();
    let endpoint = collector.http_endpoint();
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint));
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"));
    env.push(("OTEL_SERVICE_NAME", "alys-node-http"));
    let mut demo = Demo::start(&["--block-interval", "300ms"], &env);
    assert_pipeline_arrives(&collector, "alys-node-http");
    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn push_only_serves_no_endpoint_and_still_exports() {
    let collector = OtlpCollector::start();
    let mut demo = demo_pushing_to(&collector, &["--no-pull", "--block-interval", "300ms"]);
    block_trace(&collector);
    assert!(
        http_get(&demo.url("/ready")).is_err(),
        "nothing should listen"
    );
    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn sdk_disabled_exports_nothing_and_keeps_serving() {
    let collector = OtlpCollector::start();
    let mut env = FAST_EXPORT.to_vec();
    env.push(("OTEL_SDK_DISABLED", "true"));
    let mut demo = Demo::start(
        &[
            "--otlp-endpoint",
            &collector.grpc_endpoint(),
            "--block-interval",
            "100ms",
            "--duration",
            "3s",
        ],
        &env,
    );
    assert_eq!(http_get(&demo.url("/health")).unwrap().0, 200);
    assert!(!demo.metrics().contains("alys_actor_messages_total"));
    // The process exits by itself after its duration, having flushed whatever it had.
    let status = demo.proc.wait_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()));
    assert!(collector.spans().is_empty(), "{:?}", collector.received());
    assert!(
        collector.metric_names().is_empty(),
        "{:?}",
        collector.received()
    );
}

/// The OTLP → Prometheus name translation as the collector's Prometheus exporter (and
/// Prometheus's own OTLP receiver) applies it: unit suffix unless present, `_total` for
/// monotonic sums unless present.
fn prometheus_name(otlp_name: &str, unit: &str, data_type: &str) -> String {
    let mut name = otlp_name.replace(['.', '-'], "_");
    let suffix = match unit {
        "s" => Some("_seconds"),
        "By" => Some("_bytes"),
        "%" => Some("_percent"),
        _ => None,
    };
    if let Some(suffix) = suffix.filter(|s| !name.ends_with(s)) {
        name.push_str(suffix);
    }
    if data_type == "Sum" && !name.ends_with("_total") {
        name.push_str("_total");
    }
    name
}

#[test]
fn names_pushed_over_otlp_translate_to_the_catalogue_names() {
    let collector = OtlpCollector::start();
    let mut demo = demo_pushing_to(&collector, &["--block-interval", "200ms"]);
    let wanted = [
        "alys_block_production_duration_seconds",
        "alys_txpool_rejections_total",
        "alys_disk_io_bytes_total",
        "alys_migration_progress_percent",
        "alys_sync_current_height",
    ];
    let metrics = wait_until(
        "the node's metrics over OTLP",
        Duration::from_secs(30),
        || {
            let metrics = collector.received().metrics;
            wanted
                .iter()
                .all(|w| {
                    metrics
                        .iter()
                        .any(|m| prometheus_name(&m.name, &m.unit, &m.data_type) == *w)
                })
                .then_some(metrics)
        },
    );
    // Every catalogue metric that arrived translates to exactly its catalogue name.
    let mut checked = 0;
    for m in &metrics {
        if let Some(def) =
            alys_telemetry::sources::catalog::all().find(|d| d.instrument_name() == m.name)
        {
            assert_eq!(
                prometheus_name(&m.name, &m.unit, &m.data_type),
                def.name,
                "{m:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= wanted.len());
    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn the_governance_round_trip_is_one_trace_at_the_receiver() {
    let collector = OtlpCollector::start();
    let mut demo = demo_pushing_to(&collector, &["--block-interval", "200ms"]);
    // bridge handling → the node's request → the governance node → the node's handling of
    // the response, all in the bridge's trace.
    let chain = span_chain(
        &collector,
        "a governance round trip at the receiver",
        "bridge.process_peg",
        &[
            "stream.signature_request",
            "governance_node.signature_request",
            "stream.handle_signature_response",
        ],
    );
    assert_eq!(chain.len(), 4);
    demo.stop("TERM", Duration::from_secs(10));
}
