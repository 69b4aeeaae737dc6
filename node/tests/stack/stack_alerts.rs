//! The alerting part of the stack (`alerts/`): the Prometheus and Alertmanager configs pass
//! their own tools; every alert is complete (severity, annotations, a runbook, promtool unit
//! tests that see it fire and stay silent); every metric and label a rule names exists; and a
//! real Prometheus scraping the demo loads every rule and evaluates it without error.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::node::{BIN, Demo};
use crate::support::promql::parse_query;
use crate::support::{Prometheus, http_get, pull_config, wait_until};
use serde_json::Value;
use serde_norway::Value as Yaml;

const RUNBOOK_BASE: &str = "https://github.com/alys/alys-telemetry/blob/main/alerts/runbooks/";
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];
/// Labels Prometheus adds to every scraped series (`path` is the stack's static target label).
const TARGET_LABELS: [&str; 3] = ["instance", "job", "path"];

fn alerts_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("alerts")
}

/// The files of `alerts/<sub>` ending in `.yml`, sorted; at least one.
fn yml_files(sub: &str) -> Vec<PathBuf> {
    let dir = alerts_dir().join(sub);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .yml files in {}", dir.display());
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Runs a tool in `alerts/`; asserts that it exits 0 and returns its standard output.
#[track_caller]
fn run_tool(tool: &str, args: &[String]) -> String {
    let binary = support::stack_tool(tool);
    let out = Command::new(&binary)
        .args(args)
        .current_dir(alerts_dir())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{tool} {}` (in alerts/) failed with {}:\n{text}",
        args.join(" "),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sub/*.yml` relative to `alerts/`, as arguments.
fn relative_yml_args(sub: &str) -> Vec<String> {
    yml_files(sub)
        .iter()
        .map(|p| format!("{sub}/{}", file_name(p)))
        .collect()
}

// ---------------------------------------------------------------------------
// The tools' own checks
// ---------------------------------------------------------------------------

#[test]
fn promtool_accepts_the_prometheus_config_and_the_rule_files_it_loads() {
    let out = run_tool(
        "promtool",
        &["check".into(), "config".into(), "prometheus.yml".into()],
    );
    // The config loads the rule files: all of them, not a stale subset.
    let found = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("SUCCESS: ")?
                .strip_suffix(" rule files found")
        })
        .unwrap_or_else(|| panic!("promtool did not report the rule files:\n{out}"));
    assert_eq!(
        found.parse::<usize>().ok(),
        Some(yml_files("rules").len()),
        "prometheus.yml must load every file of alerts/rules:\n{out}"
    );
}

#[test]
fn promtool_accepts_every_rule_file() {
    let mut args = vec!["check".to_string(), "rules".to_string()];
    args.extend(relative_yml_args("rules"));
    run_tool("promtool", &args);
}

