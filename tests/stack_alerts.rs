//! The alerting part of the stack (`alerts/`): the Prometheus and Alertmanager configs pass
//! their own tools; every alert is complete (severity, annotations, a runbook, promtool unit
//! tests that see it fire and stay silent); every metric and label a rule names exists; and a
//! real Prometheus scraping the demo loads every rule and evaluates it without error.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::node::{BIN, Demo};
use support::{Proc, TempDir, find_binary, free_port, http_get, wait_until};

const RUNBOOK_BASE: &str = "https://github.com/alys/alys-telemetry/blob/main/alerts/runbooks/";
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];
/// Labels Prometheus adds to every scraped series (`path` is the stack's static target label).
const TARGET_LABELS: [&str; 3] = ["instance", "job", "path"];

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts")
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
    let binary = find_binary(tool);
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
        .map(Yaml::seq)
        .unwrap_or_default()
        .iter()
        .find(|r| r.get("receiver").and_then(Yaml::str) == Some("alys-critical"))
        .cloned()
        .expect("a route to alys-critical");
    let group_wait = critical_route
        .get("group_wait")
        .and_then(Yaml::str)
        .map(duration_secs)
        .expect("the critical route sets group_wait");
    assert!(group_wait <= 10.0, "critical group_wait {group_wait}s");
    for receiver in config.get("receivers").map(Yaml::seq).unwrap_or_default() {
        for hook in receiver
            .get("webhook_configs")
            .map(Yaml::seq)
            .unwrap_or_default()
        {
            assert_eq!(
                hook.get("send_resolved").and_then(Yaml::str),
                Some("true"),
                "{receiver:?}"
            );
        }
    }
    // A critical alert inhibits the warning of the same alertname and instance.
    let inhibits = config
        .get("inhibit_rules")
        .map(Yaml::seq)
        .unwrap_or_default();
    let strings = |rule: &Yaml, key: &str| -> Vec<String> {
        rule.get(key)
            .map(Yaml::seq)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.str().map(|s| s.replace(' ', "")))
            .collect()
    };
    assert!(
        inhibits.iter().any(|rule| {
            strings(rule, "source_matchers") == ["severity=\"critical\""]
                && strings(rule, "target_matchers") == ["severity=\"warning\""]
                && ["alertname", "instance"]
                    .iter()
                    .all(|l| strings(rule, "equal").iter().any(|e| e == l))
        }),
        "no inhibit rule critical -> warning on [alertname, instance]: {inhibits:?}"
    );
}

