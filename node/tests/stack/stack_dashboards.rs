//! The Grafana dashboards in `dashboards/`: they type-check against Grafana's own schema
//! types, follow the stack's conventions (datasource UIDs, the `path` and `instance`
//! variables on every query), use only metrics and labels the catalogue defines, and every
//! query returns data from the running stack (node/tests/stack_live.rs).

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::Range;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::TempDir;
use crate::support::dashboards::{
    Dashboard, PROMETHEUS_UID, all_panels, is_prometheus_target, panel_title, prometheus_queries,
};
use crate::support::promql::{COUNTER_FUNCTIONS, Selector, parse_grafana_query};

// ---------------------------------------------------------------------------------------------
// The dashboards and the stack's conventions
// ---------------------------------------------------------------------------------------------

/// Every dashboard file, with its fixed uid.
const DASHBOARDS: [(&str, &str); 7] = [
    ("overview.json", "alys-overview"),
    ("actors.json", "alys-actors"),
    ("sync-chain.json", "alys-sync-chain"),
    ("governance.json", "alys-governance"),
    ("migration.json", "alys-migration"),
    ("system.json", "alys-system"),
    ("pipeline.json", "alys-pipeline"),
];

const JAEGER_UID: &str = "alys-jaeger";

/// The two selectors every query on the node's metrics carries, so no panel mixes the
/// pull and push paths and the instance picker applies everywhere.
const PATH_MATCHER: (&str, &str, &str) = ("path", "=", "$path");
const INSTANCE_MATCHER: (&str, &str, &str) = ("instance", "=~", "$instance");

/// Labels Prometheus attaches to every series of the node (target labels).
const NODE_TARGET_LABELS: [&str; 3] = ["instance", "job", "path"];