#[test]
fn promtool_unit_tests_pass() {
    let mut args = vec!["test".to_string(), "rules".to_string()];
    args.extend(relative_yml_args("tests"));
    let out = run_tool("promtool", &args);
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn amtool_accepts_the_alertmanager_config_and_routes_by_severity() {
    run_tool(
        "amtool",
        &["check-config".into(), "alertmanager.yml".into()],
    );
    for (severity, receiver) in [
        ("critical", "alys-critical"),
        ("warning", "alys-warning"),
        ("info", "alys-info"),
    ] {
        let out = run_tool(
            "amtool",
            &[
                "config".into(),
                "routes".into(),
                "test".into(),
                "--config.file=alertmanager.yml".into(),
                "alertname=HighMemoryUsage".into(),
                "instance=alys-node:9001".into(),
                format!("severity={severity}"),
            ],
        );
        assert_eq!(out.trim(), receiver, "severity={severity} is routed to");
    }

    let config = parse_yaml_file(&alerts_dir().join("alertmanager.yml"));
    // Critical pages fast; resolved alerts are sent too.
    let critical_route = config
        .get("route")
        .and_then(|r| r.get("routes"))
        .map(seq)
        .unwrap_or_default()
        .iter()
        .find(|r| r.get("receiver").and_then(Yaml::as_str) == Some("alys-critical"))
        .cloned()
        .expect("a route to alys-critical");
    let group_wait = critical_route
        .get("group_wait")
        .and_then(Yaml::as_str)
        .map(duration_secs)
        .expect("the critical route sets group_wait");
    assert!(group_wait <= 10.0, "critical group_wait {group_wait}s");
    for receiver in config.get("receivers").map(seq).unwrap_or_default() {
        for hook in receiver.get("webhook_configs").map(seq).unwrap_or_default() {
            assert_eq!(
                hook.get("send_resolved").and_then(Yaml::as_bool),
                Some(true),
                "{receiver:?}"
            );
        }
    }
    // A critical alert inhibits the warning of the same alertname and instance.
    let inhibits = config.get("inhibit_rules").map(seq).unwrap_or_default();
    let strings = |rule: &Yaml, key: &str| -> Vec<String> {
        rule.get(key)
            .map(seq)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(|s| s.replace(' ', "")))
            .collect()
    };
    assert!(
        inhibits.iter().any(|rule| {
            strings(rule, "source_matchers") == ["severity=\"critical\""]
                && strings(rule, "target_matchers") == ["severity=\"warning\""]
                && strings(rule, "equal") == ["alertname", "instance"]
        }),
        "no inhibit rule critical -> warning on [alertname, instance]: {inhibits:?}"
    );
}

#[test]
fn the_prometheus_config_follows_the_stack_label_conventions() {
    let config = parse_yaml_file(&alerts_dir().join("prometheus.yml"));
    let global = config.get("global").expect("global");
    assert_eq!(
        global.get("scrape_interval").and_then(Yaml::as_str),
        Some("15s")
    );
    assert_eq!(
        global.get("evaluation_interval").and_then(Yaml::as_str),
        Some("15s")
    );
    let rule_files: Vec<&str> = config
        .get("rule_files")
        .map(seq)
        .unwrap_or_default()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(rule_files, ["rules/*.yml"]);
    let alertmanagers = format!("{:?}", config.get("alerting"));
    assert!(
        alertmanagers.contains("alertmanager:9093"),
        "{alertmanagers}"
    );

    let jobs: BTreeMap<String, Yaml> = config
        .get("scrape_configs")
        .map(seq)
        .unwrap_or_default()
        .iter()
        .map(|job| {
            let name = job
                .get("job_name")
                .and_then(Yaml::as_str)
                .expect("job_name");
            (name.to_string(), job.clone())
        })
        .collect();
    for (job, target, path) in [
        ("alys-node", "alys-node:9001", Some("pull")),
        ("alys-governance", "governance:9002", Some("pull")),
        (
            "otel-collector-exporter",
            "otel-collector:8889",
            Some("push"),
        ),
        ("otel-collector", "otel-collector:8888", None),
        ("alertmanager", "alertmanager:9093", None),
        ("prometheus", "localhost:9090", None),
        ("node-exporter", "node-exporter:9100", None),
    ] {
        let config = jobs
            .get(job)
            .unwrap_or_else(|| panic!("no scrape job {job}"));
        let statics = config.get("static_configs").map(seq).unwrap_or_default();
        assert_eq!(statics.len(), 1, "job {job}");
        let targets: Vec<&str> = statics[0]
            .get("targets")
            .map(seq)
            .unwrap_or_default()
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(targets, [target], "targets of job {job}");
        assert_eq!(
            statics[0]
                .get("labels")
                .and_then(|l| l.get("path"))
                .and_then(Yaml::as_str),
            path,
            "the path label of job {job}"
        );
        // The collector's exporter labels each node's series with the node's own job and
        // instance (service.name, service.instance.id): honoured on that job only, so push
        // series carry the same label names as pull series and tell nodes apart; every other
        // target keeps the job and instance Prometheus gives it.
        assert_eq!(
            config
                .get("honor_labels")
                .and_then(Yaml::as_bool)
                .unwrap_or(false),
            job == "otel-collector-exporter",
            "honor_labels of job {job}"
        );
    }
}