#[test]
fn the_prometheus_config_follows_the_stack_label_conventions() {
    let config = parse_yaml_file(&alerts_dir().join("prometheus.yml"));
    let global = config.get("global").expect("global");
    assert_eq!(
        global.get("scrape_interval").and_then(Yaml::str),
        Some("15s")
    );
    assert_eq!(
        global.get("evaluation_interval").and_then(Yaml::str),
        Some("15s")
    );
    let rule_files: Vec<&str> = config
        .get("rule_files")
        .map(Yaml::seq)
        .unwrap_or_default()
        .iter()
        .filter_map(Yaml::str)
        .collect();
    assert_eq!(rule_files, ["rules/*.yml"]);
    let alertmanagers = format!("{:?}", config.get("alerting"));
    assert!(
        alertmanagers.contains("alertmanager:9093"),
        "{alertmanagers}"
    );

    let jobs: BTreeMap<String, Yaml> = config
        .get("scrape_configs")
        .map(Yaml::seq)
        .unwrap_or_default()
        .iter()
        .map(|job| {
            let name = job.get("job_name").and_then(Yaml::str).expect("job_name");
            (name.to_string(), job.clone())
        })
        .collect();
    for (job, target, path) in [
        ("alys-node", "alys-node:9001", Some("pull")),
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
        let statics = config
            .get("static_configs")
            .map(Yaml::seq)
            .unwrap_or_default();
        assert_eq!(statics.len(), 1, "job {job}");
        let targets: Vec<&str> = statics[0]
            .get("targets")
            .map(Yaml::seq)
            .unwrap_or_default()
            .iter()
            .filter_map(Yaml::str)
            .collect();
        assert_eq!(targets, [target], "targets of job {job}");
        assert_eq!(
            statics[0]
                .get("labels")
                .and_then(|l| l.get("path"))
                .and_then(Yaml::str),
            path,
            "the path label of job {job}"
        );
        // The collector's exporter must not take over job/instance (nor keep `path`).
        assert_ne!(
            config.get("honor_labels").and_then(Yaml::str),
            Some("true"),
            "job {job}"
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
    node.map(Yaml::map)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| {
            let v = v
                .str()
                .unwrap_or_else(|| panic!("{what}: {k} is not a string: {v:?}"));
            (k.clone(), v.to_string())
        })
        .collect()
}

fn load_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for path in yml_files("rules") {
        let file = file_name(&path);
        let doc = parse_yaml_file(&path);
        let groups = doc.get("groups").map(Yaml::seq).unwrap_or_default();
        assert!(!groups.is_empty(), "{file}: no groups");
        for group in groups {
            let group_name = group.get("name").and_then(Yaml::str).expect("group name");
            for rule in group.get("rules").map(Yaml::seq).unwrap_or_default() {
                let Some(alert) = rule.get("alert").and_then(Yaml::str) else {
                    continue; // a recording rule
                };
                let what = format!("{file}: {alert}");
                rules.push(Rule {
                    file: file.clone(),
                    group: group_name.to_string(),
                    alert: alert.to_string(),
                    expr: rule
                        .get("expr")
                        .and_then(Yaml::str)
                        .unwrap_or_else(|| panic!("{what}: no expr"))
                        .to_string(),
                    for_secs: rule
                        .get("for")
                        .and_then(Yaml::str)
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
        for test in doc.get("tests").map(Yaml::seq).unwrap_or_default() {
            for case in test
                .get("alert_rule_test")
                .map(Yaml::seq)
                .unwrap_or_default()
            {
                let alertname = case
                    .get("alertname")
                    .and_then(Yaml::str)
                    .unwrap_or_else(|| panic!("{file}: alert_rule_test without alertname"));
                let expected = case
                    .get("exp_alerts")
                    .map(Yaml::seq)
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
        let listed = external.get("metrics").map(Yaml::map).unwrap_or_default();
        assert!(!listed.is_empty(), "external-metrics.yml lists nothing");
        for (name, def) in listed {
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
                .and_then(Yaml::str)
                .filter(|t| ["counter", "gauge"].contains(t))
                .unwrap_or_else(|| panic!("external-metrics.yml: {name} needs type counter|gauge"));
            let labels = def
                .get("labels")
                .map(Yaml::seq)
                .unwrap_or_default()
                .iter()
                .map(|l| l.str().expect("label name").to_string())
                .collect();
            assert!(
                def.get("source").and_then(Yaml::str).is_some(),
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
    let refs = match extract_promql(&rule.expr) {
        Ok(refs) => refs,
        Err(e) => return vec![format!("cannot read the expression: {e}")],
    };
    if refs.selectors.is_empty() {
        problems.push("selects no metric".to_string());
    }
    let mut available: BTreeSet<String> = TARGET_LABELS.iter().map(|l| l.to_string()).collect();
    available.insert("le".to_string());
    for selector in &refs.selectors {
        let Some((_, labels)) = known.series.get(&selector.name) else {
            problems.push(format!(
                "{}: not in the catalogue nor in external-metrics.yml",
                selector.name
            ));
            continue;
        };
        available.extend(labels.iter().cloned());
        for (label, _, _) in &selector.matchers {
            if !labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                problems.push(format!("{}: has no label `{label}`", selector.name));
            }
        }
        let has = |label: &str, value: &str| {
            selector
                .matchers
                .iter()
                .any(|(l, op, v)| l == label && op == "=" && v == value)
        };
        if (selector.name.starts_with("alys_") || selector.name.starts_with("otel_sdk_"))
            && !has("path", "pull")
        {
            problems.push(format!(
                "{}: must select path=\"pull\" (alerting must not depend on the collector)",
                selector.name
            ));
        }
        if selector.name.starts_with("otelcol_") && !has("job", "otel-collector") {
            problems.push(format!(
                "{}: must select job=\"otel-collector\"",
                selector.name
            ));
        }
        if selector.name == "up" && !selector.matchers.iter().any(|(l, _, _)| l == "job") {
            problems.push("up: must select the job it watches".to_string());
        }
    }
    for label in &refs.grouping {
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
    for (function, metric) in &refs.range_calls {
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
    if refs.functions.contains("histogram_quantile") {
        if !refs.grouping.contains("le") {
            problems.push("histogram_quantile without `le` in its aggregation".to_string());
        }
        if !refs
            .range_calls
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
fn the_rule_checks_reject_the_seeds_mistakes() {
    let known = Known::load();
    let rule = |expr: &str, description: &str| Rule {
        file: "seed".into(),
        group: "seed".into(),
        alert: "Seed".into(),
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
    // Each seed mistake is caught.
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

/// A Prometheus 2.42 with our rule files, scraping one target as job `alys-node` with
/// `path="pull"`, the way the stack's prometheus.yml does (every second here).
struct RulesPrometheus {
    port: u16,
    proc: Proc,
    // After `proc`: the config and TSDB outlive the process.
    _dir: TempDir,
}

impl RulesPrometheus {
    fn start(target: &str) -> RulesPrometheus {
        let dir = TempDir::new("stack-alerts-prometheus");
        let quote = |s: &str| Value::from(s).to_string();
        let rules_glob = alerts_dir().join("rules").join("*.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: alys-node\n    static_configs:\n      \
             - targets: [{}]\n        labels:\n          path: pull\n",
            quote(&rules_glob.to_string_lossy()),
            quote(target)
        );
        let config_path = dir.join("prometheus.yml");
        fs::write(&config_path, config).expect("write prometheus.yml");
        let binary = find_binary("prometheus");
        for attempt in 1..=3 {
            let port = free_port();
            let mut cmd = Command::new(&binary);
            cmd.arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"));
            let mut proc = Proc::spawn(cmd, "prometheus");
            let ready = wait_until(
                "Prometheus ready or exited",
                Duration::from_secs(30),
                || {
                    if !proc.is_running() {
                        return Some(false);
                    }
                    matches!(
                        http_get(&format!("http://127.0.0.1:{port}/-/ready")),
                        Ok((200, _, _))
                    )
                    .then_some(true)
                },
            );
            if ready {
                return RulesPrometheus {
                    port,
                    proc,
                    _dir: dir,
                };
            }
            let output = format!("{}{}", proc.stdout(), proc.stderr());
            assert!(
                output.contains("address already in use") && attempt < 3,
                "prometheus exited during startup\n{}",
                proc.output_tail(40)
            );
        }
        unreachable!("the last attempt returns or panics")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Instant query: `data.result`, or Prometheus's error.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let url = reqwest::Url::parse_with_params(&self.url("/api/v1/query"), [("query", promql)])
            .map_err(|e| e.to_string())?;
        let (status, body, _) = http_get(url.as_str())?;
        let json: Value = serde_json::from_str(&body)
            .map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
        if json["status"] != "success" {
            return Err(format!("HTTP {status}: {}", json["error"]));
        }
        Ok(json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    fn rule_groups(&self) -> Vec<Value> {
        match http_get(&self.url("/api/v1/rules")) {
            Ok((200, body, _)) => serde_json::from_str::<Value>(&body).expect("rules JSON")["data"]
                ["groups"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            other => panic!("/api/v1/rules answered {other:?}"),
        }
    }
}

#[test]
fn a_real_prometheus_scraping_the_demo_loads_and_evaluates_every_rule() {
    let rules = load_rules();
    let demo = Demo::start(&["--no-push", "--block-interval", "200ms"], &[]);
    let mut prom = RulesPrometheus::start(&demo.target());

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
    let before: BTreeMap<String, String> = prom
        .rule_groups()
        .iter()
        .map(|g| (g["name"].to_string(), g["lastEvaluation"].to_string()))
        .collect();
    let groups = wait_until(
        "every rule group evaluated on the demo's data",
        Duration::from_secs(60),
        || {
            let groups = prom.rule_groups();
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
// A small PromQL reader: metric selectors, grouping labels, functions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num,
    Str(String),
    Op(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Range,
}

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' | '\'' | '`' => {
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    if ch == c {
                        break;
                    }
                    if ch == '\\' && c != '`' {
                        let Some(&escaped) = chars.get(i) else {
                            return Err("unterminated string".into());
                        };
                        i += 1;
                        value.push(escaped);
                    } else {
                        value.push(ch);
                    }
                }
                toks.push(Tok::Str(value));
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                if i == chars.len() {
                    return Err("unterminated [".into());
                }
                i += 1;
                toks.push(Tok::Range);
            }
            '(' | ')' | '{' | '}' | ',' => {
                toks.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                toks.push(Tok::Num);
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["=~", "!~", "!=", "==", ">=", "<="].contains(&two.as_str()) {
                    two
                } else if "=<>+-*/%^@".contains(c) {
                    c.to_string()
                } else {
                    return Err(format!("unexpected character {c:?}"));
                };
                i += op.chars().count();
                toks.push(Tok::Op(op));
            }
        }
    }
    Ok(toks)
}

const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];
const AGGREGATIONS: [&str; 13] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
];
const FUNCTIONS: [&str; 69] = [
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
];
/// Functions whose first argument is a range of one metric: (function, metric) is recorded.
const RANGE_FUNCTIONS: [&str; 8] = [
    "rate", "irate", "increase", "resets", "delta", "idelta", "deriv", "changes",
];

#[derive(Debug, Default)]
struct PromRefs {
    selectors: Vec<Selector>,
    /// Label names in by/without/on/ignoring/group_left/group_right lists.
    grouping: BTreeSet<String>,
    functions: BTreeSet<String>,
    /// (function, metric) for range functions applied directly to a selector.
    range_calls: Vec<(String, String)>,
}

#[derive(Debug)]
struct Selector {
    name: String,
    /// (label, operator, value)
    matchers: Vec<(String, String, String)>,
}

fn extract_promql(expr: &str) -> Result<PromRefs, String> {
    let toks = tokenize(expr)?;
    let mut refs = PromRefs::default();
    let ident = |t: Option<&Tok>| match t {
        Some(Tok::Ident(s)) => Some(s.clone()),
        _ => None,
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(word) => {
                let lower = word.to_ascii_lowercase();
                let next = toks.get(i + 1);
                if GROUPING.contains(&lower.as_str()) {
                    i += 1;
                    if next == Some(&Tok::LParen) {
                        i += 1;
                        while let Some(tok) = toks.get(i) {
                            i += 1;
                            match tok {
                                Tok::RParen => break,
                                Tok::Ident(label) => {
                                    refs.grouping.insert(label.clone());
                                }
                                Tok::Comma => {}
                                other => {
                                    return Err(format!("unexpected {other:?} in {word}(...)"));
                                }
                            }
                        }
                    }
                    continue;
                }
                if KEYWORDS.contains(&lower.as_str()) {
                    i += 1;
                    continue;
                }
                let aggregation = AGGREGATIONS.contains(&lower.as_str());
                if next == Some(&Tok::LParen)
                    || (aggregation
                        && ident(next).is_some_and(|n| ["by", "without"].contains(&n.as_str())))
                {
                    if !aggregation && !FUNCTIONS.contains(&word.as_str()) {
                        return Err(format!("unknown function {word}"));
                    }
                    refs.functions.insert(lower.clone());
                    if RANGE_FUNCTIONS.contains(&word.as_str())
                        && let Some(metric) = ident(toks.get(i + 2))
                    {
                        refs.range_calls.push((word.clone(), metric));
                    }
                    i += 1;
                    continue;
                }
                // A metric selector.
                let mut selector = Selector {
                    name: word.clone(),
                    matchers: Vec::new(),
                };
                i += 1;
                if toks.get(i) == Some(&Tok::LBrace) {
                    i += 1;
                    loop {
                        match (toks.get(i), toks.get(i + 1), toks.get(i + 2)) {
                            (Some(Tok::RBrace), _, _) => {
                                i += 1;
                                break;
                            }
                            (Some(Tok::Comma), _, _) => i += 1,
                            (Some(Tok::Ident(label)), Some(Tok::Op(op)), Some(Tok::Str(value)))
                                if ["=", "!=", "=~", "!~"].contains(&op.as_str()) =>
                            {
                                selector
                                    .matchers
                                    .push((label.clone(), op.clone(), value.clone()));
                                i += 3;
                            }
                            other => {
                                return Err(format!("bad matcher in {word}{{...}}: {other:?}"));
                            }
                        }
                    }
                }
                refs.selectors.push(selector);
            }
            Tok::LBrace => return Err("a selector without a metric name".into()),
            _ => i += 1,
        }
    }
    Ok(refs)
}

#[test]
fn the_promql_reader_finds_selectors_grouping_and_functions() {
    let refs = extract_promql(
        r#"sum by (instance, job) (rate(a_total{path="pull", x!~"a,b}"}[5m] offset 1m)) / on (instance) group_left
           max(b) without (le) > 0.1 or c unless sum(d{y="1"}) by (z) # d{q="no"}"#,
    )
    .expect("parse");
    let names: Vec<&str> = refs.selectors.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a_total", "b", "c", "d"]);
    assert_eq!(
        refs.selectors[0].matchers,
        [
            ("path".to_string(), "=".to_string(), "pull".to_string()),
            ("x".to_string(), "!~".to_string(), "a,b}".to_string())
        ]
    );
    assert_eq!(
        refs.grouping,
        BTreeSet::from(["instance", "job", "le", "z"].map(String::from))
    );
    assert_eq!(
        refs.range_calls,
        [("rate".to_string(), "a_total".to_string())]
    );
    assert!(refs.functions.contains("sum") && refs.functions.contains("max"));
    assert!(extract_promql("rat(a[5m])").is_err());
    assert!(extract_promql(r#"{__name__="a"}"#).is_err());
}

// ---------------------------------------------------------------------------
// A YAML subset reader (no YAML crate among the dependencies)
//
// Block mappings and sequences (also `- key: value` items), plain, single- and
// double-quoted scalars, flow sequences of scalars (`[a, 'b']`), `{}`, literal and folded
// block scalars (`|`, `|-`, `>`, `>-`), comments. Anything else is an error, never a
// silent misreading; the live test also compares what it reads with what Prometheus loads.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Null,
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        self.map().iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    fn seq(&self) -> &[Yaml] {
        match self {
            Yaml::Seq(items) => items,
            _ => &[],
        }
    }

    fn map(&self) -> &[(String, Yaml)] {
        match self {
            Yaml::Map(entries) => entries,
            _ => &[],
        }
    }
}

fn parse_yaml_file(path: &Path) -> Yaml {
    parse_yaml(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct YamlLine {
    no: usize,
    indent: usize,
    /// The line without its indentation (and without a trailing `\r`).
    text: String,
}

struct YamlReader {
    lines: Vec<YamlLine>,
}

fn parse_yaml(src: &str) -> Result<Yaml, String> {
    let mut lines = Vec::new();
    for (no, raw) in src.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        let text = raw.trim_start_matches(' ');
        if text.starts_with('\t') {
            return Err(format!("line {}: tab indentation", no + 1));
        }
        lines.push(YamlLine {
            no: no + 1,
            indent: raw.len() - text.len(),
            text: text.trim_end().to_string(),
        });
    }
    let mut reader = YamlReader { lines };
    let mut i = 0;
    let doc = reader.node(&mut i, 0)?;
    if let Some(j) = reader.next_significant(i) {
        return Err(reader.error(j, "unexpected content"));
    }
    Ok(doc)
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: value` at the first `:` that is outside quotes and followed by a space or
/// the end of the line.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let start = match text.chars().next() {
        Some(q @ ('"' | '\'')) => text[1..].find(q)? + 2,
        _ => 0,
    };
    let rest = &text[start..];
    for (at, c) in rest.char_indices() {
        if c == '#' && (at == 0 || rest[..at].ends_with(' ')) {
            return None;
        }
        if c == ':' {
            let after = &rest[at + 1..];
            if after.is_empty() || after.starts_with(' ') {
                return Some((&text[..start + at], after));
            }
        }
    }
    None
}

/// `text` up to a comment (`#` at the start or after a space, outside quotes).
fn strip_comment(text: &str) -> &str {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut quote: Option<char> = None;
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        let prev = if k == 0 { ' ' } else { chars[k - 1].1 };
        match quote {
            Some('"') if c == '\\' => k += 1,
            Some('\'') if c == '\'' && chars.get(k + 1).is_some_and(|n| n.1 == '\'') => k += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && " [,".contains(prev) => quote = Some(c),
            None if c == '#' && prev == ' ' => return text[..at].trim_end(),
            None => {}
        }
        k += 1;
    }
    text.trim_end()
}

fn scalar(text: &str) -> Result<Yaml, String> {
    let text = strip_comment(text).trim();
    let quoted = |q: char| -> Result<(String, &str), String> {
        let mut value = String::new();
        let mut chars = text[1..].char_indices();
        while let Some((at, c)) = chars.next() {
            if c == q {
                if q == '\'' && text[1 + at + 1..].starts_with('\'') {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                return Ok((value, text[1 + at + 1..].trim()));
            }
            if q == '"' && c == '\\' {
                let (_, e) = chars.next().ok_or("unterminated escape")?;
                value.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    '"' | '\\' | '/' => e,
                    other => return Err(format!("unsupported escape \\{other}")),
                });
                continue;
            }
            value.push(c);
        }
        Err(format!("unterminated quoted scalar: {text}"))
    };
    match text.chars().next() {
        None => Ok(Yaml::Null),
        Some(q @ ('"' | '\'')) => {
            let (value, rest) = quoted(q)?;
            if !rest.is_empty() {
                return Err(format!("text after a quoted scalar: {text}"));
            }
            Ok(Yaml::Str(value))
        }
        Some('[') => {
            let inner = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .ok_or_else(|| format!("unsupported flow sequence: {text}"))?;
            let mut items = Vec::new();
            let mut quote: Option<char> = None;
            let mut current = String::new();
            for c in inner.chars() {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == '"' || c == '\'' => quote = Some(c),
                    None if c == ',' => {
                        items.push(scalar(&current)?);
                        current.clear();
                        continue;
                    }
                    None if "[]{}".contains(c) => {
                        return Err(format!("nested flow collections: {text}"));
                    }
                    None => {}
                }
                current.push(c);
            }
            if !current.trim().is_empty() || !items.is_empty() {
                items.push(scalar(&current)?);
            }
            Ok(Yaml::Seq(items))
        }
        Some('{') if text == "{}" => Ok(Yaml::Map(Vec::new())),
        Some(c) if "{&*!|>%@`".contains(c) => Err(format!("unsupported YAML: {text}")),
        _ if text == "~" || text == "null" => Ok(Yaml::Null),
        _ => Ok(Yaml::Str(text.to_string())),
    }
}

impl YamlReader {
    fn error(&self, at: usize, what: &str) -> String {
        let line = &self.lines[at];
        format!("line {}: {what}: {}", line.no, line.text)
    }

    fn next_significant(&self, mut i: usize) -> Option<usize> {
        while let Some(line) = self.lines.get(i) {
            if line.text.is_empty() || line.text.starts_with('#') {
                i += 1;
            } else {
                return Some(i);
            }
        }
        None
    }

    /// The node starting at the next significant line, if it is indented at least `min`.
    fn node(&mut self, i: &mut usize, min: usize) -> Result<Yaml, String> {
        let Some(j) = self.next_significant(*i) else {
            return Ok(Yaml::Null);
        };
        let indent = self.lines[j].indent;
        if indent < min {
            return Ok(Yaml::Null);
        }
        if self.lines[j].text == "---" || self.lines[j].text == "..." {
            return Err(self.error(j, "documents markers are not supported"));
        }
        *i = j;
        if is_seq_item(&self.lines[j].text) {
            self.sequence(i, indent)
        } else {
            self.mapping(i, indent)
        }
    }

    fn sequence(&mut self, i: &mut usize, indent: usize) -> Result<Yaml, String> {
        let mut items = Vec::new();
        while let Some(j) = self.next_significant(*i) {
            let line_indent = self.lines[j].indent;
            let text = self.lines[j].text.clone();
            if line_indent > indent {
                return Err(self.error(j, "unexpected indentation"));
            }
            if line_indent < indent || !is_seq_item(&text) {
                break;
            }
            let rest = text[1..].trim_start();
            let offset = text.len() - rest.len();
            if rest.is_empty() || rest.starts_with('#') {
                *i = j + 1;
                items.push(self.node(i, indent + 1)?);
            } else if is_seq_item(rest) {
                return Err(self.error(j, "nested sequences on one line are not supported"));
            } else if split_key(rest).is_some() {
                // A mapping that starts on the item's line: read that line at the
                // indentation of its first key.
                self.lines[j].indent = indent + offset;
                self.lines[j].text = rest.to_string();
                *i = j;
                items.push(self.mapping(i, indent + offset)?);
            } else {
                items.push(scalar(rest).map_err(|e| self.error(j, &e))?);
                *i = j + 1;
            }
        }
        Ok(Yaml::Seq(items))
    }

    fn mapping(&mut self, i: &mut usize, indent: usize) -> Result<Yaml, String> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        while let Some(j) = self.next_significant(*i) {
            let line_indent = self.lines[j].indent;
            let text = self.lines[j].text.clone();
            if line_indent < indent {
                break;
            }
            if line_indent > indent || is_seq_item(&text) {
                return Err(self.error(j, "unexpected line in a mapping"));
            }
            let (raw_key, raw_value) =
                split_key(&text).ok_or_else(|| self.error(j, "expected `key: value`"))?;
            let key = match scalar(raw_key).map_err(|e| self.error(j, &e))? {
                Yaml::Str(key) => key,
                _ => return Err(self.error(j, "bad key")),
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(self.error(j, "duplicate key"));
            }
            let value = strip_comment(raw_value).trim();
            *i = j + 1;
            let node = if value.is_empty() {
                match self.next_significant(*i) {
                    Some(k) if self.lines[k].indent > indent => self.node(i, indent + 1)?,
                    Some(k)
                        if self.lines[k].indent == indent && is_seq_item(&self.lines[k].text) =>
                    {
                        *i = k;
                        self.sequence(i, indent)?
                    }
                    _ => Yaml::Null,
                }
            } else if value.starts_with('|') || value.starts_with('>') {
                self.block_scalar(i, indent, value)
                    .map_err(|e| self.error(j, &e))?
            } else {
                let node = scalar(value).map_err(|e| self.error(j, &e))?;
                if let Some(k) = self.next_significant(*i)
                    && self.lines[k].indent > indent
                {
                    return Err(self.error(k, "multi-line plain scalars are not supported"));
                }
                node
            };
            entries.push((key, node));
        }
        Ok(Yaml::Map(entries))
    }

    /// A `|` or `>` scalar whose content lines are indented more than `parent`.
    fn block_scalar(&mut self, i: &mut usize, parent: usize, header: &str) -> Result<Yaml, String> {
        let (folded, chomp) = match header {
            "|" => (false, ""),
            "|-" => (false, "-"),
            ">" => (true, ""),
            ">-" => (true, "-"),
            other => return Err(format!("unsupported block scalar header {other}")),
        };
        let mut content: Vec<(usize, String)> = Vec::new();
        while let Some(line) = self.lines.get(*i) {
            if !line.text.is_empty() && line.indent <= parent {
                break;
            }
            content.push((line.indent, line.text.clone()));
            *i += 1;
        }
        while content.last().is_some_and(|(_, t)| t.is_empty()) {
            content.pop();
        }
        let base = content
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(indent, _)| *indent)
            .min()
            .unwrap_or(parent + 1);
        let lines: Vec<String> = content
            .iter()
            .map(|(indent, t)| {
                if t.is_empty() {
                    String::new()
                } else {
                    format!("{}{t}", " ".repeat(indent - base))
                }
            })
            .collect();
        let mut text = if folded {
            if lines.iter().any(|l| l.starts_with(' ')) {
                return Err("more-indented lines in a folded scalar are not supported".into());
            }
            let mut out = String::new();
            for (n, line) in lines.iter().enumerate() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    if n > 0 && !lines[n - 1].is_empty() {
                        out.push(' ');
                    }
                    out.push_str(line);
                }
            }
            out
        } else {
            lines.join("\n")
        };
        if chomp != "-" && !text.is_empty() {
            text.push('\n');
        }
        Ok(Yaml::Str(text))
    }
}

#[test]
fn the_yaml_reader_reads_the_subset_and_refuses_the_rest() {
    let doc = parse_yaml(
        "# comment\n\
         a: plain # trailing\n\
         b: 'it''s: # not a comment'\n\
         c: \"q \\\"x\\\" y\"\n\
         d: [x, 'y, z', \"w\"]\n\
         e: []\n\
         list:\n\
         \x20 - k: v\n\
         \x20   m:\n\
         \x20     n: 1\n\
         \x20 - scalar item\n\
         same_indent:\n\
         - one\n\
         - two\n\
         lit: |\n\
         \x20 line 1\n\
         \x20   # kept\n\
         \n\
         \x20 line 2\n\
         fold: >-\n\
         \x20 a\n\
         \x20 b\n\
         url: http://x:5001/alerts\n\
         empty:\n",
    )
    .expect("parse");
    let s = |v: &str| Yaml::Str(v.to_string());
    assert_eq!(doc.get("a"), Some(&s("plain")));
    assert_eq!(doc.get("b"), Some(&s("it's: # not a comment")));
    assert_eq!(doc.get("c"), Some(&s("q \"x\" y")));
    assert_eq!(
        doc.get("d"),
        Some(&Yaml::Seq(vec![s("x"), s("y, z"), s("w")]))
    );
    assert_eq!(doc.get("e"), Some(&Yaml::Seq(vec![])));
    let list = doc.get("list").map(Yaml::seq).expect("list");
    assert_eq!(list[0].get("k"), Some(&s("v")));
    assert_eq!(list[0].get("m").and_then(|m| m.get("n")), Some(&s("1")));
    assert_eq!(list[1], s("scalar item"));
    assert_eq!(
        doc.get("same_indent"),
        Some(&Yaml::Seq(vec![s("one"), s("two")]))
    );
    assert_eq!(doc.get("lit"), Some(&s("line 1\n  # kept\n\nline 2\n")));
    assert_eq!(doc.get("fold"), Some(&s("a b")));
    assert_eq!(doc.get("url"), Some(&s("http://x:5001/alerts")));
    assert_eq!(doc.get("empty"), Some(&Yaml::Null));

    for bad in [
        "a: &anchor x\n",
        "a: *alias\n",
        "a: {b: c}\n",
        "a: b\na: c\n",
        "a: multi\n  line\n",
        "a: |2\n  x\n",
        "\ta: b\n",
    ] {
        assert!(parse_yaml(bad).is_err(), "{bad:?} should be refused");
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
