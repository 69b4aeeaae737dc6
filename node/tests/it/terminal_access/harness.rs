//! The harness of terminal_access: a demo served with a web config, the real binary run
//! against it, and what its output must never hold.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::node::BIN;
use crate::support::{Proc, TempDir, free_port, wait_until};

/// Passwords and their bcrypt hashes (cost 10, made with libxcrypt as `htpasswd -B` makes
/// them; the pairs of web_config.rs): /metrics takes `prometheus`, the viewer `operator`.
pub(super) const METRICS_PASSWORD: &str = "prom-pass-7";
pub(super) const METRICS_HASH: &str =
    "$2y$10$tRZgEmgFG/..XcfoCgeGIOAfCtw8xxXBLk6l4R01D9axaN7dD0zbS";
pub(super) const VIEWER_PASSWORD: &str = "prom-pass-8";
pub(super) const VIEWER_HASH: &str = "$2b$10$x4VjwCSIS/f7ZEEaRhFDIOrxpC8fHQsoCl0snH9fU101U7PZTJgMW";
pub(super) const WRONG_PASSWORD: &str = "wrong-pass-4711";
pub(super) const TOKEN: &str = "viewer-token-0815";

pub(super) const WAIT: Duration = Duration::from_secs(30);

/// TLS, basic auth for /metrics, and the viewer's own user.
pub(super) fn basic_auth_config() -> String {
    format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
         basic_auth_users:\n  prometheus: {METRICS_HASH}\n\
         viewer:\n  basic_auth_users:\n    operator: {VIEWER_HASH}\n"
    )
}

/// Mutual TLS, and a bearer token for everything.
pub(super) fn mutual_tls_config() -> String {
    "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
     client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n\
     bearer_token_file: token\n"
        .to_string()
}

/// A demo serving `config` over TLS on a free port, with the test CA's certificates, the
/// password files and the token in its directory; returned once /ready answers over TLS.
pub(super) struct SecuredNode {
    pub(super) dir: TempDir,
    pub(super) port: u16,
    pub(super) proc: Proc,
}

impl SecuredNode {
    pub(super) fn start(config: &str) -> SecuredNode {
        let dir = TempDir::new("node-terminal-access");
        alys_test_support::tls::make_certificates_with_client(&dir.path).unwrap();
        std::fs::write(dir.join("web.yml"), config).unwrap();
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(dir.join("metrics.pw"), format!("{METRICS_PASSWORD}\n")).unwrap();
        std::fs::write(dir.join("viewer.pw"), format!("{VIEWER_PASSWORD}\n")).unwrap();
        std::fs::write(dir.join("wrong.pw"), format!("{WRONG_PASSWORD}\n")).unwrap();
        let port = free_port();
        let mut cmd = clean(Command::new(BIN));
        cmd.arg("demo")
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-push"])
            .args(["--block-interval", "200ms"])
            .arg("--web.config.file")
            .arg(dir.join("web.yml"));
        let proc = Proc::spawn(cmd, "demo-terminal-access");
        let node = SecuredNode { dir, port, proc };
        wait_until("/ready over TLS", WAIT, || {
            (node.curl_status("/ready") == Some(200)).then_some(())
        });
        node
    }

    pub(super) fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The node's address as its certificate names it.
    pub(super) fn https(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// What curl (not the code under test) gets for `path`, trusting the test CA and
    /// presenting the client certificate.
    pub(super) fn curl_status(&self, path: &str) -> Option<u16> {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["--max-time", "10", "--cacert", &self.file("ca.pem")])
            .args(["--cert", &self.file("client.pem")])
            .args(["--key", &self.file("client.key")])
            .args(["--resolve", &format!("localhost:{}:127.0.0.1", self.port)])
            .arg(format!("{}{path}", self.https()))
            .output()
            .unwrap_or_else(|e| panic!("curl ({e}): run scripts/install-test-deps.sh"));
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Runs `alys-telemetry ARGS` (no terminal, a clean environment plus `env`).
    pub(super) fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        clean(Command::new(BIN))
            .args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run alys-telemetry")
    }

    pub(super) fn output(&self) -> String {
        format!("{}\n{}", self.proc.stdout(), self.proc.stderr())
    }
}

/// Without the test's own OTEL_/ALYS_ variables (a developer's ALYS_TELEMETRY_PULL_PASSWORD
/// would change what is sent) or RUST_LOG.
pub(super) fn clean(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.starts_with("ALYS_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `f` until it gives a value, every 200 ms, at most `timeout`; `None` after it.
pub(super) fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(super) fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The spans of `traces --json` output (OTLP JSON), once it exits 0 with at least one.
pub(super) fn spans(out: &Output) -> Option<usize> {
    if !out.status.success() {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let count = value["resourceSpans"]
        .as_array()?
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .map(|ss| ss["spans"].as_array().map_or(0, Vec::len))
        .sum();
    (count > 0).then_some(count)
}

pub(super) fn assert_no_secret(output: &str) {
    for secret in [
        METRICS_PASSWORD,
        VIEWER_PASSWORD,
        WRONG_PASSWORD,
        TOKEN,
        &METRICS_HASH[7..],
        &VIEWER_HASH[7..],
    ] {
        assert!(
            !output.contains(secret),
            "the output shows a secret:\n{output}"
        );
    }
}