// ---------------------------------------------------------------------------
// The rules: complete, documented, tested
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Rule {
    file: String,
    group: String,
    alert: String,
    expr: String,
    for_secs: f64,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Rule {
    fn severity(&self) -> &str {
        self.labels.get("severity").map_or("", String::as_str)
    }

    fn id(&self) -> String {
        format!("{} ({}, {})", self.alert, self.severity(), self.file)
    }
}

/// A string map (`labels:`, `annotations:`); every value must be a scalar.
fn string_map(node: Option<&Yaml>, what: &str) -> BTreeMap<String, String> {
    node.and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let k = scalar(k).unwrap_or_else(|| panic!("{what}: a key is not a scalar: {k:?}"));
            let v = scalar(v).unwrap_or_else(|| panic!("{what}: {k} is not a scalar: {v:?}"));
            (k, v)
        })
        .collect()
}

fn load_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for path in yml_files("rules") {
        let file = file_name(&path);
        let doc = parse_yaml_file(&path);
        let groups = doc.get("groups").map(seq).unwrap_or_default();
        assert!(!groups.is_empty(), "{file}: no groups");
        for group in groups {
            let group_name = group
                .get("name")
                .and_then(Yaml::as_str)
                .expect("group name");
            for rule in group.get("rules").map(seq).unwrap_or_default() {
                let Some(alert) = rule.get("alert").and_then(Yaml::as_str) else {
                    continue; // a recording rule
                };
                let what = format!("{file}: {alert}");
                rules.push(Rule {
                    file: file.clone(),
                    group: group_name.to_string(),
                    alert: alert.to_string(),
                    expr: rule
                        .get("expr")
                        .and_then(Yaml::as_str)
                        .unwrap_or_else(|| panic!("{what}: no expr"))
                        .to_string(),
                    for_secs: rule
                        .get("for")
                        .and_then(Yaml::as_str)
                        .map_or(0.0, duration_secs),
                    labels: string_map(rule.get("labels"), &what),
                    annotations: string_map(rule.get("annotations"), &what),
                });
            }
        }
    }
    assert!(!rules.is_empty(), "no alert rules in alerts/rules");
    rules
}

