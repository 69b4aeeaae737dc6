//! A pipeline whose pull endpoint serves with a web configuration file, its log lines
//! captured, asked by the real `curl` binary.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alys_telemetry::pipeline::InitError;
use alys_telemetry::{Telemetry, TelemetryConfig, TelemetryGuard};
use alys_test_support::TempDir;

/// Test passwords and their bcrypt hashes (cost 10, made with libxcrypt, as `htpasswd -B`
/// makes them), one of each prefix exporter-toolkit accepts.
pub const PROM_PASSWORD: &str = "prom-pass-7";
pub const PROM_HASH: &str = "$2y$10$tRZgEmgFG/..XcfoCgeGIOAfCtw8xxXBLk6l4R01D9axaN7dD0zbS";
pub const NEW_PASSWORD: &str = "prom-pass-8";
pub const NEW_HASH: &str = "$2b$10$x4VjwCSIS/f7ZEEaRhFDIOrxpC8fHQsoCl0snH9fU101U7PZTJgMW";
pub const OPERATOR_PASSWORD: &str = "op-pass-3";
pub const OPERATOR_HASH: &str = "$2a$10$7LaOi81ixS7Ieyg3mM5mR.fmK84qLlwBoNH9Wdd58j1ZKdjoHFI7C";

/// Every log line of the pipeline: its runtime's threads, and the test's while it starts.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn dispatch(&self) -> tracing::Dispatch {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::Dispatch::new(subscriber)
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// The pipeline (pull only), serving with `dir/web.yml`.
pub struct Secured {
    pub dir: TempDir,
    pub addr: SocketAddr,
    pub tls: bool,
    pub logs: Logs,
    guard: Option<TelemetryGuard>,
    runtime: tokio::runtime::Runtime,
}

/// A runtime whose every thread logs into `logs` (no process-wide subscriber is touched).
fn runtime(logs: &Logs) -> tokio::runtime::Runtime {
    let dispatch = logs.dispatch();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // For the thread's whole life: the guard is never dropped.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("a runtime")
}

/// Starts the pipeline with `dir/web.yml` holding `yaml`.
pub fn try_start(dir: TempDir, yaml: &str) -> Result<Secured, (InitError, Logs)> {
    std::fs::write(dir.join("web.yml"), yaml).expect("write web.yml");
    let logs = Logs::default();
    let runtime = runtime(&logs);
    let mut config = TelemetryConfig::default();
    config.pull.listen = "127.0.0.1:0".parse().expect("an address");
    config.pull.web_config_file = Some(dir.join("web.yml"));
    config.pull.header_read_timeout = Duration::from_secs(2);
    config.push.enabled = false;
    config.system.enabled = false;
    let built = tracing::dispatcher::with_default(&logs.dispatch(), || {
        runtime.block_on(async { Telemetry::build(&config) })
    });
    let guard = match built {
        Ok(guard) => guard,
        Err(e) => return Err((e, logs)),
    };
    guard.mark_ready();
    let addr = guard.local_addr().expect("the pull endpoint's address");
    Ok(Secured {
        tls: yaml.contains("tls_server_config"),
        dir,
        addr,
        logs,
        guard: Some(guard),
        runtime,
    })
}

pub fn start(dir: TempDir, yaml: &str) -> Secured {
    match try_start(dir, yaml) {
        Ok(secured) => secured,
        Err((e, logs)) => panic!("start: {e}\n{}", logs.text()),
    }
}

/// A directory with `ca.pem`, `server.pem`, `server.key`, `client.pem` and `client.key`.
pub fn certificates(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    alys_test_support::tls::make_certificates_with_client(&dir.path).expect("certificates");
    dir
}

/// What curl got: the status, the head as text, the body.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Secured {
    /// `curl` for `path` with `args` (credentials, client certificates); over TLS when the
    /// endpoint serves it, trusting the test CA. `Err` holds curl's complaint (a failed
    /// handshake, say).
    pub fn curl(&self, path: &str, args: &[&str]) -> Result<Reply, String> {
        curl(&self.dir, self.addr, self.tls, path, args)
    }

    /// `/metrics` as the Prometheus user reads it.
    pub fn metrics(&self) -> String {
        let reply = self
            .curl("/metrics", &["-u", &format!("prom:{PROM_PASSWORD}")])
            .expect("/metrics");
        assert_eq!(reply.code, 200, "{reply:?}");
        reply.body
    }

    /// `alys_telemetry_pull_access_denied_total{reason}`, as served.
    pub fn denied(&self, reason: &str) -> f64 {
        alys_test_support::sample_sum(
            &self.metrics(),
            "alys_telemetry_pull_access_denied_total",
            &[("reason", reason)],
        )
        .unwrap_or(0.0)
    }

    pub fn write(&self, file: &str, content: &str) {
        // Write then rename, as editors and Kubernetes do: never half a file.
        let tmp = self.dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, content).expect("write");
        std::fs::rename(&tmp, self.dir.join(file)).expect("rename");
    }
}

impl Drop for Secured {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            self.runtime.block_on(guard.shutdown());
        }
    }
}

pub fn curl(
    dir: &TempDir,
    addr: SocketAddr,
    tls: bool,
    path: &str,
    args: &[&str],
) -> Result<Reply, String> {
    let port = addr.port();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "10"]);
    let url = match tls {
        true => {
            cmd.arg("--cacert").arg(dir.join("ca.pem"));
            cmd.args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
            format!("https://localhost:{port}{path}")
        }
        false => format!("http://127.0.0.1:{port}{path}"),
    };
    let out = cmd.args(args).arg(url).output().unwrap_or_else(|e| {
        panic!("curl cannot run ({e}): run scripts/install-test-deps.sh to install it")
    });
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    Ok(Reply {
        code,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Fails if any secret shows in `text`: a password, a hash (or its salt), a token, or a
/// line of a private key.
#[track_caller]
pub fn assert_no_secret(what: &str, text: &str, dir: &TempDir, extra: &[&str]) {
    let mut secrets = vec![
        PROM_PASSWORD,
        NEW_PASSWORD,
        OPERATOR_PASSWORD,
        &PROM_HASH[7..29],
        &NEW_HASH[7..29],
        &OPERATOR_HASH[7..29],
    ];
    secrets.extend_from_slice(extra);
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
    for key in ["server.key", "client.key"] {
        let Ok(pem) = std::fs::read_to_string(dir.join(key)) else {
            continue;
        };
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(
                !text.contains(line),
                "{what} shows a line of {key}:\n{text}"
            );
        }
    }
}
