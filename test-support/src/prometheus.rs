//! A real Prometheus, at the release the stack pins, on a loopback port.

use super::*;

/// A real Prometheus (stack-programs/versions.toml's release) scraping the given targets as
/// job `alys`, every second; rules are evaluated every second too.
///
/// Prometheus applies a new target list only on a 5s tick, so the first scrape
/// lands about 5s after `start`: give `wait_for_data` at least 15s.
pub struct Prometheus {
    pub port: u16,
    pub proc: Proc,
    // Config, rules and TSDB; after `proc` so Prometheus is dead before removal.
    _dir: TempDir,
}

impl Prometheus {
    pub fn start(scrape_targets: &[String]) -> Prometheus {
        Self::start_with_extra(scrape_targets, &[], None, "")
    }

    /// `alertmanager`: "127.0.0.1:PORT" (an `http://` prefix is accepted).
    pub fn start_with(
        scrape_targets: &[String],
        rule_files: &[PathBuf],
        alertmanager: Option<String>,
    ) -> Prometheus {
        Self::start_with_extra(scrape_targets, rule_files, alertmanager, "")
    }

    /// Like `start_with`, plus `extra_config` appended verbatim as top-level YAML
    /// (it must not repeat `global`, `scrape_configs`, `rule_files` or `alerting`
    /// when those are generated).
    pub fn start_with_extra(
        scrape_targets: &[String],
        rule_files: &[PathBuf],
        alertmanager: Option<String>,
        extra_config: &str,
    ) -> Prometheus {
        Self::start_yaml(&prometheus_config(
            scrape_targets,
            rule_files,
            alertmanager.as_deref(),
            extra_config,
        ))
    }

    /// A Prometheus with exactly this configuration (paths in it must be absolute).
    pub fn start_yaml(yaml: &str) -> Prometheus {
        let dir = TempDir::new("prometheus-cfg");
        let config = dir.join("prometheus.yml");
        fs::write(&config, yaml).expect("write prometheus.yml");
        let binary = stack_tool("prometheus");
        let mut run = 0;
        let (proc, port) = start_server(
            "prometheus",
            || {
                run += 1;
                let port = free_port();
                let mut cmd = Command::new(&binary);
                cmd.arg(format!("--config.file={}", config.display()))
                    // A fresh TSDB per attempt: a killed attempt may leave a lock behind.
                    .arg(format!(
                        "--storage.tsdb.path={}",
                        dir.join(format!("data-{run}")).display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"));
                (Proc::spawn(cmd, "prometheus"), port)
            },
            |port| {
                matches!(
                    http_get(&format!("http://127.0.0.1:{port}/-/ready")),
                    Ok((200, _, _))
                )
            },
        );
        Prometheus {
            port,
            proc,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Instant query; returns `data.result`. `Err` carries Prometheus's error text.
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url()),
            [("query", promql)],
        )
        .map_err(|e| e.to_string())?;
        let (status, body, _) = http_get(url.as_str())?;
        let json: Value = serde_json::from_str(&body)
            .map_err(|e| format!("query {promql:?}: HTTP {status}, not JSON ({e}): {body}"))?;
        if json["status"] != "success" {
            return Err(format!(
                "query {promql:?}: HTTP {status}, {}: {}",
                json["errorType"].as_str().unwrap_or("error"),
                json["error"].as_str().unwrap_or(&body)
            ));
        }
        match &json["data"]["result"] {
            Value::Array(result) => Ok(result.clone()),
            other => Err(format!("query {promql:?}: unexpected data.result {other}")),
        }
    }

    /// Polls until `promql` returns a non-empty result; on timeout the panic
    /// includes the last query error and the scrape targets' health.
    #[track_caller]
    pub fn wait_for_data(&self, promql: &str, timeout: Duration) -> Vec<Value> {
        let mut last_error = None;
        let found = poll(timeout, &mut || match self.query(promql) {
            Ok(result) if !result.is_empty() => Some(result),
            Ok(_) => None,
            Err(e) => {
                last_error = Some(e);
                None
            }
        });
        let Some(result) = found else {
            panic!(
                "timed out after {timeout:?} waiting for Prometheus data for {promql:?}\nlast error: {}\ntargets: {}",
                last_error.as_deref().unwrap_or("none (empty result)"),
                self.target_health()
            )
        };
        result
    }

    /// One line per scrape target: "url health lastError".
    pub fn target_health(&self) -> String {
        let Ok((_, body, _)) = http_get(&format!("{}/api/v1/targets", self.url())) else {
            return "unavailable".to_string();
        };
        let json: Value = serde_json::from_str(&body).unwrap_or_default();
        let targets = json["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if targets.is_empty() {
            return "none".to_string();
        }
        targets
            .iter()
            .map(|t| {
                format!(
                    "{} {} {}",
                    t["scrapeUrl"].as_str().unwrap_or("?"),
                    t["health"].as_str().unwrap_or("?"),
                    t["lastError"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The numeric value of one instant-vector sample (`{"metric":..,"value":[ts,"v"]}`).
pub fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not an instant-vector sample: {sample}"))
}

pub fn prometheus_config(
    scrape_targets: &[String],
    rule_files: &[PathBuf],
    alertmanager: Option<&str>,
    extra_config: &str,
) -> String {
    // JSON strings are valid YAML scalars and need no YAML escaping rules.
    let quote = |s: &str| Value::from(s).to_string();
    let targets: Vec<String> = scrape_targets.iter().map(|t| quote(t)).collect();
    let mut yaml = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: alys\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    if !rule_files.is_empty() {
        yaml.push_str("rule_files:\n");
        for rules in rule_files {
            // Prometheus resolves relative paths against the config file's dir,
            // which is a temp dir; callers mean their own working dir.
            let abs = std::path::absolute(rules).unwrap_or_else(|_| rules.clone());
            yaml.push_str(&format!("  - {}\n", quote(&abs.to_string_lossy())));
        }
    }
    if let Some(am) = alertmanager {
        let am = am.trim_start_matches("http://").trim_end_matches('/');
        yaml.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{}]\n",
            quote(am)
        ));
    }
    if !extra_config.is_empty() {
        yaml.push_str(extra_config);
        if !extra_config.ends_with('\n') {
            yaml.push('\n');
        }
    }
    yaml
}

/// The stack's scrape of the node as `alys-node` with `path="pull"` (as alerts/prometheus.yml
/// does), every second, with our rule files and an Alertmanager if given.
pub fn pull_config(target: &str, rule_files: &[PathBuf], alertmanager_port: Option<u16>) -> String {
    let mut yaml = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
    if !rule_files.is_empty() {
        yaml.push_str("rule_files:\n");
        for f in rule_files {
            yaml.push_str(&format!("  - {}\n", Value::from(f.display().to_string())));
        }
    }
    if let Some(port) = alertmanager_port {
        yaml.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{port}']\n"
        ));
    }
    yaml.push_str(&format!(
        "scrape_configs:\n  - job_name: alys-node\n    static_configs:\n      - targets: [{}]\n        labels:\n          path: pull\n",
        Value::from(target)
    ));
    yaml
}