#[test]
fn every_alert_has_a_severity_annotations_and_a_runbook() {
    let rules = load_rules();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for rule in &rules {
        let id = rule.id();
        if !SEVERITIES.contains(&rule.severity()) {
            problems.push(format!("{id}: severity must be one of {SEVERITIES:?}"));
        }
        for key in ["summary", "description", "runbook_url"] {
            if rule
                .annotations
                .get(key)
                .is_none_or(|v| v.trim().is_empty())
            {
                problems.push(format!("{id}: no `{key}` annotation"));
            }
        }
        let expected_url = format!("{RUNBOOK_BASE}{}.md", rule.alert);
        if rule.annotations.get("runbook_url") != Some(&expected_url) {
            problems.push(format!("{id}: runbook_url must be {expected_url}"));
        }
        let runbook = alerts_dir()
            .join("runbooks")
            .join(format!("{}.md", rule.alert));
        match fs::read_to_string(&runbook) {
            Err(_) => problems.push(format!("{id}: {} is missing", runbook.display())),
            Ok(text) => {
                if !text.starts_with(&format!("# {}\n", rule.alert)) {
                    problems.push(format!(
                        "{id}: the runbook must start with `# {}`",
                        rule.alert
                    ));
                }
                if !text.contains("```promql") {
                    problems.push(format!("{id}: the runbook has no PromQL to confirm it"));
                }
            }
        }
        // One alert per name, except a warning/critical pair that shares the name so that
        // Alertmanager's inhibition can hide the warning.
        let key = (rule.alert.clone(), rule.severity().to_string());
        if let Some(other) = seen.insert(key, rule.file.clone()) {
            problems.push(format!(
                "{id}: a second rule with this name and severity (also in {other})"
            ));
        }
    }
    let mut by_name: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for rule in &rules {
        by_name.entry(&rule.alert).or_default().push(rule);
    }
    for (name, same) in &by_name {
        let groups: BTreeSet<&str> = same.iter().map(|r| r.group.as_str()).collect();
        if groups.len() > 1 {
            problems.push(format!("{name}: defined in several groups {groups:?}"));
        }
        let severities: BTreeSet<&str> = same.iter().map(|r| r.severity()).collect();
        if same.len() > 1 && severities != BTreeSet::from(["critical", "warning"]) {
            problems.push(format!(
                "{name}: only a warning/critical pair may share a name, found {severities:?}"
            ));
        }
    }
    // The README's table lists every alert.
    let readme = read(&alerts_dir().join("README.md"));
    for name in by_name.keys() {
        if !readme.contains(&format!("| [{name}](runbooks/{name}.md) |")) {
            problems.push(format!("{name}: not in the table of alerts/README.md"));
        }
    }
    // No orphaned runbooks.
    for entry in fs::read_dir(alerts_dir().join("runbooks")).expect("alerts/runbooks") {
        let path = entry.expect("dir entry").path();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !by_name.contains_key(stem.as_str()) {
            problems.push(format!("{}: no alert of that name", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One `alert_rule_test` entry of a promtool test file.
#[derive(Debug)]
struct UnitCase {
    file: String,
    alertname: String,
    /// (exp_labels, exp_annotations) of each expected alert; empty: stays silent.
    expected: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>,
}

fn load_unit_cases() -> Vec<UnitCase> {
    let mut cases = Vec::new();
    for path in yml_files("tests") {
        let file = file_name(&path);
        let doc = parse_yaml_file(&path);
        for test in doc.get("tests").map(seq).unwrap_or_default() {
            for case in test.get("alert_rule_test").map(seq).unwrap_or_default() {
                let alertname = case
                    .get("alertname")
                    .and_then(Yaml::as_str)
                    .unwrap_or_else(|| panic!("{file}: alert_rule_test without alertname"));
                let expected = case
                    .get("exp_alerts")
                    .map(seq)
                    .unwrap_or_default()
                    .iter()
                    .map(|alert| {
                        (
                            string_map(alert.get("exp_labels"), &file),
                            string_map(alert.get("exp_annotations"), &file),
                        )
                    })
                    .collect();
                cases.push(UnitCase {
                    file: file.clone(),
                    alertname: alertname.to_string(),
                    expected,
                });
            }
        }
    }
    cases
}

#[test]
fn every_alert_has_unit_tests_that_see_it_fire_and_stay_silent() {
    let rules = load_rules();
    let cases = load_unit_cases();
    let mut problems = Vec::new();
    for rule in &rules {
        let fires = cases.iter().any(|case| {
            case.alertname == rule.alert
                && case.expected.iter().any(|(labels, annotations)| {
                    labels.get("severity").map(String::as_str) == Some(rule.severity())
                        && annotations.get("summary").is_some_and(|s| !s.is_empty())
                })
        });
        if !fires {
            problems.push(format!(
                "{}: no unit test expects it to fire (exp_alerts with its severity and summary)",
                rule.id()
            ));
        }
        let silent = cases
            .iter()
            .any(|case| case.alertname == rule.alert && case.expected.is_empty());
        if !silent {
            problems.push(format!(
                "{}: no unit test expects it to stay silent (exp_alerts: [])",
                rule.id()
            ));
        }
    }
    let names: BTreeSet<&str> = rules.iter().map(|r| r.alert.as_str()).collect();
    for case in &cases {
        if !names.contains(case.alertname.as_str()) {
            problems.push(format!(
                "{}: tests unknown alert {}",
                case.file, case.alertname
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Metric names and labels against the catalogue
// ---------------------------------------------------------------------------

/// Every series name the rules may use, with its type and labels.
struct Known {
    /// series name -> (type, labels)
    series: BTreeMap<String, (String, BTreeSet<String>)>,
}

impl Known {
    fn load() -> Known {
        let out = Command::new(BIN)
            .args(["catalog", "--format", "json"])
            .output()
            .expect("run alys-telemetry catalog");
        assert!(out.status.success(), "catalog failed: {out:?}");
        let catalog: Value = serde_json::from_slice(&out.stdout).expect("catalog JSON");
        let mut series = BTreeMap::new();
        for metric in catalog["metrics"].as_array().expect("metrics") {
            let kind = metric["type"].as_str().expect("type").to_string();
            let labels: BTreeSet<String> = metric["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .map(|l| l.as_str().expect("label").to_string())
                .collect();
            for name in metric["series_names"].as_array().expect("series_names") {
                let name = name.as_str().expect("series name").to_string();
                let mut labels = labels.clone();
                let kind = if kind == "histogram" {
                    if name.ends_with("_bucket") {
                        labels.insert("le".to_string());
                    }
                    // Histogram series are counters.
                    "counter".to_string()
                } else {
                    kind.clone()
                };
                series.insert(name, (kind, labels));
            }
        }
        assert!(series.len() > 50, "a short catalogue: {series:?}");

        let external = parse_yaml_file(&alerts_dir().join("external-metrics.yml"));
        let listed = external
            .get("metrics")
            .and_then(Yaml::as_mapping)
            .expect("external-metrics.yml: a `metrics` mapping");
        assert!(!listed.is_empty(), "external-metrics.yml lists nothing");
        for (name, def) in listed {
            let name = &name
                .as_str()
                .unwrap_or_else(|| panic!("external-metrics.yml: a name is not a string: {name:?}"))
                .to_string();
            assert!(
                name == "up" || name.starts_with("otel_sdk_") || name.starts_with("otelcol_"),
                "external-metrics.yml may list only up, otel_sdk_* and otelcol_* names: {name}"
            );
            assert!(
                !series.contains_key(name),
                "{name} is in the catalogue; do not list it in external-metrics.yml"
            );
            let kind = def
                .get("type")
                .and_then(Yaml::as_str)
                .filter(|t| ["counter", "gauge"].contains(t))
                .unwrap_or_else(|| panic!("external-metrics.yml: {name} needs type counter|gauge"));
            let labels = def
                .get("labels")
                .map(seq)
                .unwrap_or_default()
                .iter()
                .map(|l| l.as_str().expect("label name").to_string())
                .collect();
            assert!(
                def.get("source").and_then(Yaml::as_str).is_some(),
                "external-metrics.yml: {name} needs a source"
            );
            series.insert(name.clone(), (kind.to_string(), labels));
        }
        Known { series }
    }
}

/// What is wrong with one rule's expression and templates; empty when nothing is.
fn check_rule(rule: &Rule, known: &Known) -> Vec<String> {
    let mut problems = Vec::new();
    let query = match parse_query(&rule.expr) {
        Ok(query) => query,
        Err(e) => return vec![format!("cannot read the expression: {e}")],
    };
    let grouping = query.grouping_labels();
    let range_calls = query.range_calls();
    if query.selectors.is_empty() {
        problems.push("selects no metric".to_string());
    }
    let mut available: BTreeSet<String> = TARGET_LABELS.iter().map(|l| l.to_string()).collect();
    available.insert("le".to_string());
    for selector in &query.selectors {
        let Some(name) = selector.metric.as_deref() else {
            problems.push(format!(
                "{}: a selector without a metric name",
                selector.describe()
            ));
            continue;
        };
        let Some((_, labels)) = known.series.get(name) else {
            problems.push(format!(
                "{name}: not in the catalogue nor in external-metrics.yml"
            ));
            continue;
        };
        available.extend(labels.iter().cloned());
        for matcher in &selector.matchers {
            let label = &matcher.label;
            if !labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                problems.push(format!("{name}: has no label `{label}`"));
            }
        }
        if (name.starts_with("alys_") || name.starts_with("otel_sdk_"))
            && !selector.has(("path", "=", "pull"))
        {
            problems.push(format!(
                "{name}: must select path=\"pull\" (alerting must not depend on the collector)"
            ));
        }
        if name.starts_with("otelcol_") && !selector.has(("job", "=", "otel-collector")) {
            problems.push(format!("{name}: must select job=\"otel-collector\""));
        }
        if name == "up" && !selector.matchers.iter().any(|m| m.label == "job") {
            problems.push("up: must select the job it watches".to_string());
        }
    }
    for label in &grouping {
        if !available.contains(label) {
            problems.push(format!(
                "groups by `{label}`, which none of its metrics has"
            ));
        }
    }
    for (key, text) in rule.annotations.iter().chain(&rule.labels) {
        for label in template_labels(text) {
            if !available.contains(&label) {
                problems.push(format!(
                    "{key} uses $labels.{label}, which none of its metrics has"
                ));
            }
        }
    }
    for (function, metric) in &range_calls {
        let Some((kind, _)) = known.series.get(metric) else {
            continue;
        };
        let needs_counter = ["rate", "irate", "increase", "resets"].contains(&function.as_str());
        let needs_gauge =
            ["delta", "idelta", "deriv", "predict_linear"].contains(&function.as_str());
        if needs_counter && kind != "counter" {
            problems.push(format!("{function}() of the {kind} {metric}"));
        }
        if needs_gauge && kind == "counter" {
            problems.push(format!("{function}() of the counter {metric}"));
        }
    }
    if query.functions().contains("histogram_quantile") {
        if !grouping.contains("le") {
            problems.push("histogram_quantile without `le` in its aggregation".to_string());
        }
        if !range_calls
            .iter()
            .any(|(f, m)| f == "rate" && m.ends_with("_bucket"))
        {
            problems.push("histogram_quantile not over rate() of a _bucket series".to_string());
        }
    }
    problems
}

/// The label names a template reads with `$labels.NAME`.
fn template_labels(text: &str) -> Vec<String> {
    text.match_indices("$labels.")
        .map(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_metric_and_label_in_the_rules_exists() {
    let known = Known::load();
    let mut problems = Vec::new();
    for rule in load_rules() {
        for problem in check_rule(&rule, &known) {
            problems.push(format!("{}: {problem}", rule.id()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rule_checks_reject_known_mistakes() {
    let known = Known::load();
    let rule = |expr: &str, description: &str| Rule {
        file: "fixture.yml".into(),
        group: "fixture".into(),
        alert: "Fixture".into(),
        expr: expr.into(),
        for_secs: 0.0,
        labels: BTreeMap::from([("severity".into(), "warning".into())]),
        annotations: BTreeMap::from([("description".into(), description.into())]),
    };
    let problems = |expr: &str, description: &str| check_rule(&rule(expr, description), &known);

    // Corrected forms pass.
    assert_eq!(
        problems(
            r#"histogram_quantile(0.99, sum by (le, actor_type) (rate(alys_actor_message_latency_seconds_bucket{path="pull"}[5m]))) > 1"#,
            "{{ $labels.actor_type }} {{ $value }}"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        problems(
            r#"changes(alys_sync_current_height{path="pull"}[10m]) == 0 and alys_sync_state{path="pull"} < 4"#,
            ""
        ),
        Vec::<String>::new()
    );
    // Each mistake (most of them in the rules first specified for Alys) is caught.
    let cases = [
        (
            "histogram_quantile(0.99, alys_actor_message_latency_seconds) > 1.0",
            "",
            "not in the catalogue",
        ),
        (
            r#"rate(alys_migration_progress_percent{path="pull"}[5m]) == 0"#,
            "",
            "rate() of the gauge",
        ),
        (
            r#"alys_actor_mailbox_size{path="pull"} > 1000"#,
            "Actor {{ $labels.actor }} has {{ $value }} messages",
            "$labels.actor,",
        ),
        (
            r#"sum by (actor) (alys_actor_restarts_total{path="pull"}) > 5"#,
            "",
            "groups by `actor`",
        ),
        ("alys_sync_state == 5", "", "must select path=\"pull\""),
        (
            r#"alys_sync_state{path="pull", phase="x"} == 5"#,
            "",
            "has no label `phase`",
        ),
        (
            r#"{__name__="alys_sync_state", path="pull"} == 5"#,
            "",
            "a selector without a metric name",
        ),
        (
            r#"histogram_quantil(0.9, x{path="pull"})"#,
            "",
            "unknown function",
        ),
    ];
    for (expr, description, expected) in cases {
        let found = problems(expr, description);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{expr:?}: expected a problem containing {expected:?}, got {found:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// A real Prometheus scraping the demo
// ---------------------------------------------------------------------------

/// The rule groups Prometheus loaded (`/api/v1/rules`).
fn rule_groups(prometheus: &Prometheus) -> Vec<Value> {
    match http_get(&format!("{}/api/v1/rules", prometheus.url())) {
        Ok((200, body, _)) => {
            serde_json::from_str::<Value>(&body).expect("rules JSON")["data"]["groups"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }
        other => panic!("/api/v1/rules answered {other:?}"),
    }
}

#[test]
fn a_real_prometheus_scraping_the_demo_loads_and_evaluates_every_rule() {
    let rules = load_rules();
    let demo = Demo::start(&["--no-push", "--block-interval", "200ms"], &[]);
    let mut prom = Prometheus::start_yaml(&pull_config(&demo.target(), &yml_files("rules"), None));

    // The node is scraped with the stack's labels, and rates can be computed.
    for ready in [
        r#"up{job="alys-node", path="pull"} == 1"#,
        r#"rate(alys_actor_messages_total{job="alys-node", path="pull"}[1m]) > 0"#,
    ] {
        wait_until(ready, Duration::from_secs(60), || {
            assert!(prom.proc.is_running(), "{}", prom.proc.output_tail(40));
            prom.query(ready).ok().filter(|r| !r.is_empty())
        });
    }

    // Every group is evaluated again after the data arrived, and every rule is healthy.
    let before: BTreeMap<String, String> = rule_groups(&prom)
        .iter()
        .map(|g| (g["name"].to_string(), g["lastEvaluation"].to_string()))
        .collect();
    let groups = wait_until(
        "every rule group evaluated on the demo's data",
        Duration::from_secs(60),
        || {
            let groups = rule_groups(&prom);
            for group in &groups {
                for rule in group["rules"].as_array().into_iter().flatten() {
                    assert_ne!(
                        rule["health"], "err",
                        "rule {} in {} failed: {}",
                        rule["name"], group["file"], rule["lastError"]
                    );
                }
            }
            let evaluated = groups.iter().all(|g| {
                before.get(&g["name"].to_string()) != Some(&g["lastEvaluation"].to_string())
                    && g["rules"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|r| r["health"] == "ok")
            });
            (evaluated && !groups.is_empty()).then_some(groups)
        },
    );

    // Prometheus loaded exactly the rules of the files, as the checks above read them.
    let loaded_files: BTreeSet<String> = groups
        .iter()
        .map(|g| file_name(Path::new(g["file"].as_str().expect("file"))))
        .collect();
    let rule_files: BTreeSet<String> = yml_files("rules").iter().map(|p| file_name(p)).collect();
    assert_eq!(loaded_files, rule_files, "rule files loaded");
    let mut loaded: Vec<(String, String, f64, Value, Value)> = Vec::new();
    for group in &groups {
        for rule in group["rules"].as_array().into_iter().flatten() {
            if rule["type"] == "alerting" {
                loaded.push((
                    group["name"].as_str().unwrap_or_default().to_string(),
                    rule["name"].as_str().unwrap_or_default().to_string(),
                    rule["duration"].as_f64().unwrap_or(-1.0),
                    rule["labels"].clone(),
                    rule["annotations"].clone(),
                ));
            }
        }
    }
    let mut parsed: Vec<(String, String, f64, Value, Value)> = rules
        .iter()
        .map(|r| {
            (
                r.group.clone(),
                r.alert.clone(),
                r.for_secs,
                serde_json::to_value(&r.labels).expect("labels"),
                serde_json::to_value(&r.annotations).expect("annotations"),
            )
        })
        .collect();
    let order = |a: &(String, String, f64, Value, Value),
                 b: &(String, String, f64, Value, Value)| {
        let severity = |v: &Value| v["severity"].as_str().unwrap_or_default().to_string();
        (&a.0, &a.1, severity(&a.3)).cmp(&(&b.0, &b.1, severity(&b.3)))
    };
    loaded.sort_by(order);
    parsed.sort_by(order);
    assert_eq!(
        loaded, parsed,
        "the rules Prometheus loaded vs the rule files"
    );

    // Every alert expression evaluates without error right now, on the demo's data.
    let mut failures = Vec::new();
    for rule in &rules {
        if let Err(e) = prom.query(&rule.expr) {
            failures.push(format!("{}: {e}", rule.id()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(prom.proc.is_running(), "{}", prom.proc.output_tail(40));
    drop(demo);
}

// ---------------------------------------------------------------------------
// The shared PromQL reader (test-support/src/promql.rs)
// ---------------------------------------------------------------------------

#[test]
fn the_promql_reader_finds_selectors_grouping_and_functions() {
    let query = parse_query(
        r#"sum by (instance, job) (rate(a_total{path="pull", x!~"a,b}"}[5m] offset 1m)) / on (instance) group_left
           max(b) without (le) > 0.1 or c unless sum(d{y="1"}) by (z) # d{q="no"}"#,
    )
    .expect("parse");
    let names: Vec<&str> = query
        .selectors
        .iter()
        .filter_map(|s| s.metric.as_deref())
        .collect();
    assert_eq!(names, ["a_total", "b", "c", "d"]);
    let matchers: Vec<(&str, &str, &str)> = query.selectors[0]
        .matchers
        .iter()
        .map(|m| (m.label.as_str(), m.op.as_str(), m.value.as_str()))
        .collect();
    assert_eq!(matchers, [("path", "=", "pull"), ("x", "!~", "a,b}")]);
    assert_eq!(
        query.grouping_labels(),
        BTreeSet::from(["instance", "job", "le", "z"].map(String::from))
    );
    assert_eq!(
        query.range_calls(),
        [("rate".to_string(), "a_total".to_string())]
    );
    let functions = query.functions();
    assert!(functions.contains("sum") && functions.contains("max"));
    assert!(parse_query("rat(a[5m])").is_err());
    // A selector without a metric name is read as such (check_rule refuses it).
    let nameless = parse_query(r#"{__name__="a"}"#).expect("parse");
    assert!(nameless.selectors[0].metric.is_none());
    // Grafana's variables only in dashboards, comments only in rules.
    assert!(parse_query(r#"a{path="pull"}[$__rate_interval]"#).is_ok());
    assert!(parse_query("rate(a[5m]) > $threshold").is_err());
    assert!(support::promql::parse_grafana_query("rate(a[5m]) > $threshold").is_ok());
    assert!(support::promql::parse_grafana_query("a # comment").is_err());
}

/// The YAML of a file.
fn parse_yaml_file(path: &Path) -> Yaml {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The items of a sequence; nothing for anything else.
fn seq(node: &Yaml) -> &[Yaml] {
    node.as_sequence().map_or(&[], Vec::as_slice)
}

/// A scalar as Prometheus reads it into a string (`5`, `true` and `"5"` alike).
fn scalar(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Seconds of a Prometheus duration such as `5m`, `1h30m`, `10s`, `500ms`.
fn duration_secs(text: &str) -> f64 {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                's' => 1.0,
                'm' => 60.0,
                'h' => 3600.0,
                'd' => 86400.0,
                'w' => 604800.0,
                'y' => 31536000.0,
                _ => panic!("bad duration {text:?}"),
            }
        };
        let n: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text:?}"));
        total += n * unit;
        number.clear();
    }
    assert!(number.is_empty(), "bad duration {text:?}");
    total
}
