//! Past one machine, run for real: deploy/compose/docker-compose.yml (three nodes and a
//! governance node → two agents → two gateways → Jaeger; an edge Prometheus remote-writing to
//! a central one) started as compose would (test-support/src/stack), then checked from the
//! outside: whole traces although their spans enter through different agents, tail sampling
//! that keeps every error, slow and governance trace and a ratio of the rest, a gateway killed
//! mid-run, an agent killed mid-run (its queue on disk), remote write, and an alert evaluated
//! at the edge.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::otlp_send::{TestSpan, send_spans};
use support::stack::api::{JaegerApi, PrometheusApi, Trace, value};
use support::stack::{self, Stack};
use support::{Exposition, http_get};

const COMPOSE: &str = "deploy/compose/docker-compose.yml";
const LOADGEN: &str = "alys-loadgen";
const GOVERNANCE: &str = "alys-governance";
/// gateway.yaml's defaults, which the compose file passes on.
const BASELINE_PERCENT: f64 = 10.0;
const SLOW_BLOCK: Duration = Duration::from_secs(3);

fn stack() -> &'static Stack {
    stack::shared_from(Path::new(COMPOSE), env!("CARGO_BIN_EXE_alys-telemetry"))
}

fn agent(stack: &Stack, n: u8) -> String {
    stack.url(&format!("otel-agent-{n}"), 4317)
}

/// Why a test trace was made, and so what the gateways must do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A span with status ERROR: always kept.
    Error,
    /// chain.produce_block over the threshold: always kept.
    SlowBlock,
    /// A span of the governance node: always kept.
    Governance,
    /// chain.produce_block under the threshold: kept at the baseline ratio.
    FastBlock,
    /// Anything else: kept at the baseline ratio.
    Normal,
}

/// A two-span trace of `kind`; the root goes through one agent, the child through the other.
fn trace_of(kind: Kind) -> (TestSpan, TestSpan) {
    let root = match kind {
        Kind::Error => {
            TestSpan::root(LOADGEN, "loadgen.failing", Duration::from_millis(20)).failed()
        }
        Kind::SlowBlock => TestSpan::root(LOADGEN, "chain.produce_block", SLOW_BLOCK),
        Kind::FastBlock => {
            TestSpan::root(LOADGEN, "chain.produce_block", Duration::from_millis(50))
        }
        Kind::Governance => {
            TestSpan::root(LOADGEN, "bridge.process_peg", Duration::from_millis(80))
        }
        Kind::Normal => TestSpan::root(LOADGEN, "loadgen.normal", Duration::from_millis(10)),
    };
    let child = match kind {
        Kind::Governance => root.child(GOVERNANCE, "governance_node.signature_request"),
        _ => root.child(LOADGEN, "loadgen.step"),
    };
    (root, child)
}