/// Core panel types the dashboards may use: (type, directory and type-name prefix of its
/// module in `@grafana/schema`, whether that module has a `FieldConfig` for
/// `fieldConfig.defaults.custom`). The module holds the plugin's `Options`.
const PANEL_TYPES: &[(&str, &str, &str, bool)] = &[
    ("timeseries", "timeseries", "TimeSeries", true),
    ("stat", "stat", "Stat", false),
    ("gauge", "gauge", "Gauge", false),
    ("bargauge", "bargauge", "BarGauge", false),
    ("heatmap", "heatmap", "Heatmap", true),
    ("table", "table", "Table", true),
    ("state-timeline", "statetimeline", "StateTimeline", true),
    ("text", "text", "Text", false),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// Series outside the catalogue on the node's paths (so they take the `path` and `instance`
/// selectors): Prometheus's own per-target series, and the OpenTelemetry SDK's self-metrics
/// (any `otel_sdk_*` name, with the labels SDK 0.33 puts on them; a `_total` name is a
/// counter).
const SCRAPE_SERIES: &[&str] = &["up", "scrape_samples_scraped"];
const OTEL_SDK_PREFIX: &str = "otel_sdk_";
const OTEL_SDK_LABELS: &[&str] = &["error_type", "otel_component_type", "otel_component_name"];

/// The OpenTelemetry Collector's own metrics (job `otel-collector`, scraped from its :8888
/// endpoint), as release 0.161.0 exports them through its configured Prometheus reader:
/// counters without `_total`, the collector's resource in `target_info` rather than on every
/// series. One per line: type, name, labels. tests/stack_live.rs checks that each exists in
/// the running stack.
const OTELCOL_JOB: &str = "otel-collector";
const OTELCOL_SERIES: &str = "
    counter otelcol_receiver_accepted_spans            receiver transport
    counter otelcol_receiver_refused_spans             receiver transport
    counter otelcol_receiver_accepted_metric_points    receiver transport
    counter otelcol_receiver_accepted_log_records      receiver transport
    counter otelcol_exporter_sent_spans                exporter
    counter otelcol_exporter_send_failed_spans         exporter
    counter otelcol_exporter_sent_metric_points        exporter
    counter otelcol_exporter_send_failed_metric_points exporter
    counter otelcol_exporter_sent_log_records          exporter
    counter otelcol_exporter_send_failed_log_records   exporter
    counter otelcol_exporter_enqueue_failed_spans         exporter
    counter otelcol_exporter_enqueue_failed_metric_points exporter
    counter otelcol_exporter_enqueue_failed_log_records   exporter
    gauge   otelcol_exporter_queue_size                exporter data_type
    gauge   otelcol_exporter_queue_capacity            exporter data_type
    counter otelcol_processor_incoming_items           processor
    counter otelcol_processor_outgoing_items           processor
";
/// Labels on every collector series: the target's.
const OTELCOL_COMMON_LABELS: &[&str] = &["instance", "job"];

fn repo_root() -> PathBuf {
    support::stack::repo()
}

/// Every dashboard, the fixed set of DASHBOARDS among them.
fn load_dashboards() -> Vec<Dashboard> {
    let dashboards = support::dashboards::load();
    for (file, _) in DASHBOARDS {
        assert!(
            dashboards.iter().any(|d| d.file == file),
            "dashboards/{file} is missing"
        );
    }
    dashboards
}

// ---------------------------------------------------------------------------------------------
// The metric catalogue
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct SeriesDef {
    kind: Kind,
    labels: BTreeSet<String>,
    /// Carries `path`/`instance` (the node's series) or `job="otel-collector"`.
    node: bool,
}

/// Every series name a dashboard may use, from the real binary's catalogue plus the
/// documented external names.
fn known_series() -> BTreeMap<String, SeriesDef> {
    let out = Command::new(env!("CARGO_BIN_EXE_alys-telemetry"))
        .args(["catalog", "--format", "json"])
        .output()
        .expect("run alys-telemetry catalog");
    assert!(
        out.status.success(),
        "catalog --format json failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog: Value = serde_json::from_slice(&out.stdout).expect("catalog JSON");
    let node_labels = |extra: &[&str]| -> BTreeSet<String> {
        NODE_TARGET_LABELS
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let mut series = BTreeMap::new();
    let metrics = catalog["metrics"].as_array().expect("catalog.metrics");
    assert!(!metrics.is_empty(), "the catalogue is empty");
    for metric in metrics {
        let name = metric["name"].as_str().expect("metric name");
        let labels: Vec<&str> = metric["labels"]
            .as_array()
            .expect("metric labels")
            .iter()
            .map(|l| l.as_str().expect("label name"))
            .collect();
        let mut add = |name: String, kind: Kind, extra: &[&str]| {
            let mut all = node_labels(&labels);
            all.extend(extra.iter().map(|s| s.to_string()));
            series.insert(
                name,
                SeriesDef {
                    kind,
                    labels: all,
                    node: true,
                },
            );
        };
        match metric["type"].as_str().expect("metric type") {
            "counter" => add(name.to_string(), Kind::Counter, &[]),
            "gauge" => add(name.to_string(), Kind::Gauge, &[]),
            "histogram" => {
                add(format!("{name}_bucket"), Kind::Counter, &["le"]);
                add(format!("{name}_sum"), Kind::Counter, &[]);
                add(format!("{name}_count"), Kind::Counter, &[]);
            }
            other => panic!("{name}: unknown metric type {other}"),
        }
    }
    for name in SCRAPE_SERIES {
        series.insert(
            name.to_string(),
            SeriesDef {
                kind: Kind::Gauge,
                labels: node_labels(&[]),
                node: true,
            },
        );
    }
    for line in OTELCOL_SERIES.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let kind = match words.next() {
            Some("counter") => Kind::Counter,
            Some("gauge") => Kind::Gauge,
            other => panic!("OTELCOL_SERIES: bad type {other:?}"),
        };
        let name = words.next().expect("OTELCOL_SERIES: name");
        series.insert(
            name.to_string(),
            SeriesDef {
                kind,
                labels: OTELCOL_COMMON_LABELS
                    .iter()
                    .copied()
                    .chain(words)
                    .map(str::to_string)
                    .collect(),
                node: false,
            },
        );
    }
    series
}

fn series_def(known: &BTreeMap<String, SeriesDef>, name: &str) -> Option<SeriesDef> {
    if let Some(def) = known.get(name) {
        return Some(def.clone());
    }
    name.starts_with(OTEL_SDK_PREFIX).then(|| SeriesDef {
        kind: if name.ends_with("_total") {
            Kind::Counter
        } else {
            Kind::Gauge
        },
        labels: NODE_TARGET_LABELS
            .iter()
            .chain(OTEL_SDK_LABELS)
            .map(|s| s.to_string())
            .collect(),
        node: true,
    })
}

/// The labels a selector's series can carry, or `None` for a name nobody defines.
fn selector_labels(
    known: &BTreeMap<String, SeriesDef>,
    selector: &Selector,
) -> Option<BTreeSet<String>> {
    match &selector.metric {
        Some(name) => series_def(known, name).map(|d| d.labels),
        None => Some(NODE_TARGET_LABELS.iter().map(|s| s.to_string()).collect()),
    }
}

/// Every problem with one dashboard expression, checked against the catalogue. An empty
/// list means the expression is fine. `legend` is the target's legendFormat, if any.
fn check_expr(
    known: &BTreeMap<String, SeriesDef>,
    expr: &str,
    legend: Option<&str>,
) -> Vec<String> {
    let query = match parse_grafana_query(expr) {
        Ok(q) => q,
        Err(e) => return vec![format!("cannot read the PromQL: {e}")],
    };
    let mut problems = Vec::new();
    if query.selectors.is_empty() {
        problems.push("selects no series".to_string());
    }
    let mut all_labels = BTreeSet::new();
    for sel in &query.selectors {
        let name_regex = sel.name_regex();
        let node = match (&sel.metric, name_regex) {
            (Some(name), None) => match series_def(known, name) {
                Some(def) => def.node,
                None => {
                    problems.push(format!(
                        "{name}: not in the metric catalogue nor in the documented external names"
                    ));
                    continue;
                }
            },
            (None, Some(regex)) if regex.starts_with("alys_") => true,
            _ => {
                problems.push(format!(
                    "{}: only a metric name or a __name__ matcher on alys_ names may select series",
                    sel.describe()
                ));
                continue;
            }
        };
        let labels = selector_labels(known, sel).unwrap_or_default();
        for m in &sel.matchers {
            if m.label != "__name__" && !labels.contains(&m.label) {
                problems.push(format!(
                    "{}: no label {:?} on this metric",
                    sel.describe(),
                    m.label
                ));
            }
        }
        if node {
            for required in [PATH_MATCHER, INSTANCE_MATCHER] {
                if !sel.has(required) {
                    problems.push(format!(
                        "{}: lacks {}{}\"{}\"",
                        sel.describe(),
                        required.0,
                        required.1,
                        required.2
                    ));
                }
            }
        } else if !sel.has(("job", "=", OTELCOL_JOB)) {
            problems.push(format!("{}: lacks job=\"{OTELCOL_JOB}\"", sel.describe()));
        }
        all_labels.extend(labels);
    }
    let in_scope = |scope: &Range<usize>| -> Vec<&Selector> {
        query
            .selectors
            .iter()
            .filter(|s| scope.contains(&s.at))
            .collect()
    };
    for grouping in &query.groupings {
        let selectors = in_scope(&grouping.scope);
        for label in &grouping.labels {
            let on_every = selectors
                .iter()
                .all(|s| selector_labels(known, s).is_some_and(|l| l.contains(label)));
            let ok = if grouping.keyword == "by" || grouping.keyword == "without" {
                on_every
            } else {
                all_labels.contains(label)
            };
            if !ok {
                problems.push(format!(
                    "{} ({label}): not a label of the series it aggregates",
                    grouping.keyword
                ));
            }
        }
    }
    for call in &query.calls {
        let selectors = in_scope(&call.scope);
        if COUNTER_FUNCTIONS.contains(&call.function.as_str()) {
            for sel in &selectors {
                let kind = sel
                    .metric
                    .as_deref()
                    .and_then(|name| series_def(known, name))
                    .map(|d| d.kind);
                if kind == Some(Kind::Gauge) {
                    problems.push(format!(
                        "{}() of the gauge {}: use a counter, or delta()/deriv() for a gauge",
                        call.function,
                        sel.describe()
                    ));
                }
            }
        }
        if call.function == "histogram_quantile" {
            for sel in &selectors {
                if !sel
                    .metric
                    .as_deref()
                    .is_some_and(|m| m.ends_with("_bucket"))
                {
                    problems.push(format!(
                        "histogram_quantile() over {}: it needs the _bucket series",
                        sel.describe()
                    ));
                }
            }
            for grouping in &query.groupings {
                if call.scope.contains(&grouping.scope.start)
                    && grouping.keyword == "by"
                    && !grouping.labels.iter().any(|l| l == "le")
                {
                    problems
                        .push("histogram_quantile() over an aggregation that drops le".to_string());
                }
            }
            if !query
                .groupings
                .iter()
                .any(|g| call.scope.contains(&g.scope.start))
            {
                problems.push(
                    "histogram_quantile() needs sum by (le, ...) (rate(..._bucket[...]))"
                        .to_string(),
                );
            }
        }
    }
    if let Some(legend) = legend {
        let mut rest = legend;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                problems.push(format!("legend {legend:?}: unclosed {{{{"));
                break;
            };
            let label = rest[start + 2..start + len].trim();
            if !all_labels.contains(label) {
                problems.push(format!(
                    "legend {legend:?}: no label {label:?} on these series"
                ));
            }
            rest = &rest[start + len + 2..];
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Grafana's schema types, through tsc
// ---------------------------------------------------------------------------------------------

fn tsc() -> PathBuf {
    let tsc = repo_root().join("tests/dashboards-ts/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing: run scripts/install-test-deps.sh (it installs @grafana/schema and typescript into tests/dashboards-ts)",
        tsc.display()
    );
    tsc
}

/// A TypeScript module asserting that `dashboard` satisfies `Dashboard` from
/// `@grafana/schema`, and each panel's options and custom field config the types of its
/// panel plugin.
///
/// Grafana's types use TypeScript enums (`FieldColorModeId`, `ThresholdsMode`, ...), to
/// which no JSON string is assignable; `Json<T>` maps every enum to the union of its
/// values, which is what the JSON holds. Everything else (required fields, excess
/// properties, value types) is checked as Grafana declares it.
fn ts_module(dashboard: &Value) -> String {
    let mut ts = String::from("import type { Dashboard } from '@grafana/schema';\n");
    for (i, (_, dir, prefix, _)) in PANEL_TYPES.iter().enumerate() {
        ts.push_str(&format!(
            "import type * as P{i} from '@grafana/schema/dist/esm/raw/composable/{dir}/panelcfg/x/{prefix}PanelCfg_types.gen';\n"
        ));
    }
    ts.push_str(
        "type Json<T> = T extends string ? `${T}`\n  : T extends number | boolean | null | undefined ? T\n  : T extends ReadonlyArray<infer U> ? Array<Json<U>>\n  : T extends object ? { [K in keyof T]: Json<T[K]> }\n  : T;\n",
    );
    let pretty = serde_json::to_string_pretty(dashboard).expect("serialise");
    ts.push_str(&format!(
        "export const dashboard = {pretty} satisfies Json<Dashboard>;\n"
    ));
    for (n, panel) in all_panels(dashboard).into_iter().enumerate() {
        let Some(i) = PANEL_TYPES.iter().position(|(t, ..)| panel["type"] == *t) else {
            continue;
        };
        let options = panel.get("options").cloned().unwrap_or(json!({}));
        ts.push_str(&format!(
            "export const options{n} = {options} satisfies Partial<Json<P{i}.Options>>;\n"
        ));
        let custom = &panel["fieldConfig"]["defaults"]["custom"];
        if PANEL_TYPES[i].3 && !custom.is_null() {
            ts.push_str(&format!(
                "export const custom{n} = {custom} satisfies Partial<Json<P{i}.FieldConfig>>;\n"
            ));
        }
    }
    ts
}

/// Runs tsc over `modules` (file name, source) in a temp dir that sees the installed
/// node_modules; returns (exit success, output).
fn run_tsc(modules: &[(String, String)]) -> (bool, String) {
    let tsc = tsc();
    let dir = TempDir::new("dashboards-ts");
    std::os::unix::fs::symlink(
        repo_root().join("tests/dashboards-ts/node_modules"),
        dir.join("node_modules"),
    )
    .expect("symlink node_modules");
    for (name, source) in modules {
        fs::write(dir.join(name), source).expect("write ts module");
    }
    let out = Command::new(&tsc)
        .current_dir(&dir.path)
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--target",
            "es2020",
        ])
        .args(modules.iter().map(|(name, _)| name))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run scripts/install-test-deps.sh",
                tsc.display()
            )
        });
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), output)
}

