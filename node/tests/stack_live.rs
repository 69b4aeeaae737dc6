//! The stack of docker-compose.yml, run for real: every service but Grafana started from its
//! real program at the pinned version (test-support/src/stack), then checked from the outside
//! as its users see it: traces in Jaeger, the Monitor tab, exemplars, both metric paths,
//! the collector's health and its own metrics, alerts through Alertmanager.
//!
//! The stack starts once for this test binary. Tests that stop or recreate services take it
//! exclusively; the others share it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Webhook;
use support::dashboards::{self, PromQuery};
use support::stack::api::{PrometheusApi, Trace, value};
use support::stack::{self, Stack, WEBHOOK_HOST};

const NODE: &str = "alys-node";
/// The compose stack's demo credentials (deploy/compose/secrets/node-web-config.yml): the
/// scrape user's password is the secret Prometheus reads; the viewer's is in that file's
/// comment and the README.
const SCRAPE_USER: &str = "prometheus";
const VIEWER_USER: &str = "operator";
const VIEWER_PASSWORD: &str = "alys-demo-viewer-password";

fn scrape_password() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/compose/secrets/prometheus-scrape-password"
    );
    std::fs::read_to_string(path)
        .expect("the compose stack's scrape password")
        .trim_end()
        .to_string()
}
const GOVERNANCE_SERVICE: &str = "alys-governance";

fn stack() -> &'static Stack {
    stack::shared(env!("CARGO_BIN_EXE_alys-telemetry"))
}

#[test]
fn every_service_runs_and_the_collector_answers_its_health_check() {
    let stack = stack();
    let _shared = stack.shared_access();
    for service in stack.services() {
        stack.assert_running(&service);
    }
    let health = format!("{}/", stack.url("otel-collector", 13133));
    let (status, body, _) =
        support::http_get(&health).expect("the collector's health endpoint answers");
    assert_eq!(status, 200, "collector health: {body}");
    // Every scrape target of the shipped Prometheus config is up, by its compose name.
    let prom = stack.prometheus_api("prometheus");
    let targets = stack.eventually("every scrape target up", Duration::from_secs(60), || {
        let health = prom.target_health();
        let down: Vec<String> = health
            .iter()
            .filter(|(job, _)| job.as_str() != "node-exporter")
            .flat_map(|(job, states)| {
                states
                    .iter()
                    .filter(|s| !s.starts_with("up"))
                    .map(move |s| format!("{job}: {s}"))
            })
            .collect();
        (down.is_empty() && health.len() > 1).then_some(health)
    });
    for job in [
        "alys-node",
        "alys-governance",
        "otel-collector",
        "otel-collector-exporter",
        "alertmanager",
        "prometheus",
    ] {
        assert!(
            targets.contains_key(job),
            "no scrape target for job {job}: {targets:?}"
        );
    }
}

/// The chain of a block: each hop's span is the child of the one before.
const BLOCK_HOPS: [&str; 4] = [
    "chain.produce_block",
    "engine.execute_block",
    "storage.store_block",
    "network.broadcast_block",
];

fn block_chain_problems(trace: &Trace) -> Vec<String> {
    let mut problems = Vec::new();
    for pair in BLOCK_HOPS.windows(2) {
        let (Some(parent), Some(child)) = (trace.span(pair[0]), trace.span(pair[1])) else {
            problems.push(format!("missing {} or {}", pair[0], pair[1]));
            continue;
        };
        if child.parent.as_deref() != Some(parent.span_id.as_str()) {
            problems.push(format!("{} is not a child of {}", pair[1], pair[0]));
        }
        if child.start_us < parent.start_us {
            problems.push(format!("{} starts before {}", pair[1], pair[0]));
        }
    }
    if trace.services() != BTreeSet::from([NODE]) {
        problems.push(format!("services {:?}", trace.services()));
    }
    problems
}

#[test]
fn a_block_trace_in_jaeger_follows_the_block_through_four_actors() {
    let stack = stack();
    let _shared = stack.shared_access();
    let jaeger = stack.jaeger_api();
    let mut last = String::new();
    let trace = stack.eventually(
        "a whole chain.produce_block trace in Jaeger",
        Duration::from_secs(90),
        || {
            let traces = jaeger
                .traces(NODE, BLOCK_HOPS[0], 20)
                .map_err(|e| last = e)
                .ok()?;
            let found = traces
                .iter()
                .find(|t| block_chain_problems(t).is_empty())
                .cloned();
            if found.is_none() {
                last = traces
                    .iter()
                    .map(|t| format!("{}: {:?}", t.trace_id, block_chain_problems(t)))
                    .collect::<Vec<_>>()
                    .join("; ");
            }
            found
        },
    );
    let root = trace.span(BLOCK_HOPS[0]).expect("the root span");
    assert_eq!(root.parent, None, "chain.produce_block is the root: {last}");
    assert!(
        root.tags.contains_key("block.height"),
        "the root span carries the block height"
    );
}