/// Sends `count` traces of each kind, roots through agent 1 and children through agent 2
/// (and the other way round for every second trace).
fn send_traces(stack: &Stack, counts: &[(Kind, usize)]) -> Vec<(Kind, TestSpan, TestSpan)> {
    let mut traces = Vec::new();
    for &(kind, count) in counts {
        for _ in 0..count {
            let (root, child) = trace_of(kind);
            traces.push((kind, root, child));
        }
    }
    let (mut via_1, mut via_2) = (Vec::new(), Vec::new());
    for (i, (_, root, child)) in traces.iter().enumerate() {
        let (a, b) = if i % 2 == 0 {
            (&mut via_1, &mut via_2)
        } else {
            (&mut via_2, &mut via_1)
        };
        a.push(root.clone());
        b.push(child.clone());
    }
    for chunk in via_1.chunks(200) {
        send_spans(&agent(stack, 1), chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    for chunk in via_2.chunks(200) {
        send_spans(&agent(stack, 2), chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    traces
}

/// Whether Jaeger holds the trace whole: both spans, the child under the root.
fn whole_in_jaeger(jaeger: &JaegerApi, root: &TestSpan, child: &TestSpan) -> Option<bool> {
    let trace = jaeger.trace(&root.trace_hex())?;
    let hex = |id: &[u8]| id.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let found_child = trace
        .spans
        .iter()
        .find(|s| s.span_id == hex(&child.span_id));
    let found_root = trace.spans.iter().any(|s| s.span_id == hex(&root.span_id));
    Some(
        found_root && found_child.is_some_and(|c| c.parent.as_deref() == Some(&hex(&root.span_id))),
    )
}

/// Every span's parent is in the trace (roots aside): the trace is whole.
fn orphans(trace: &Trace) -> Vec<String> {
    trace
        .spans
        .iter()
        .filter(|s| {
            s.parent
                .as_ref()
                .is_some_and(|p| !trace.spans.iter().any(|o| &o.span_id == p))
        })
        .map(|s| format!("{} ({})", s.operation, s.service))
        .collect()
}

#[test]
fn tail_sampling_keeps_errors_slow_and_governance_traces_whole_and_a_ratio_of_the_rest() {
    let stack = stack();
    let _shared = stack.shared_access();
    let jaeger = stack.jaeger_api();
    let sent = send_traces(
        stack,
        &[
            (Kind::Error, 30),
            (Kind::SlowBlock, 30),
            (Kind::Governance, 30),
            (Kind::FastBlock, 150),
            (Kind::Normal, 450),
        ],
    );
    let must_keep: Vec<&(Kind, TestSpan, TestSpan)> = sent
        .iter()
        .filter(|(k, _, _)| *k < Kind::FastBlock)
        .collect();
    // The gateways decide 10 s after a trace's first span; then Jaeger has every kept trace.
    let mut missing = Vec::new();
    stack.eventually(
        "every error, slow and governance trace whole in Jaeger",
        Duration::from_secs(120),
        || {
            missing = must_keep
                .iter()
                .filter(|(_, root, child)| whole_in_jaeger(&jaeger, root, child) != Some(true))
                .map(|(kind, root, _)| format!("{kind:?} {}", root.trace_hex()))
                .collect();
            missing.is_empty().then_some(())
        },
    );
    // The rest: kept at the baseline ratio, and whole when kept.
    let mut kept: BTreeMap<Kind, (usize, usize)> = BTreeMap::new();
    for (kind, root, child) in sent.iter().filter(|(k, _, _)| *k >= Kind::FastBlock) {
        let entry = kept.entry(*kind).or_default();
        entry.1 += 1;
        match whole_in_jaeger(&jaeger, root, child) {
            Some(true) => entry.0 += 1,
            Some(false) => panic!("{kind:?} trace {} kept but not whole", root.trace_hex()),
            None => {}
        }
    }
    for (kind, (kept, total)) in kept {
        // Binomial: within four standard deviations of the baseline ratio.
        let p = BASELINE_PERCENT / 100.0;
        let mean = total as f64 * p;
        let sd = (total as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (kept as f64 - mean).abs() <= 4.0 * sd + 1.0,
            "{kind:?}: {kept} of {total} kept, expected about {mean:.0} ({BASELINE_PERCENT} %)"
        );
    }
}

#[test]
fn the_nodes_traces_in_jaeger_are_whole_across_agents_and_services() {
    let stack = stack();
    let _shared = stack.shared_access();
    let jaeger = stack.jaeger_api();
    // The demo's governance round trips: the node's spans enter through one agent (nodes 1
    // and 2 use agent 1), the governance node's through the other.
    let peg = stack.eventually(
        "a peg trace that crossed to the governance node",
        Duration::from_secs(180),
        || {
            jaeger
                .traces("alys-node", "bridge.process_peg", 50)
                .ok()?
                .into_iter()
                .find(|t| t.services().contains(GOVERNANCE) && orphans(t).is_empty())
        },
    );
    assert!(peg.spans.len() >= 4, "{peg:?}");
    // Every trace Jaeger holds of the nodes, once the gateways have decided on it, is whole.
    let traces = jaeger
        .traces("alys-node", "chain.produce_block", 100)
        .expect("Jaeger answers");
    let settled: Vec<&Trace> = traces
        .iter()
        .filter(|t| {
            let newest = t.spans.iter().map(|s| s.start_us).max().unwrap_or(0);
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0);
            now_us.saturating_sub(newest) > 30_000_000
        })
        .collect();
    for trace in settled {
        assert!(
            orphans(trace).is_empty(),
            "trace {} has orphans {:?}",
            trace.trace_id,
            orphans(trace)
        );
    }
}

/// `name`'s samples on a collector's own /metrics (port 8888), summed over its series that
/// carry every label of `labels`.
fn collector_metric(stack: &Stack, service: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, text, _) =
        http_get(&format!("{}/metrics", stack.url(service, 8888))).unwrap_or_default();
    Exposition::parse(&text)
        .ok()
        .and_then(|e| e.sum(name, labels))
        .unwrap_or(0.0)
}

/// The gateways agent `n`'s load balancer sends to.
fn agent_backends(stack: &Stack, n: u8) -> f64 {
    collector_metric(
        stack,
        &format!("otel-agent-{n}"),
        "otelcol_loadbalancer_num_backends",
        &[],
    )
}

/// Polls until each agent's load balancer has found both gateways.
fn wait_for_both_agents_balancing_over_two_gateways(stack: &Stack) {
    stack.eventually(
        "both agents balancing over two gateways",
        Duration::from_secs(60),
        || (agent_backends(stack, 1) == 2.0 && agent_backends(stack, 2) == 2.0).then_some(()),
    );
}

#[test]
fn a_gateway_killed_mid_run_moves_its_share_and_counts_the_loss() {
    let stack = stack();
    let mut faults = stack.faults();
    let jaeger = stack.jaeger_api();
    wait_for_both_agents_balancing_over_two_gateways(stack);
    let failed = |n: u8| {
        let agent = format!("otel-agent-{n}");
        let spans = collector_metric(stack, &agent, "otelcol_exporter_send_failed_spans", &[])
            + collector_metric(stack, &agent, "otelcol_exporter_enqueue_failed_spans", &[]);
        let requests = collector_metric(
            stack,
            &agent,
            "otelcol_loadbalancer_backend_outcome",
            &[("success", "false")],
        );
        eprintln!("{agent}: failed spans {spans}, failed backend requests {requests}");
        spans
    };
    let failed_before = failed(1) + failed(2);

    // What the gateways already hold is decided and in Jaeger: the test measures what the
    // agents do with what they send after the kill.
    faults.kill("otel-gateway-1");
    // In the gap before the agents see the gateway gone (DNS, every 5 s), part of what they
    // send goes to it, fails, and is retried through the ring: on the surviving gateway.
    let gap = send_traces(stack, &[(Kind::Error, 40)]);
    stack.eventually(
        "both agents down to one gateway",
        Duration::from_secs(60),
        || (agent_backends(stack, 1) == 1.0 && agent_backends(stack, 2) == 1.0).then_some(()),
    );
    let after = send_traces(stack, &[(Kind::Error, 40)]);
    stack.eventually(
        "every error trace sent after the switch, whole in Jaeger",
        Duration::from_secs(120),
        || {
            after
                .iter()
                .all(|(_, root, child)| whole_in_jaeger(&jaeger, root, child) == Some(true))
                .then_some(())
        },
    );
    // Whatever the gap lost is counted by the agents that could not deliver it.
    let lost_spans = gap
        .iter()
        .map(
            |(_, root, child)| match whole_in_jaeger(&jaeger, root, child) {
                Some(true) => 0,
                _ => 2,
            },
        )
        .sum::<usize>() as f64;
    // An agent counts a failure when its exporter gives up, after its retries: poll for it.
    let counted = stack.eventually(
        &format!("the agents to count the gap's {lost_spans} lost spans as failures"),
        Duration::from_secs(90),
        || {
            let counted = failed(1) + failed(2) - failed_before;
            (counted >= lost_spans).then_some(counted)
        },
    );
    assert!(
        counted >= lost_spans,
        "{lost_spans} spans of the gap were lost, the agents counted {counted} failures"
    );
}

/// `count` error traces (always kept by the gateways), root and child each.
fn error_traces(count: usize) -> Vec<(TestSpan, TestSpan)> {
    (0..count).map(|_| trace_of(Kind::Error)).collect()
}

/// Sends `traces` whole through agent `n`: both spans of a trace in the same request, so
/// that they travel together through the agent's queue and reach the same gateway.
fn send_whole_through(stack: &Stack, n: u8, traces: &[(TestSpan, TestSpan)]) -> Result<(), String> {
    let spans: Vec<TestSpan> = traces
        .iter()
        .flat_map(|(root, child)| [root.clone(), child.clone()])
        .collect();
    send_spans(&agent(stack, n), &spans)
}

/// What an agent holds in its load balancer's sending queue for traces, in spans.
fn queued_spans(stack: &Stack, n: u8) -> f64 {
    collector_metric(
        stack,
        &format!("otel-agent-{n}"),
        "otelcol_exporter_queue_size",
        &[
            ("exporter", "load_balancing/traces"),
            ("data_type", "traces"),
        ],
    )
}

#[test]
fn an_agent_killed_mid_run_sends_what_it_had_accepted_once_it_is_back() {
    let stack = stack();
    let mut faults = stack.faults();
    let jaeger = stack.jaeger_api();
    wait_for_both_agents_balancing_over_two_gateways(stack);

    // No gateway from here on: whatever agent 1 accepts, it can only hold, in its queue.
    faults.kill("otel-gateway-1");
    faults.kill("otel-gateway-2");
    let before = error_traces(40);
    send_whole_through(stack, 1, &before)
        .unwrap_or_else(|e| panic!("agent 1 accepts the spans sent before its restart: {e}"));
    eprintln!(
        "agent 1 holds {} spans before the kill",
        queued_spans(stack, 1)
    );

    // Why this fails without the queue on disk: agent 1 answered the export above, so the
    // sender (as a node's exporter) forgets those spans; no gateway was up to take a copy;
    // and SIGKILL gives the agent no chance to flush anything. After the restart, the only
    // place they can come from is agent 1's storage directory, the volume it starts with
    // again.
    faults.kill("otel-agent-1");
    // While it is down, nothing is accepted: the sender keeps its spans and sends again, as
    // a node's exporter does, until the restarted agent answers.
    let during = error_traces(40);
    assert!(
        send_whole_through(stack, 1, &during).is_err(),
        "agent 1 is down, yet an export to it succeeded"
    );
    faults.start("otel-agent-1");
    stack.eventually(
        "the restarted agent 1 to accept the spans sent during its restart",
        Duration::from_secs(60),
        || send_whole_through(stack, 1, &during).ok(),
    );
    eprintln!(
        "agent 1 holds {} spans after its restart",
        queued_spans(stack, 1)
    );

    // The gateways come back; the agents find them again by DNS and deliver what they hold.
    for gateway in ["otel-gateway-1", "otel-gateway-2"] {
        faults.start(gateway);
        stack.wait_until_up(gateway);
    }
    // Reported as it shrinks: a timeout shows which were never delivered.
    let mut missing_before = usize::MAX;
    stack.eventually(
        "every trace sent before and during agent 1's restart, whole in Jaeger",
        Duration::from_secs(120),
        || {
            let missing: Vec<String> = before
                .iter()
                .map(|t| ("before", t))
                .chain(during.iter().map(|t| ("during", t)))
                .filter(|(_, (root, child))| whole_in_jaeger(&jaeger, root, child) != Some(true))
                .map(|(when, (root, _))| format!("{when} {}", root.trace_hex()))
                .collect();
            if missing.len() != missing_before {
                eprintln!(
                    "{} of {} traces not whole in Jaeger yet: {:?}",
                    missing.len(),
                    before.len() + during.len(),
                    &missing[..missing.len().min(4)]
                );
                missing_before = missing.len();
            }
            missing.is_empty().then_some(())
        },
    );
}

#[test]
fn the_edge_remote_writes_to_the_central_store_and_alerts_where_the_data_is() {
    let stack = stack();
    let mut faults = stack.faults();
    let (edge, central) = (
        stack.prometheus_api("prometheus-edge"),
        stack.prometheus_api("prometheus-central"),
    );
    let alertmanager = stack.alertmanager_api();
    // The edge's series, in the central store under the same name and labels, plus `edge`.
    let selector = r#"alys_uptime_seconds{path="pull", job="alys-node"}"#;
    let labels = |p: &PrometheusApi, extra: &str| -> Option<Vec<Vec<String>>> {
        let r = p.query(&format!("{selector}{extra}")).ok()?;
        let mut sets: Vec<Vec<String>> = r
            .iter()
            .map(|s| {
                s["metric"]
                    .as_object()
                    .map(|m| m.keys().filter(|k| *k != "edge").cloned().collect())
                    .unwrap_or_default()
            })
            .collect();
        sets.sort();
        (sets.len() == 3).then_some(sets)
    };
    let at_edge = stack.eventually(
        "three nodes scraped at the edge",
        Duration::from_secs(60),
        || labels(&edge, ""),
    );
    let at_central = stack.eventually(
        "the edge's series in the central store",
        Duration::from_secs(90),
        || {
            central
                .query(r#"count(alys_uptime_seconds{path="pull", job="alys-node", edge="site-a"})"#)
                .ok()
                .and_then(|r| r.first().and_then(value))
                .filter(|n| *n == 3.0)
                .and_then(|_| labels(&central, ""))
        },
    );
    assert_eq!(
        at_edge, at_central,
        "same names and labels at the edge and in the central store"
    );
    // The gateways' remote write brings the push path to the central store too.
    stack.eventually(
        "the push path in the central store",
        Duration::from_secs(90),
        || {
            central
                .query(r#"alys_actor_messages_total{path="push", job="alys-node"}"#)
                .ok()
                .filter(|r| !r.is_empty())
        },
    );

    // A fault on node 2 fires at the edge, reaches Alertmanager, and its ALERTS series the
    // central store.
    faults.recreate("alys-node-2", &[("ALYS_DEMO_FAULT", "sync-failed")]);
    stack.eventually("SyncFailed firing at the edge for alys-node-2",
        Duration::from_secs(120),
        || {
            edge.query(r#"ALERTS{alertname="SyncFailed", alertstate="firing", instance="alys-node-2:9001"}"#)
            .ok()
            .filter(|r| !r.is_empty())
        },
    );
    stack.eventually(
        "SyncFailed active in Alertmanager",
        Duration::from_secs(60),
        || alertmanager.active().contains("SyncFailed").then_some(()),
    );
    stack.eventually(
        "the edge's ALERTS in the central store",
        Duration::from_secs(90),
        || {
            central
                .query(r#"ALERTS{alertname="SyncFailed", edge="site-a"}"#)
                .ok()
                .filter(|r| !r.is_empty())
        },
    );
    // The central store evaluates nothing: alerts belong to the edge.
    assert!(
        central.firing().is_empty(),
        "the central store fires {:?}",
        central.firing()
    );
}
