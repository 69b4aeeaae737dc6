//! deploy/kubernetes, checked with the programs that consume it: rendered by the real
//! kustomize, validated by kubeconform against the Kubernetes API's schemas (from the pinned
//! k8s.io/kubernetes OpenAPI spec) and the Prometheus Operator's CRD schemas kept in
//! deploy/kubernetes/schemas, every collector config in it accepted by the real collector,
//! the PrometheusRules equal to alerts/rules, and what operators expect of each workload:
//! requests and limits, non-root, probes, a memory limiter under the limit.

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

/// `kustomize build deploy/kubernetes`: the text and its objects.
fn rendered() -> (String, Vec<Value>) {
    let (ok, text) = run("kustomize", &["build", "deploy/kubernetes"]);
    assert!(ok, "kustomize build failed:\n{text}");
    let objects = serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("kustomize prints YAML"))
        .filter(|v| !v.is_null())
        .collect();
    (text, objects)
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
    let (text, objects) = rendered();
    let (ok, report) = kubeconform(&text);
    assert!(ok, "kubeconform refuses the manifests:\n{report}");
    assert!(
        report.contains(&format!("Valid: {}", objects.len())) && report.contains("Skipped: 0"),
        "every object validated against a schema, none skipped: {report}"
    );
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
fn every_workload_has_limits_a_non_root_context_probes_and_pinned_images() {
    let (_, objects) = rendered();
    let programs = programs();
    let pinned: BTreeSet<String> = programs
        .pins
        .values()
        .filter_map(|p| p.image.clone())
        .collect();
    let workloads: Vec<&Value> = objects
        .iter()
        .filter(|o| matches!(kind(o), "DaemonSet" | "Deployment"))
        .collect();
    assert_eq!(workloads.len(), 3, "agent, gateway, Jaeger");
    for w in workloads {
        let pod = &w["spec"]["template"]["spec"];
        let what = format!("{} {}", kind(w), name(w));
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{what}"
        );
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{what}"
        );
        for c in pod["containers"].as_sequence().expect("containers") {
            let image = c["image"].as_str().unwrap_or("");
            assert!(
                pinned.contains(image),
                "{what}: image {image} is not pinned in versions.toml"
            );
            for key in ["requests", "limits"] {
                assert!(
                    c["resources"][key]["memory"].is_string(),
                    "{what}: no memory {key}"
                );
            }
            assert!(
                c["resources"]["requests"]["cpu"].is_string(),
                "{what}: no cpu request"
            );
            for probe in ["livenessProbe", "readinessProbe"] {
                assert!(
                    c[probe]["httpGet"]["port"] == "health",
                    "{what}: {probe} on the health port"
                );
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