#[test]
fn a_peg_trace_in_jaeger_crosses_the_governance_stream() {
    let stack = stack();
    let _shared = stack.shared_access();
    let jaeger = stack.jaeger_api();
    let trace = stack.eventually(
        "a bridge.process_peg trace with governance spans",
        Duration::from_secs(120),
        || {
            jaeger
                .traces(NODE, "bridge.process_peg", 20)
                .ok()?
                .into_iter()
                .find(|t| t.services().contains(GOVERNANCE_SERVICE))
        },
    );
    // The governance node's spans hang below the node's: one trace, parented across the hop.
    let remote = trace
        .spans
        .iter()
        .find(|s| s.service == GOVERNANCE_SERVICE)
        .expect("a governance span");
    let mut hop = remote;
    while let Some(parent) = trace.parent_of(hop) {
        hop = parent;
    }
    assert_eq!(
        hop.service, NODE,
        "the governance span's ancestry leads back to the node: {trace:?}"
    );
    assert!(
        trace
            .spans
            .iter()
            .any(|s| s.operation == "bridge.process_peg" && s.service == NODE),
        "{trace:?}"
    );
}

fn monitor_points(json: &Value) -> usize {
    json["metrics"]
        .as_array()
        .map(|metrics| {
            metrics
                .iter()
                .flat_map(|m| m["metricPoints"].as_array().cloned().unwrap_or_default())
                .filter(|p| {
                    let v = &p["gaugeValue"]["doubleValue"];
                    v.as_f64().is_some_and(|v| v.is_finite())
                        || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_monitor_tab_reads_span_metrics_from_prometheus() {
    let stack = stack();
    let _shared = stack.shared_access();
    let jaeger = stack.jaeger_api();
    // The node's spans are internal ones (actor handling), so the Monitor tab is read with
    // span kind "internal" (README "Bring up the stack" says so).
    for kind in ["calls", "latencies", "errors"] {
        let mut last = Value::Null;
        stack.eventually(
            &format!("Monitor tab {kind} for {NODE}"),
            Duration::from_secs(120),
            || {
                let json = jaeger.monitor(kind, NODE, "internal").ok()?;
                let points = monitor_points(&json);
                last = json;
                (points > 0).then_some(())
            },
        );
    }
}

#[test]
fn span_metric_exemplars_lead_to_traces_in_jaeger() {
    let stack = stack();
    let _shared = stack.shared_access();
    let prom = stack.prometheus_api("prometheus");
    let jaeger = stack.jaeger_api();
    let query = r#"traces_span_metrics_duration_milliseconds_bucket{service_name="alys-node"}"#;
    let trace_ids: Vec<String> = stack.eventually(
        "exemplars on the span metrics",
        Duration::from_secs(120),
        || {
            let ids: Vec<String> = prom
                .exemplars(query, 600)
                .ok()?
                .iter()
                .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_string))
                .collect();
            (!ids.is_empty()).then_some(ids)
        },
    );
    // Exemplars are kept for sampled spans, which Jaeger holds (within its retention).
    stack.eventually(
        "Jaeger holding an exemplar's trace",
        Duration::from_secs(60),
        || trace_ids.iter().find_map(|id| jaeger.trace(id)),
    );
}

/// The node's own histograms, scraped as OpenMetrics from its pull endpoint, carry exemplars
/// that Prometheus keeps; each names a trace that Jaeger holds and that the node's viewer
/// shows.
#[test]
fn pull_endpoint_exemplars_lead_to_traces_in_jaeger_and_the_viewer() {
    let stack = stack();
    let _shared = stack.shared_access();
    let prom = stack.prometheus_api("prometheus");
    let jaeger = stack.jaeger_api();
    let viewer = stack.url(NODE, 9001);
    let query = format!(r#"alys_actor_message_latency_seconds_bucket{{job="{NODE}"}}"#);
    let exemplars: Vec<Value> = stack.eventually(
        "exemplars on the node's own histograms",
        Duration::from_secs(120),
        || {
            let found: Vec<Value> = prom
                .exemplars(&query, 600)
                .ok()?
                .iter()
                .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
                .collect();
            (!found.is_empty()).then_some(found)
        },
    );
    for exemplar in &exemplars {
        let labels = &exemplar["labels"];
        let ids = (labels["trace_id"].as_str(), labels["span_id"].as_str());
        assert!(
            matches!(ids, (Some(t), Some(s)) if t.len() == 32 && s.len() == 16),
            "an exemplar without a trace and span id: {exemplar}"
        );
    }
    // The newest first: the viewer keeps the most recent traces within its memory bound.
    let mut trace_ids: Vec<(f64, String)> = exemplars
        .iter()
        .filter_map(|e| {
            Some((
                e["timestamp"].as_f64()?,
                e["labels"]["trace_id"].as_str()?.to_string(),
            ))
        })
        .collect();
    trace_ids.sort_by(|a, b| b.0.total_cmp(&a.0));
    stack.eventually(
        "Jaeger and the node's viewer holding an exemplar's trace",
        Duration::from_secs(60),
        || {
            trace_ids.iter().find_map(|(_, id)| {
                jaeger.trace(id)?;
                let (status, body, _) = support::http_get_as(
                    &format!("{viewer}/api/traces/{id}"),
                    VIEWER_USER,
                    VIEWER_PASSWORD,
                )
                .ok()?;
                (status == 200 && body.contains(id.as_str())).then_some(())
            })
        },
    );
}

/// Labels whose values differ between the two paths by design: `path` names the path, and
/// `instance` is the scrape address on the pull path but the node's service.instance.id on
/// the push path (the collector's exporter labels each node's series with it).
const PATH_LABELS: &[&str] = &["path", "instance"];

/// The node's service.instance.id, which is its `instance` on the push path.
fn node_instance_id(prom: &PrometheusApi) -> Option<String> {
    let info = prom
        .query(&format!(r#"target_info{{path="pull", job="{NODE}"}}"#))
        .ok()?;
    info.first()?["metric"]["service_instance_id"]
        .as_str()
        .map(str::to_string)
}

/// The label-name sets of `selector`'s series, without the path labels.
fn label_sets(prom: &PrometheusApi, selector: &str) -> Option<BTreeSet<BTreeSet<String>>> {
    let result = prom.query(selector).ok()?;
    Some(
        result
            .iter()
            .map(|s| {
                s["metric"]
                    .as_object()
                    .map(|m| {
                        m.keys()
                            .filter(|k| !PATH_LABELS.contains(&k.as_str()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect(),
    )
}

#[test]
fn both_paths_carry_every_catalogue_metric_under_the_same_name_and_labels() {
    let stack = stack();
    let _shared = stack.shared_access();
    let prom = stack.prometheus_api("prometheus");
    // What the node itself serves on /metrics: the catalogue metrics it has recorded.
    let (_, exposition, _) = support::http_get_as(
        &format!("{}/metrics", stack.url(NODE, 9001)),
        SCRAPE_USER,
        &scrape_password(),
    )
    .expect("the node serves /metrics");
    let histograms: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" histogram"))
        .collect();
    let served: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("alys_"))
        .map(str::to_string)
        .collect();
    assert!(
        served.len() > 30,
        "the node serves its catalogue: {served:?}"
    );
    let id = stack.eventually("the node's target_info", Duration::from_secs(60), || {
        node_instance_id(&prom)
    });
    let mut problems = BTreeMap::new();
    stack.eventually(
        "every served metric on both paths",
        Duration::from_secs(90),
        || {
            problems.clear();
            for name in &served {
                let selector = if histograms.contains(name.as_str()) {
                    format!("{name}_count")
                } else {
                    name.clone()
                };
                let pull = label_sets(
                    &prom,
                    &format!(r#"{selector}{{path="pull", job="{NODE}"}}"#),
                );
                let push = label_sets(
                    &prom,
                    &format!(r#"{selector}{{path="push", instance="{id}"}}"#),
                );
                match (pull, push) {
                    (Some(pull), Some(push)) if !pull.is_empty() && pull == push => {}
                    (pull, push) => {
                        problems.insert(name.clone(), format!("pull {pull:?} push {push:?}"));
                    }
                }
            }
            problems.is_empty().then_some(())
        },
    );
    // Values agree: a counter differs only by what happened between the two collections
    // (the node exports every 5 s, Prometheus scrapes the node every 5 s and the collector
    // every 15 s).
    for name in ["alys_actor_messages_total", "alys_uptime_seconds"] {
        let sum = |selector: String| {
            prom.query(&format!("sum({selector})"))
                .ok()
                .and_then(|r| r.first().and_then(value))
                .unwrap_or(f64::NAN)
        };
        let pull = sum(format!(r#"{name}{{path="pull", job="{NODE}"}}"#));
        let push = sum(format!(r#"{name}{{path="push", instance="{id}"}}"#));
        assert!(pull > 0.0 && push > 0.0, "{name}: pull {pull} push {push}");
        assert!(
            (pull - push).abs() <= 0.25 * pull.max(push) + 30.0,
            "{name}: pull {pull} and push {push} disagree"
        );
    }
}

/// Every `otelcol_*` name the dashboards and alert rules use.
fn collector_names_in_use() -> BTreeSet<String> {
    let mut text = String::new();
    for dir in ["dashboards", "alerts/rules"] {
        for entry in std::fs::read_dir(stack::repo().join(dir)).expect("read the stack's folders") {
            text.push_str(
                &std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default(),
            );
        }
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("otelcol_") && !w.ends_with('_'))
        .map(str::to_string)
        .collect()
}

/// The internal metrics the pinned collector release documents (its helpers' generated
/// documentation.md, which scripts/build-stack-programs.py keeps beside the collector):
/// counters that only appear with their first event (a failure, a full queue) are checked
/// against these.
fn documented_collector_metrics(programs: &stack::Programs) -> BTreeSet<String> {
    let kept = programs.documents("otelcol");
    let mut names = BTreeSet::new();
    for document in &programs.pin("otelcol").documents {
        let path = kept.join(&document.module).join(&document.file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        names.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("### "))
                .map(str::to_string),
        );
    }
    assert!(
        names.len() >= 10,
        "the helpers document the collector's internal metrics: {names:?}"
    );
    names
}

#[test]
fn the_collector_s_own_metrics_carry_the_names_dashboards_and_alerts_use() {
    let stack = stack();
    let _shared = stack.shared_access();
    let prom = stack.prometheus_api("prometheus");
    let names = collector_names_in_use();
    assert!(
        names.len() >= 8,
        "dashboards and alerts read the collector's metrics: {names:?}"
    );
    let documented = documented_collector_metrics(&stack.programs);
    let undocumented: Vec<&String> = names.iter().filter(|n| !documented.contains(*n)).collect();
    assert!(
        undocumented.is_empty(),
        "names the collector {} does not export: {undocumented:?}",
        stack.programs.pin("otelcol").release
    );
    // The ones a healthy stack exports: in Prometheus under that very name.
    let healthy: Vec<&String> = names
        .iter()
        .filter(|n| !n.contains("failed") && !n.contains("log_records"))
        .collect();
    let mut missing = Vec::new();
    stack.eventually(
        "the collector's metrics in Prometheus",
        Duration::from_secs(90),
        || {
            missing = healthy
                .iter()
                .filter(|n| {
                    prom.query(&format!(r#"{n}{{job="otel-collector"}}"#))
                        .map(|r| r.is_empty())
                        .unwrap_or(true)
                })
                .cloned()
                .collect();
            missing.is_empty().then_some(())
        },
    );
}

/// A stopped Jaeger: the collector queues what it cannot send, under the names the
/// dashboards and alerts use, and Jaeger, started again, still holds the traces it had
/// (Badger on the jaeger-data volume).
#[test]
fn jaeger_keeps_its_traces_across_a_restart_and_the_collector_counts_the_outage() {
    let stack = stack();
    let mut faults = stack.faults();
    let prom = stack.prometheus_api("prometheus");
    let jaeger = stack.jaeger_api();
    let kept = stack.eventually("a block trace in Jaeger", Duration::from_secs(90), || {
        jaeger
            .traces(NODE, BLOCK_HOPS[0], 1)
            .ok()?
            .into_iter()
            .next()
    });
    // Docker kills what has not stopped 10 s after SIGTERM, before Badger has closed.
    let stopped = faults.stop("jaeger");
    assert!(
        stopped.within_grace(),
        "jaeger stops within compose's grace period ({:?}): {stopped:?}",
        stack::STOP_GRACE
    );
    // The collector keeps the spans in its sending queue and retries (its failure counter
    // moves only once retries run out, after retry_on_failure.max_elapsed_time): the queue
    // is what shows the outage first, under the name the dashboards and alerts use.
    stack.eventually("spans queued for the stopped Jaeger",
        Duration::from_secs(120),
        || {
            prom.query(r#"max(otelcol_exporter_queue_size{job="otel-collector", exporter="otlp_grpc/jaeger"}) > 0"#)
            .ok()
            .filter(|r| !r.is_empty())
        },
    );
    faults.start("jaeger");
    stack.wait_for_condition("jaeger", "service_healthy");
    let again = stack.eventually(
        "the same trace after the restart",
        Duration::from_secs(60),
        || jaeger.trace(&kept.trace_id),
    );
    assert_eq!(
        again.spans.len(),
        kept.spans.len(),
        "the trace is whole after the restart"
    );
}

/// Stopping the collector fires OtelCollectorDown while the pull path keeps alerting: a
/// node fault (SyncFailed, injected as an operator would: ALYS_DEMO_FAULT and
/// `docker compose up -d alys-node`) fires meanwhile through Alertmanager to the webhook
/// that alerts/alertmanager.yml names; undoing both resolves both.
#[test]
fn collector_down_and_a_node_fault_alert_through_alertmanager() {
    let stack = stack();
    let mut faults = stack.faults();
    let prom = stack.prometheus_api("prometheus");
    let alertmanager = stack.alertmanager_api();
    let webhook = Webhook::start_on(std::net::SocketAddr::from((stack.gateway(), 5001)));
    let config =
        std::fs::read_to_string(stack::repo().join("alerts/alertmanager.yml")).expect("read");
    assert!(
        config.contains(&format!("http://{WEBHOOK_HOST}:5001/")),
        "the webhook the harness stands in for"
    );

    let stopped = faults.stop("otel-collector");
    assert!(
        stopped.within_grace(),
        "the collector stops within compose's grace period ({:?}): {stopped:?}",
        stack::STOP_GRACE
    );
    faults.recreate(NODE, &[("ALYS_DEMO_FAULT", "sync-failed")]);
    let fired = stack.eventually(
        "SyncFailed delivered to the webhook",
        Duration::from_secs(120),
        || {
            webhook
                .notifications("SyncFailed", "firing")
                .into_iter()
                .next()
        },
    );
    assert_eq!(fired["receiver"], "alys-critical", "{fired}");
    stack.eventually(
        "OtelCollectorDown firing in Prometheus and active in Alertmanager",
        Duration::from_secs(240),
        || {
            (prom.firing().contains("OtelCollectorDown")
                && alertmanager.active().contains("OtelCollectorDown"))
            .then_some(())
        },
    );

    faults.start("otel-collector");
    faults.recreate(NODE, &[]);
    stack.eventually(
        "SyncFailed resolved at the webhook",
        Duration::from_secs(180),
        || {
            webhook
                .notifications("SyncFailed", "resolved")
                .into_iter()
                .next()
        },
    );
    stack.eventually(
        "OtelCollectorDown resolved",
        Duration::from_secs(120),
        || {
            (!prom.firing().contains("OtelCollectorDown")
                && !alertmanager.active().contains("OtelCollectorDown"))
            .then_some(())
        },
    );
}

/// A result with at least one sample that is a number (NaN is what an empty panel shows).
fn has_data(result: &[Value]) -> bool {
    result.iter().filter_map(value).any(|v| !v.is_nan())
}

/// Every query of every dashboard, the collector's included, returns data from this
/// Prometheus with the path variable at pull and at push; each legend placeholder names a
/// label the returned series carry.
#[test]
fn every_dashboard_query_returns_data_on_both_paths() {
    let stack = stack();
    let _shared = stack.shared_access();
    let prom = stack.prometheus_api("prometheus");
    let queries = dashboards::prometheus_queries(&dashboards::load());
    assert!(
        queries.len() > 100,
        "the dashboards hold their queries: {}",
        queries.len()
    );
    let mut pending: Vec<(String, String, &PromQuery)> = queries
        .iter()
        .flat_map(|q| {
            ["pull", "push"].map(|path| {
                (
                    format!("{} (path={path})", q.name()),
                    dashboards::substitute(&q.expr, path),
                    q,
                )
            })
        })
        .collect();
    let total = pending.len();
    let mut last = BTreeMap::new();
    let mut legend_problems = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|(name, expr, q)| match prom.query(expr) {
            Ok(result) if has_data(&result) => {
                for label in q.legend_labels() {
                    if !result.iter().any(|s| s["metric"].get(label).is_some()) {
                        legend_problems.push(format!("{name}: legend {:?} uses {{{{{label}}}}}, which no returned series has", q.legend));
                    }
                }
                false
            }
            Ok(result) => {
                last.insert(name.clone(), format!("{result:?}"));
                true
            }
            Err(e) => {
                last.insert(name.clone(), e);
                true
            }
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    let missing: Vec<String> = pending
        .iter()
        .map(|(name, expr, _)| {
            format!(
                "{name}: {expr}\n    last: {}",
                last.get(name).map(String::as_str).unwrap_or("")
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {total} dashboard queries returned no data:\n{}",
        missing.len(),
        missing.join("\n")
    );
    assert!(
        legend_problems.is_empty(),
        "legends name labels the series lack:\n{}",
        legend_problems.join("\n")
    );
}