fn ts_name(file: &str) -> String {
    file.trim_end_matches(".json").replace('-', "_") + ".ts"
}

#[test]
fn dashboards_type_check_against_grafana_schema() {
    let modules: Vec<(String, String)> = load_dashboards()
        .iter()
        .map(|d| (ts_name(&d.file), ts_module(&d.json)))
        .collect();
    let (ok, output) = run_tsc(&modules);
    assert!(
        ok,
        "dashboards do not type-check against @grafana/schema:\n{output}"
    );
}

#[test]
fn type_check_catches_wrong_dashboards() {
    let path = support::dashboards::dir().join("overview.json");
    let good: Value = serde_json::from_str(&fs::read_to_string(&path).expect("read overview"))
        .expect("overview JSON");
    let first_stat = |d: &mut Value| -> usize {
        d["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .position(|p| p["type"] == "stat")
            .expect("a stat panel")
    };
    let mut wrong_type = good.clone();
    wrong_type["panels"] = json!("x");
    let mut misspelled = good.clone();
    let refresh = misspelled
        .as_object_mut()
        .expect("object")
        .remove("refresh")
        .expect("refresh");
    misspelled["refrsh"] = refresh;
    let mut bad_unit = good.clone();
    let i = first_stat(&mut bad_unit);
    bad_unit["panels"][i]["fieldConfig"]["defaults"]["unit"] = json!(5);
    let mut bad_option = good.clone();
    let i = first_stat(&mut bad_option);
    bad_option["panels"][i]["options"]["colorMode"] = json!("valu");
    let mut bad_enum = good.clone();
    let i = first_stat(&mut bad_enum);
    bad_enum["panels"][i]["fieldConfig"]["defaults"]["thresholds"]["mode"] = json!("absolut");

    let cases = [
        ("good.ts", &good),
        ("wrong_type.ts", &wrong_type),
        ("misspelled.ts", &misspelled),
        ("bad_unit.ts", &bad_unit),
        ("bad_option.ts", &bad_option),
        ("bad_enum.ts", &bad_enum),
    ];
    let modules: Vec<(String, String)> = cases
        .iter()
        .map(|(name, d)| (name.to_string(), ts_module(d)))
        .collect();
    let (ok, output) = run_tsc(&modules);
    assert!(!ok, "tsc accepted broken dashboards:\n{output}");
    assert!(
        !output.contains("good.ts("),
        "tsc rejected the real overview:\n{output}"
    );
    for (name, _) in &cases[1..] {
        assert!(
            output.contains(&format!("{name}(")),
            "tsc did not catch {name}:\n{output}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Conventions
// ---------------------------------------------------------------------------------------------

/// Every `datasource` value anywhere in the JSON tree: it must be a UID reference.
fn check_datasource_refs(value: &Value, at: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{at}.{key}");
                if key == "datasource" {
                    let ok = matches!(
                        (v["type"].as_str(), v["uid"].as_str()),
                        (Some("prometheus"), Some(PROMETHEUS_UID))
                            | (Some("jaeger"), Some(JAEGER_UID))
                    );
                    if !ok {
                        problems.push(format!(
                            "{here}: {v} is not {{\"type\":\"prometheus\",\"uid\":\"{PROMETHEUS_UID}\"}} or {{\"type\":\"jaeger\",\"uid\":\"{JAEGER_UID}\"}}"
                        ));
                    }
                }
                if key == "__inputs" || key == "__requires" {
                    problems.push(format!(
                        "{here}: an export with inputs; reference datasources by UID"
                    ));
                }
                check_datasource_refs(v, &here, problems);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_datasource_refs(v, &format!("{at}[{i}]"), problems);
            }
        }
        Value::String(s) if s.contains("${DS_") => {
            problems.push(format!("{at}: {s:?} uses a datasource input"));
        }
        _ => {}
    }
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> Option<&'a Value> {
    dashboard["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

#[test]
fn dashboards_follow_the_stack_conventions() {
    let dashboards = load_dashboards();
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for d in &dashboards {
        let file = &d.file;
        let j = &d.json;
        let mut complain = |what: String| problems.push(format!("{file}: {what}"));
        let uid = j["uid"].as_str().unwrap_or_default();
        if let Some((_, expected)) = DASHBOARDS.iter().find(|(f, _)| f == file)
            && uid != *expected
        {
            complain(format!("uid {uid:?}, expected {expected:?}"));
        }
        if uid.is_empty() || !uids.insert(uid.to_string()) {
            complain(format!("uid {uid:?} is missing or not unique"));
        }
        let title = j["title"].as_str().unwrap_or_default();
        if title.is_empty() || !titles.insert(title.to_string()) {
            complain(format!("title {title:?} is missing or not unique"));
        }
        if !j["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "alys"))
        {
            complain("tags lack \"alys\"".to_string());
        }
        if !(39..=41).contains(&j["schemaVersion"].as_i64().unwrap_or(0)) {
            complain(format!(
                "schemaVersion {} is not 39..=41",
                j["schemaVersion"]
            ));
        }
        if j["time"] != json!({"from": "now-15m", "to": "now"}) || j["refresh"] != "10s" {
            complain("time range is not the last 15 minutes refreshed every 10s".to_string());
        }
        if j["description"].as_str().unwrap_or_default().is_empty() {
            complain("no description".to_string());
        }
        if !j["links"].as_array().is_some_and(|links| {
            links
                .iter()
                .any(|l| l["type"] == "dashboards" && l["tags"] == json!(["alys"]))
        }) {
            complain("no link to the other alys dashboards".to_string());
        }

        // Variables.
        match variable(j, "path") {
            Some(v)
                if v["type"] == "custom"
                    && v["query"] == "pull,push"
                    && v["current"]["value"] == "pull"
                    && v["includeAll"] != true
                    && v["multi"] != true => {}
            other => complain(format!(
                "variable path is not custom pull,push defaulting to pull: {other:?}"
            )),
        }
        match variable(j, "instance") {
            Some(v) if v["type"] == "query" && v["includeAll"] == true && v["multi"] == true => {
                let query = v["query"]["query"]
                    .as_str()
                    .or(v["query"].as_str())
                    .unwrap_or_default();
                let series = query
                    .strip_prefix("label_values(")
                    .and_then(|rest| rest.strip_suffix(", instance)"))
                    .unwrap_or_default();
                match parse_grafana_query(series) {
                    Ok(q)
                        if !q.selectors.is_empty()
                            && q.selectors.iter().all(|s| {
                                s.metric.as_deref().is_some_and(|m| m.starts_with("alys_"))
                                    && s.has(PATH_MATCHER)
                            }) => {}
                    other => complain(format!(
                        "variable instance: {query:?} is not label_values(alys_...{{path=\"$path\"}}, instance) ({other:?})"
                    )),
                }
            }
            other => complain(format!(
                "variable instance is not a multi query variable with All: {other:?}"
            )),
        }

        // Datasources everywhere.
        let mut ds_problems = Vec::new();
        check_datasource_refs(j, "", &mut ds_problems);
        for p in ds_problems {
            complain(p);
        }

        // Panels.
        let mut ids = BTreeSet::new();
        for panel in all_panels(j) {
            let title = panel_title(panel).to_string();
            let mut complain =
                |what: String| problems.push(format!("{file}: panel {title:?}: {what}"));
            if !panel["id"].as_u64().is_some_and(|id| ids.insert(id)) {
                complain(format!("id {} missing or not unique", panel["id"]));
            }
            let pos = &panel["gridPos"];
            let (x, w, h) = (pos["x"].as_u64(), pos["w"].as_u64(), pos["h"].as_u64());
            if !matches!((x, w, h, pos["y"].as_u64()), (Some(x), Some(w), Some(h), Some(_)) if w > 0 && h > 0 && x + w <= 24)
            {
                complain(format!("bad gridPos {pos}"));
            }
            let ptype = panel["type"].as_str().unwrap_or_default();
            if ptype == "row" {
                continue;
            }
            if !PANEL_TYPES.iter().any(|(t, ..)| *t == ptype) {
                complain(format!("panel type {ptype:?} is not one of the core types"));
            }
            if panel["description"].as_str().unwrap_or_default().is_empty() {
                complain("no description".to_string());
            }
            if ptype == "text" {
                continue;
            }
            if panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
            {
                complain("no unit".to_string());
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                complain("no queries".to_string());
            }
            let mut refs = BTreeSet::new();
            for t in &targets {
                let ref_id = t["refId"].as_str().unwrap_or_default().to_string();
                if ref_id.is_empty() || !refs.insert(ref_id.clone()) {
                    complain(format!("refId {ref_id:?} missing or not unique"));
                }
                if t["datasource"] != panel["datasource"] {
                    complain(format!(
                        "query {ref_id}: datasource differs from the panel's"
                    ));
                }
                if is_prometheus_target(t, panel) {
                    if t["expr"].as_str().unwrap_or_default().is_empty() {
                        complain(format!("query {ref_id}: no expr"));
                    }
                    if t["legendFormat"].as_str().unwrap_or_default().is_empty() {
                        complain(format!("query {ref_id}: no legendFormat"));
                    }
                }
            }
        }
    }
    let overview = dashboards
        .iter()
        .find(|d| d.file == "overview.json")
        .expect("overview");
    let text = overview.json.to_string();
    for (file, uid) in &DASHBOARDS[1..] {
        if !text.contains(&format!("/d/{uid}")) {
            problems.push(format!("overview.json: no link to {file} (/d/{uid})"));
        }
    }
    assert!(
        problems.is_empty(),
        "convention problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_query_uses_catalogued_metrics_labels_and_both_selectors() {
    let known = known_series();
    let dashboards = load_dashboards();
    let queries = prometheus_queries(&dashboards);
    assert!(queries.len() > 50, "only {} queries found", queries.len());
    let mut problems = Vec::new();
    for q in &queries {
        for p in check_expr(&known, &q.expr, Some(&q.legend)) {
            problems.push(format!("{}: {p}\n    {}", q.name(), q.expr));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker itself: each of these mistakes (most of them in the queries first specified for
/// Alys) must be caught.
#[test]
fn expression_checker_catches_known_mistakes() {
    let known = known_series();
    let s = r#"path="$path", instance=~"$instance""#;
    let good = [
        format!("sum by (actor_type) (rate(alys_actor_messages_total{{{s}}}[$__rate_interval]))"),
        format!(
            "histogram_quantile(0.95, sum by (le, validator) (rate(alys_block_production_duration_seconds_bucket{{{s}}}[$__rate_interval])))"
        ),
        format!("count by (instance) ({{__name__=~\"alys_.+\", {s}}})"),
        format!("time() - (alys_telemetry_last_export_success_timestamp_seconds{{{s}}} > 0)"),
        r#"sum by (exporter) (rate(otelcol_exporter_sent_spans{job="otel-collector"}[5m]))"#
            .to_string(),
    ];
    for expr in &good {
        let problems = check_expr(&known, expr, Some("{{instance}}"));
        assert!(problems.is_empty(), "{expr}: {problems:?}");
    }
    let bad = [
        // As first specified for Alys: histogram_quantile over the bare histogram name.
        (
            "histogram_quantile(0.99, alys_actor_message_latency_seconds)".to_string(),
            "not in the metric catalogue",
        ),
        // As first specified for Alys: rate() of a gauge.
        (
            format!("rate(alys_migration_progress_percent{{{s}}}[5m]) == 0"),
            "of the gauge",
        ),
        // No path selector: would add up both paths.
        (
            r#"sum(rate(alys_actor_messages_total{instance=~"$instance"}[5m]))"#.to_string(),
            "lacks path",
        ),
        (
            r#"alys_peer_count{path="$path"}"#.to_string(),
            "lacks instance",
        ),
        // As first specified for Alys: $labels.actor on a metric labelled actor_type.
        (
            format!("sum by (actor) (alys_actor_mailbox_size{{{s}}})"),
            "not a label",
        ),
        (
            format!("alys_actor_restarts_total{{{s}, actor=\"bridge\"}}"),
            "no label \"actor\"",
        ),
        (
            format!(
                "histogram_quantile(0.95, sum by (actor_type) (rate(alys_actor_message_latency_seconds_bucket{{{s}}}[5m])))"
            ),
            "drops le",
        ),
        (
            format!("rat(alys_actor_messages_total{{{s}}}[5m])"),
            "unknown function",
        ),
        (
            r#"rate(otelcol_exporter_sent_spans[5m])"#.to_string(),
            "lacks job",
        ),
        // The name collectors before 0.152 exported: gone from the release we pin.
        (
            r#"rate(otelcol_exporter_sent_spans_total{job="otel-collector"}[5m])"#.to_string(),
            "not in the metric catalogue",
        ),
    ];
    for (expr, expected) in &bad {
        let problems = check_expr(&known, expr, None);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expr}: expected a problem containing {expected:?}, got {problems:?}"
        );
    }
    let legend_problems = check_expr(&known, &good[0], Some("{{actor}}"));
    assert!(
        legend_problems.iter().any(|p| p.contains("legend")),
        "{legend_problems:?}"
    );
}

#[test]
fn provisioning_references_the_fixed_uids() {
    let dir = support::dashboards::dir().join("provisioning");
    let datasources = fs::read_to_string(dir.join("datasources.yml")).expect("datasources.yml");
    let providers = fs::read_to_string(dir.join("dashboards.yml")).expect("dashboards.yml");
    for needle in [
        "uid: alys-prometheus",
        "uid: alys-jaeger",
        "url: http://prometheus:9090",
        "url: http://jaeger:16686",
        "isDefault: true",
        "exemplarTraceIdDestinations:",
        "datasourceUid: alys-jaeger",
        "tracesToMetrics:",
        "datasourceUid: alys-prometheus",
    ] {
        assert!(
            datasources.contains(needle),
            "datasources.yml lacks {needle:?}"
        );
    }
    for needle in [
        "path: /var/lib/grafana/dashboards",
        "folder: Alys",
        "type: file",
    ] {
        assert!(
            providers.contains(needle),
            "dashboards.yml lacks {needle:?}"
        );
    }
    for (name, text) in [
        ("datasources.yml", &datasources),
        ("dashboards.yml", &providers),
    ] {
        let lower = text.to_ascii_lowercase();
        for secret in ["password", "secret", "token", "basicauth", "apikey"] {
            assert!(!lower.contains(secret), "{name} mentions {secret:?}");
        }
    }
    // The trace-to-metrics queries follow the same conventions as the dashboards.
    let known = known_series();
    for line in datasources.lines() {
        if let Some(query) = line.trim().strip_prefix("query: ") {
            let query = query.trim().trim_matches('\'');
            let query = query
                .replace("$path", "pull")
                .replace(r#"path="pull""#, r#"path="$path""#);
            let problems: Vec<String> = check_expr(&known, &query, None)
                .into_iter()
                .filter(|p| !p.contains("lacks instance"))
                .collect();
            assert!(
                problems.is_empty(),
                "datasources.yml query {query}: {problems:?}"
            );
        }
    }
}
