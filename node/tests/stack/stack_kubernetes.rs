//! deploy/kubernetes, checked with the programs that consume it: rendered by the real
//! kustomize (the telemetry tier, and alys-node/, a node's side of the secured pull endpoint),
//! validated by kubeconform against the Kubernetes API's schemas (from the pinned
//! k8s.io/kubernetes OpenAPI spec) and the Prometheus Operator's CRD schemas kept in
//! deploy/kubernetes/schemas, scored by kube-score (nothing CRITICAL but what README.md
//! explains), every collector config in it accepted by the real collector, the
//! PrometheusRules equal to alerts/rules, and what operators expect of each workload:
//! requests and limits, non-root, distinct probes, a memory limiter under the limit,
//! NetworkPolicies that open only the documented paths, the nodes scraped over TLS with basic
//! auth from Secrets that exist.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;

use crate::support::TempDir;
use crate::support::stack::{self, Programs};

fn repo() -> PathBuf {
    stack::repo()
}

fn programs() -> Programs {
    Programs::load(&repo())
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(programs().tool(program))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The telemetry tier (what `kubectl apply -k deploy/kubernetes` applies).
const TIER: &str = "deploy/kubernetes";
/// A node's side of the secured pull endpoint, with the demo node as the example.
const NODE: &str = "deploy/kubernetes/alys-node";

/// `kustomize build <dir>`: the text and its objects.
fn rendered_from(dir: &str) -> (String, Vec<Value>) {
    let (ok, text) = run("kustomize", &["build", dir]);
    assert!(ok, "kustomize build {dir} failed:\n{text}");
    let objects = documents(&text);
    (text, objects)
}

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("kustomize prints YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// `kustomize build deploy/kubernetes`: the text and its objects.
fn rendered() -> (String, Vec<Value>) {
    rendered_from(TIER)
}

/// Both kustomizations' objects.
fn rendered_all() -> Vec<Value> {
    let mut objects = rendered_from(TIER).1;
    objects.extend(rendered_from(NODE).1);
    objects
}

fn namespace(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or("")
}

fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or("")
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// kubeconform, strict, offline, on `yaml`: (valid, its report).
fn kubeconform(yaml: &str) -> (bool, String) {
    let dir = TempDir::new("kubeconform");
    let file = dir.join("manifests.yaml");
    std::fs::write(&file, yaml).expect("write the manifests");
    let schemas = repo().join("target/stack-programs/kubernetes-schemas");
    assert!(
        schemas.join("_definitions.json").is_file(),
        "{} is missing: run scripts/kubernetes-schemas.py core (scripts/install-test-deps.sh does)",
        schemas.display()
    );
    let core = format!(
        "{}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        schemas.display()
    );
    let crds = format!(
        "{}/deploy/kubernetes/schemas/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        repo().display()
    );
    run(
        "kubeconform",
        &[
            "-strict",
            "-summary",
            "-schema-location",
            &core,
            "-schema-location",
            &crds,
            file.to_str().expect("a UTF-8 path"),
        ],
    )
}

#[test]
fn the_generated_manifests_are_current() {
    let out = Command::new("python3")
        .arg(repo().join("scripts/generate-kubernetes.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kustomize_renders_what_an_operator_applies_and_kubeconform_accepts_all_of_it() {
    for dir in [TIER, NODE] {
        let (text, objects) = rendered_from(dir);
        let (ok, report) = kubeconform(&text);
        assert!(ok, "kubeconform refuses {dir}:\n{report}");
        assert!(
            report.contains(&format!("Valid: {}", objects.len())) && report.contains("Skipped: 0"),
            "{dir}: every object validated against a schema, none skipped: {report}"
        );
    }
    let (_, objects) = rendered();
    let count = |k: &str| objects.iter().filter(|o| kind(o) == k).count();
    assert_eq!(count("DaemonSet"), 1, "the agent on every node");
    assert_eq!(count("ServiceMonitor"), 1);
    assert_eq!(count("PodMonitor"), 2);
    let rule_files = std::fs::read_dir(repo().join("alerts/rules"))
        .expect("alerts/rules")
        .count();
    assert_eq!(
        count("PrometheusRule"),
        rule_files,
        "one PrometheusRule per rule file"
    );
    let dashboards = objects
        .iter()
        .filter(|o| kind(o) == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .count();
    assert_eq!(
        dashboards,
        support::dashboards::load().len(),
        "one ConfigMap per dashboard"
    );
    // The agents resolve the gateways through a headless Service.
    let headless = objects
        .iter()
        .find(|o| kind(o) == "Service" && name(o) == "otel-gateway-headless")
        .expect("the gateways' headless Service");
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
    let agent = objects
        .iter()
        .find(|o| kind(o) == "DaemonSet")
        .expect("agent");
    let env = &agent["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_sequence()
            .into_iter()
            .flatten()
            .any(|e| e["name"] == "ALYS_GATEWAYS"
                && e["value"].as_str() == Some("otel-gateway-headless")),
        "the agents look up the headless Service: {env:?}"
    );
}

#[test]
fn kubeconform_refuses_a_misspelt_field_and_a_wrong_type() {
    let (text, _) = rendered();
    for (from, to) in [
        ("  replicas: 2", "  replica: 2"),
        ("containerPort: 4317", "containerPort: four"),
    ] {
        assert!(text.contains(from), "{from}");
        let (ok, report) = kubeconform(&text.replacen(from, to, 1));
        assert!(!ok, "kubeconform accepted {to:?}:\n{report}");
    }
}

/// The config files the ConfigMaps carry, by ConfigMap and key.
fn config_files(objects: &[Value]) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter(|o| kind(o) == "ConfigMap")
        .flat_map(|o| {
            o["data"]
                .as_mapping()
                .into_iter()
                .flatten()
                .map(move |(k, v)| {
                    (
                        format!("{}/{}", name(o), k.as_str().unwrap_or("")),
                        v.as_str().unwrap_or("").to_string(),
                    )
                })
        })
        .collect()
}

#[test]
fn every_collector_config_in_the_manifests_is_accepted_by_the_collector() {
    let (_, objects) = rendered();
    let files = config_files(&objects);
    let dir = TempDir::new("k8s-configs");
    let mut checked = BTreeSet::new();
    for key in [
        "otel-agent-config/config.yaml",
        "otel-gateway-config/config.yaml",
    ] {
        let config = files
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in the manifests"));
        let path = dir.join(key.replace('/', "-"));
        std::fs::write(&path, config).expect("write");
        let (ok, out) = run(
            "otelcol-alys",
            &["validate", &format!("--config={}", path.display())],
        );
        assert!(ok, "the collector refuses {key}:\n{out}");
        checked.insert(key);
    }
    // The ConfigMaps carry the very files the compose topologies run.
    assert_eq!(
        files["otel-agent-config/config.yaml"],
        std::fs::read_to_string(repo().join("otel-collector/agent.yaml")).expect("read")
    );
    assert_eq!(
        files["otel-gateway-config/config.yaml"],
        std::fs::read_to_string(repo().join("otel-collector/gateway.yaml")).expect("read")
    );
    assert_eq!(
        files["jaeger-config/config.yaml"],
        std::fs::read_to_string(repo().join("jaeger/config.yaml")).expect("read")
    );
    assert_eq!(checked.len(), 2);
}

#[test]
fn the_prometheus_rules_are_alerts_rules() {
    let (_, objects) = rendered();
    let mut rules: BTreeMap<String, Value> = objects
        .iter()
        .filter(|o| kind(o) == "PrometheusRule")
        .map(|o| (name(o).to_string(), o["spec"].clone()))
        .collect();
    for entry in std::fs::read_dir(repo().join("alerts/rules")).expect("alerts/rules") {
        let path = entry.expect("entry").path();
        let file: Value = serde_norway::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("a rule file is YAML");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let spec = rules
            .remove(&format!("alys-{stem}"))
            .unwrap_or_else(|| panic!("no PrometheusRule for {}", path.display()));
        assert_eq!(
            spec["groups"],
            file["groups"],
            "{} differs from its PrometheusRule",
            path.display()
        );
    }
    assert!(
        rules.is_empty(),
        "PrometheusRules without a rule file: {:?}",
        rules.keys()
    );
}

/// What a demanding operator checks in each workload.
#[test]
fn every_workload_has_limits_a_non_root_context_distinct_probes_and_pinned_images() {
    let objects = rendered_all();
    let programs = programs();
    let pinned: BTreeSet<String> = programs
        .pins
        .values()
        .filter_map(|p| p.image.clone())
        .collect();
    let workloads: Vec<&Value> = objects
        .iter()
        .filter(|o| matches!(kind(o), "DaemonSet" | "Deployment" | "StatefulSet"))
        .collect();
    assert_eq!(
        workloads.len(),
        4,
        "agent, gateway, Jaeger; the example node"
    );
    for w in workloads {
        let pod = &w["spec"]["template"]["spec"];
        let what = format!("{} {}", kind(w), name(w));
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{what}"
        );
        assert!(
            pod["securityContext"]["runAsUser"]
                .as_u64()
                .is_some_and(|uid| uid > 10000),
            "{what}: a high uid, no user of the host's"
        );
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{what}"
        );
        for c in pod["containers"].as_sequence().expect("containers") {
            let image = c["image"].as_str().unwrap_or("");
            // Our own image (the Dockerfile's) goes to the operator's registry; the rest are
            // the upstream releases of versions.toml.
            let own = image.split_once(':').is_some_and(|(name, tag)| {
                name.rsplit('/').next() == Some("alys-telemetry")
                    && !tag.is_empty()
                    && tag != "latest"
            });
            assert!(
                own || pinned.contains(image),
                "{what}: image {image} is not pinned in versions.toml"
            );
            assert!(
                c["imagePullPolicy"].is_string(),
                "{what}: the pull policy is chosen, not defaulted"
            );
            for key in ["requests", "limits"] {
                for resource in ["cpu", "memory", "ephemeral-storage"] {
                    assert!(
                        c["resources"][key][resource].is_string(),
                        "{what}: no {resource} {key}"
                    );
                }
            }
            // Alive and ready are different questions: a liveness probe that fails with the
            // pipeline's health restarts a pod that a restart does not fix.
            let (live, ready) = (
                &c["livenessProbe"]["httpGet"],
                &c["readinessProbe"]["httpGet"],
            );
            assert!(
                live.is_mapping() && ready.is_mapping(),
                "{what}: HTTP liveness and readiness probes"
            );
            assert!(
                (&live["path"], &live["port"]) != (&ready["path"], &ready["port"]),
                "{what}: the same probe for liveness and readiness"
            );
            if name(w) == "alys-node" {
                // The node's probes, over TLS and without credentials: the web config never
                // guards /health and /ready.
                assert_eq!(live["path"].as_str(), Some("/health"), "{what}");
                assert_eq!(ready["path"].as_str(), Some("/ready"), "{what}");
                for probe in [live, ready] {
                    assert_eq!(probe["scheme"].as_str(), Some("HTTPS"), "{what}");
                    assert_eq!(probe["port"].as_str(), Some("metrics"), "{what}");
                }
            } else {
                // The collectors' and Jaeger's readiness: the health check from the
                // components' status; their liveness: the process serving its own metrics.
                assert_eq!(ready["port"].as_str(), Some("health"), "{what}");
                assert_eq!(live["port"].as_str(), Some("telemetry"), "{what}");
                assert_eq!(live["path"].as_str(), Some("/metrics"), "{what}");
            }
            let sc = &c["securityContext"];
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{what}"
            );
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{what}");
            assert_eq!(
                sc["capabilities"]["drop"][0].as_str(),
                Some("ALL"),
                "{what}"
            );
        }
    }
    // The collectors' memory_limiter works in percent of the container's limit, which every
    // collector container has: the limiter refuses data before the kernel kills the pod.
    for file in ["agent.yaml", "gateway.yaml"] {
        let config: Value = serde_norway::from_str(
            &std::fs::read_to_string(repo().join("otel-collector").join(file)).expect("read"),
        )
        .expect("YAML");
        let limiter = &config["processors"]["memory_limiter"];
        let limit = limiter["limit_percentage"].as_u64().unwrap_or(100);
        let spike = limiter["spike_limit_percentage"].as_u64().unwrap_or(100);
        assert!(
            limit <= 80 && spike < limit,
            "{file}: memory_limiter {limit}/{spike} % of the limit"
        );
    }
}

// ---------------------------------------------------------------------------
// kube-score
// ---------------------------------------------------------------------------

/// The checks kube-score may still call CRITICAL, each explained in README.md under
/// KEPT_HEADING. Anything else it calls critical fails the test; so does an entry here that
/// it no longer reports.
const KUBE_SCORE_KEPT: &[&str] = &[
    // Pinned release tags, pulled once per Kubernetes node: Always would ask the registry
    // at every pod start (Docker Hub counts those against its pull limits, and an outage of
    // the registry would keep a restarted agent from starting).
    "container-image-pull-policy",
];

const KEPT_HEADING: &str = "### kube-score findings we keep";

/// kube-score's grade for a critical finding (scorecard.GradeCritical).
const CRITICAL: u64 = 1;

/// `kube-score score -o json` on `yaml`, for the Kubernetes release of versions.toml: every
/// critical finding as "check-id Kind/namespace/name: comments".
fn kube_score_critical(yaml: &str) -> Vec<(String, String)> {
    let dir = TempDir::new("kube-score");
    let file = dir.join("manifests.yaml");
    std::fs::write(&file, yaml).expect("write the manifests");
    let release = programs().pin("kubernetes").release.clone();
    let minor = release
        .rsplit_once('.')
        .map_or(release.as_str(), |(m, _)| m)
        .to_string();
    let out = Command::new(programs().tool("kube-score"))
        .args(["score", "-o", "json", "--kubernetes-version"])
        .arg(format!("v{minor}"))
        .arg(&file)
        .output()
        .expect("kube-score runs");
    // Exit 1 when it finds something critical: the JSON on stdout says what.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kube-score printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let objects = report.as_array().expect("one entry per object");
    assert!(!objects.is_empty(), "kube-score scored nothing");
    let mut critical = Vec::new();
    for object in objects {
        for check in object["checks"].as_array().into_iter().flatten() {
            if check["grade"].as_u64() == Some(CRITICAL) && check["skipped"] != true {
                let comments: Vec<&str> = check["comments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["summary"].as_str())
                    .collect();
                critical.push((
                    check["check"]["id"].as_str().unwrap_or("?").to_string(),
                    format!(
                        "{}: {}",
                        object["object_name"].as_str().unwrap_or("?"),
                        comments.join("; ")
                    ),
                ));
            }
        }
    }
    critical
}

/// README.md's section KEPT_HEADING, up to the next heading.
fn kept_section() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("read README.md");
    let start = readme
        .find(KEPT_HEADING)
        .unwrap_or_else(|| panic!("README.md has no section {KEPT_HEADING:?}"));
    let body = &readme[start + KEPT_HEADING.len()..];
    let end = body.find("\n#").unwrap_or(body.len());
    body[..end].to_string()
}

fn both_kustomizations_text() -> String {
    let (tier, _) = rendered_from(TIER);
    let (node, _) = rendered_from(NODE);
    format!("{tier}\n---\n{node}")
}

#[test]
fn kube_score_finds_nothing_critical_but_what_the_readme_explains() {
    let version = {
        let out = Command::new(programs().tool("kube-score"))
            .arg("version")
            .output()
            .expect("kube-score runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let release = programs().pin("kube-score").release.clone();
    assert!(
        version.contains(&format!("v{release}")),
        "kube-score should report release {release}: {version}"
    );
    let critical = kube_score_critical(&both_kustomizations_text());
    let unexplained: Vec<String> = critical
        .iter()
        .filter(|(id, _)| !KUBE_SCORE_KEPT.contains(&id.as_str()))
        .map(|(id, what)| format!("{id} {what}"))
        .collect();
    assert!(
        unexplained.is_empty(),
        "kube-score calls these CRITICAL; fix them, or keep the check in KUBE_SCORE_KEPT and \
         explain it in README.md under {KEPT_HEADING:?}:\n{}",
        unexplained.join("\n")
    );
    let section = kept_section();
    for id in KUBE_SCORE_KEPT {
        assert!(
            critical.iter().any(|(found, _)| found == id),
            "kube-score no longer reports {id}: remove it from KUBE_SCORE_KEPT and the README"
        );
        assert!(
            section.contains(&format!("`{id}`")),
            "README.md's {KEPT_HEADING:?} does not explain `{id}`"
        );
    }
}

#[test]
fn kube_score_calls_a_pod_without_network_policy_and_identical_probes_critical() {
    // The check above can fail: the same manifests without their NetworkPolicies, and with
    // the agent's readiness probe as its liveness probe, are refused.
    let mut objects: Vec<Value> = rendered_all()
        .into_iter()
        .filter(|o| kind(o) != "NetworkPolicy")
        .collect();
    let agent = objects
        .iter_mut()
        .find(|o| kind(o) == "DaemonSet")
        .expect("the agent");
    let container = &mut agent["spec"]["template"]["spec"]["containers"][0];
    container["livenessProbe"] = container["readinessProbe"].clone();
    let yaml = objects
        .iter()
        .map(|o| serde_norway::to_string(o).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n");
    let critical = kube_score_critical(&yaml);
    let found = |id: &str, object: &str| {
        critical
            .iter()
            .any(|(c, what)| c == id && what.contains(object))
    };
    for workload in ["otel-agent", "otel-gateway", "jaeger", "alys-node"] {
        assert!(
            found("pod-networkpolicy", workload),
            "{workload} without a NetworkPolicy: {critical:?}"
        );
    }
    assert!(found("pod-probes-identical", "otel-agent"), "{critical:?}");
}

// ---------------------------------------------------------------------------
// The agent's sending queue on disk
// ---------------------------------------------------------------------------

/// A Kubernetes quantity in bytes (the binary suffixes these manifests use).
/// The first of `container`'s mounts whose path `at` accepts, and the volume of `pod` behind it.
fn mount_and_volume<'a>(
    pod: &'a Value,
    container: &'a Value,
    at: impl Fn(&str) -> bool,
) -> Option<(&'a Value, &'a Value)> {
    let mount = container["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"].as_str().is_some_and(&at))?;
    let volume = pod["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    Some((mount, volume))
}

fn bytes(quantity: &str) -> u64 {
    let (number, unit) = quantity
        .find(|c: char| !c.is_ascii_digit())
        .map_or((quantity, ""), |i| quantity.split_at(i));
    let factor = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("quantity unit {other} of {quantity}"),
    };
    number.parse::<u64>().expect("a number") * factor
}

#[test]
fn the_agent_keeps_its_sending_queue_on_a_volume_within_its_storage_limit() {
    let config: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("otel-collector/agent.yaml")).expect("read"),
    )
    .expect("YAML");
    let Some(directory) = config["extensions"]["file_storage"]["directory"].as_str() else {
        // agent.yaml keeps its queues in memory: nothing to mount.
        return;
    };
    // `${env:VAR:-default}`: the default is where the agent writes on Kubernetes.
    let directory = directory
        .split_once(":-")
        .map_or(directory, |(_, d)| d.trim_end_matches('}'));
    let objects = rendered_all();
    let agent = objects
        .iter()
        .find(|o| kind(o) == "DaemonSet")
        .expect("agent");
    let pod = &agent["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let (mount, volume) = mount_and_volume(pod, container, |path| path == directory)
        .unwrap_or_else(|| panic!("the agent mounts nothing at {directory}"));
    assert_ne!(mount["readOnly"].as_bool(), Some(true), "{mount:?}");
    let size = volume["emptyDir"]["sizeLimit"]
        .as_str()
        .unwrap_or_else(|| panic!("an emptyDir with a size limit: {volume:?}"));
    let limit = container["resources"]["limits"]["ephemeral-storage"]
        .as_str()
        .expect("an ephemeral-storage limit");
    assert!(
        bytes(size) < bytes(limit),
        "the queue's {size} fits within the pod's ephemeral-storage limit {limit}"
    );
}

// ---------------------------------------------------------------------------
// NetworkPolicies
// ---------------------------------------------------------------------------

/// Whether a label selector (matchLabels only; these manifests use nothing else) selects
/// `labels`. The empty selector selects everything.
fn selects(selector: &Value, labels: &Value) -> bool {
    assert!(
        selector["matchExpressions"].is_null(),
        "matchExpressions: extend this test"
    );
    selector["matchLabels"]
        .as_mapping()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

/// A peer of a NetworkPolicy rule, as canonical JSON.
fn peer(v: &Value) -> String {
    serde_json::to_value(v).expect("JSON").to_string()
}

const PROMETHEUS: &str = r#"{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}},"podSelector":{"matchLabels":{"app.kubernetes.io/name":"prometheus"}}}"#;
const GRAFANA: &str = r#"{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}},"podSelector":{"matchLabels":{"app.kubernetes.io/name":"grafana"}}}"#;
const OPERATORS: &str = r#"{"namespaceSelector":{"matchLabels":{"alys.io/operators":"true"}}}"#;
const AGENTS: &str = r#"{"podSelector":{"matchLabels":{"app.kubernetes.io/name":"otel-agent"}}}"#;
const GATEWAYS: &str =
    r#"{"podSelector":{"matchLabels":{"app.kubernetes.io/name":"otel-gateway"}}}"#;
const ANY_POD: &str = r#"{"namespaceSelector":{}}"#;

#[test]
fn network_policies_deny_by_default_and_open_only_the_documented_paths() {
    let objects = rendered_all();
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|o| kind(o) == "NetworkPolicy")
        .collect();
    // Who may reach each port of each workload: (workload, port name) -> peers.
    let mut ingress: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let workloads: Vec<&Value> = objects
        .iter()
        .filter(|o| matches!(kind(o), "DaemonSet" | "Deployment" | "StatefulSet"))
        .collect();
    let mut namespaces = BTreeSet::new();
    for w in &workloads {
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        let pod = &w["spec"]["template"]["spec"];
        namespaces.insert(namespace(w).to_string());
        let ports: Vec<(String, u64)> = pod["containers"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_sequence().into_iter().flatten())
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or("").to_string(),
                    p["containerPort"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        for port in &ports {
            ingress
                .entry((name(w).to_string(), port.0.clone()))
                .or_default();
        }
        let mine: Vec<&&Value> = policies
            .iter()
            .filter(|p| namespace(p) == namespace(w) && selects(&p["spec"]["podSelector"], labels))
            .collect();
        for direction in ["Ingress", "Egress"] {
            assert!(
                mine.iter().any(|p| p["spec"]["policyTypes"]
                    .as_sequence()
                    .is_some_and(|t| t.iter().any(|t| t == direction))),
                "{}: no {direction} policy",
                name(w)
            );
        }
        for policy in mine {
            for rule in policy["spec"]["ingress"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                let from = rule["from"].as_sequence().unwrap_or_else(|| {
                    panic!("{}: an ingress rule open to every source", name(policy))
                });
                let rule_ports = rule["ports"].as_sequence().unwrap_or_else(|| {
                    panic!("{}: an ingress rule open on every port", name(policy))
                });
                for p in rule_ports {
                    let port = match (&p["port"].as_str(), p["port"].as_u64()) {
                        (Some(named), _) => named.to_string(),
                        (None, Some(number)) => ports
                            .iter()
                            .find(|(_, n)| *n == number)
                            .map(|(name, _)| name.clone())
                            .unwrap_or_else(|| number.to_string()),
                        _ => panic!("{}: a port without a port", name(policy)),
                    };
                    let allowed = ingress
                        .get_mut(&(name(w).to_string(), port.clone()))
                        .unwrap_or_else(|| {
                            panic!("{} opens {port}, which {} lacks", name(policy), name(w))
                        });
                    allowed.extend(from.iter().map(peer));
                }
            }
        }
    }
    // Deny first, in every namespace that runs a workload.
    for ns in &namespaces {
        assert!(
            policies.iter().any(|p| namespace(p) == ns
                && p["spec"]["podSelector"]
                    .as_mapping()
                    .is_some_and(|m| m.is_empty())
                && p["spec"]["ingress"].is_null()
                && p["spec"]["egress"].is_null()
                && p["spec"]["policyTypes"].as_sequence().map(Vec::len) == Some(2)),
            "{ns}: no default-deny NetworkPolicy"
        );
    }
    let set = |peers: &[&str]| peers.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
    let expected: BTreeMap<(String, String), BTreeSet<String>> = [
        (("otel-agent", "otlp-grpc"), set(&[ANY_POD])),
        (("otel-agent", "otlp-http"), set(&[ANY_POD])),
        (("otel-agent", "telemetry"), set(&[PROMETHEUS])),
        (("otel-agent", "health"), set(&[])),
        (("otel-gateway", "otlp-grpc"), set(&[AGENTS])),
        (("otel-gateway", "telemetry"), set(&[PROMETHEUS])),
        (("otel-gateway", "health"), set(&[])),
        (("jaeger", "otlp-grpc"), set(&[GATEWAYS])),
        (("jaeger", "telemetry"), set(&[PROMETHEUS])),
        (("jaeger", "query"), set(&[GRAFANA, OPERATORS])),
        (("jaeger", "health"), set(&[])),
        // /metrics and the viewer share the port: Prometheus and the operators reach it,
        // their credentials tell them apart.
        (("alys-node", "metrics"), set(&[PROMETHEUS, OPERATORS])),
    ]
    .into_iter()
    .map(|((w, p), peers)| ((w.to_string(), p.to_string()), peers))
    .collect();
    assert_eq!(ingress, expected, "who may reach which port");
}

// ---------------------------------------------------------------------------
// The nodes' pull endpoint: TLS and basic auth
// ---------------------------------------------------------------------------

/// The value of `key` in a Secret's stringData (the placeholders are written there) or a
/// ConfigMap's data.
fn secret_value(objects: &[Value], kind_: &str, ns: &str, secret: &str, key: &str) -> String {
    let o = objects
        .iter()
        .find(|o| kind(o) == kind_ && namespace(o) == ns && name(o) == secret)
        .unwrap_or_else(|| panic!("no {kind_} {ns}/{secret}"));
    let field = if kind_ == "Secret" {
        "stringData"
    } else {
        "data"
    };
    o[field][key]
        .as_str()
        .unwrap_or_else(|| panic!("{kind_} {ns}/{secret} has no {field} {key}"))
        .to_string()
}

#[test]
fn prometheus_scrapes_the_nodes_over_tls_with_basic_auth_from_secrets_the_node_mounts() {
    let objects = rendered_all();
    let monitor = objects
        .iter()
        .find(|o| kind(o) == "ServiceMonitor" && name(o) == "alys-node")
        .expect("the nodes' ServiceMonitor");
    let monitor_ns = namespace(monitor);
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"].as_str(), Some("https"));
    let server_name = endpoint["tlsConfig"]["serverName"]
        .as_str()
        .expect("the name the nodes' certificate carries");
    let ca = &endpoint["tlsConfig"]["ca"]["configMap"];
    let ca = secret_value(
        &objects,
        "ConfigMap",
        monitor_ns,
        ca["name"].as_str().expect("CA ConfigMap"),
        ca["key"].as_str().expect("CA key"),
    );
    let auth = &endpoint["basicAuth"];
    let from = |field: &str| {
        let r = &auth[field];
        secret_value(
            &objects,
            "Secret",
            monitor_ns,
            r["name"].as_str().expect("a Secret"),
            r["key"].as_str().expect("a key"),
        )
    };
    let (user, password) = (from("username"), from("password"));

    // The example node: its Service is what the monitor selects, its web config comes from
    // a Secret it mounts, and its certificate from a kubernetes.io/tls Secret it mounts.
    let service = objects
        .iter()
        .find(|o| {
            kind(o) == "Service" && selects(&monitor["spec"]["selector"], &o["metadata"]["labels"])
        })
        .expect("a Service the ServiceMonitor selects");
    assert!(
        service["spec"]["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == endpoint["port"]),
        "the Service has the monitor's port"
    );
    let node_ns = namespace(service);
    let node = objects
        .iter()
        .find(|o| kind(o) == "Deployment" && name(o) == "alys-node")
        .expect("the example node");
    let pod = &node["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    // The Secret and key behind a file path in the container.
    let file_in_secret = |path: &str| -> (String, String, String) {
        let (_, volume) =
            mount_and_volume(pod, container, |dir| path.starts_with(&format!("{dir}/")))
                .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        let secret = volume["secret"]["secretName"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} is not in a Secret"))
            .to_string();
        let key = path.rsplit('/').next().unwrap_or("").to_string();
        let value = secret_value(&objects, "Secret", node_ns, &secret, &key);
        (secret, key, value)
    };
    let web_config_path = container["args"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find_map(|a| a.as_str()?.strip_prefix("--web.config.file="))
        .expect("the node runs with --web.config.file");
    let (_, _, web_config) = file_in_secret(web_config_path);
    let web_config: Value = serde_norway::from_str(&web_config).expect("the web config is YAML");
    let tls = &web_config["tls_server_config"];
    let (cert_secret, _, cert) = file_in_secret(tls["cert_file"].as_str().expect("cert_file"));
    let (key_secret, _, key) = file_in_secret(tls["key_file"].as_str().expect("key_file"));
    assert_eq!(cert_secret, key_secret, "one certificate Secret");
    let tls_secret = objects
        .iter()
        .find(|o| kind(o) == "Secret" && name(o) == cert_secret)
        .expect("the certificate Secret");
    assert_eq!(tls_secret["type"].as_str(), Some("kubernetes.io/tls"));
    let users = &web_config["basic_auth_users"];
    assert!(
        users[user.as_str()].is_string(),
        "the web config lets in the user Prometheus scrapes as ({user})"
    );
    let viewers = web_config["viewer"]["basic_auth_users"]
        .as_mapping()
        .expect("the viewer's own users");
    assert!(
        !viewers.is_empty() && viewers.keys().all(|u| users.get(u).is_none()),
        "the scrape credentials do not open the viewer: {viewers:?}"
    );

    // Shipped as placeholders: nothing here is a working secret.
    let hashes = users
        .as_mapping()
        .into_iter()
        .chain([viewers])
        .flatten()
        .map(|(_, h)| h.as_str().unwrap_or("").to_string());
    for value in [password, ca, cert, key].into_iter().chain(hashes) {
        assert!(
            value.contains("REPLACE-ME") && !value.contains("PRIVATE KEY"),
            "a committed value is not an obvious placeholder: {value}"
        );
    }
    assert!(!server_name.is_empty());
}
