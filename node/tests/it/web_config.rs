//! The demo with a web configuration file (`--web.config.file`): served over TLS with basic
//! auth, it reloads the file on SIGHUP (and lives on: SIGHUP no longer ends it), takes a new
//! password, and a bad file stops it at start with exit code 2 and a message naming the file
//! and the problem. No password or hash in its output.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::node::BIN;
use crate::support::{Proc, TempDir, free_port, wait_until};

/// Test passwords and their bcrypt hashes (cost 10, made with libxcrypt as `htpasswd -B`
/// makes them).
const OLD_PASSWORD: &str = "prom-pass-7";
const OLD_HASH: &str = "$2y$10$tRZgEmgFG/..XcfoCgeGIOAfCtw8xxXBLk6l4R01D9axaN7dD0zbS";
const NEW_PASSWORD: &str = "prom-pass-8";
const NEW_HASH: &str = "$2b$10$x4VjwCSIS/f7ZEEaRhFDIOrxpC8fHQsoCl0snH9fU101U7PZTJgMW";

fn web_config(hash: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
         basic_auth_users:\n  prometheus: {hash}\n"
    )
}

/// `alys-telemetry demo` on `port` with `dir/web.yml`, pull only, logging at info, and none
/// of the test's own OTEL_/ALYS_ variables.
fn demo(dir: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.starts_with("ALYS_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.arg("demo")
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-push"])
        .arg("--web.config.file")
        .arg(dir.join("web.yml"))
        .env("RUST_LOG", "info");
    Proc::spawn(cmd, "demo-web-config")
}

/// The status curl gets for `path` over TLS (trusting the test CA) with `args`.
fn status(dir: &Path, port: u16, path: &str, args: &[&str]) -> Option<u16> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg("--cacert")
        .arg(dir.join("ca.pem"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(args)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .unwrap_or_else(|e| panic!("curl ({e}): run scripts/install-test-deps.sh"));
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn user(password: &str) -> [String; 2] {
    ["-u".to_string(), format!("prometheus:{password}")]
}

fn scrape(dir: &Path, port: u16, password: &str) -> Option<u16> {
    let args = user(password);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    status(dir, port, "/metrics", &args)
}

fn assert_no_secret(output: &str) {
    for secret in [OLD_PASSWORD, NEW_PASSWORD, &OLD_HASH[7..], &NEW_HASH[7..]] {
        assert!(
            !output.contains(secret),
            "the output shows a secret:\n{output}"
        );
    }
}

#[test]
fn sighup_reloads_the_web_config_and_the_new_password_opens_metrics() {
    let dir = TempDir::new("node-web-config");
    alys_test_support::tls::make_certificates(&dir.path).unwrap();
    std::fs::write(dir.join("web.yml"), web_config(OLD_HASH)).unwrap();
    let port = free_port();
    let mut node = demo(&dir.path, port);
    wait_until("/ready over TLS", Duration::from_secs(30), || {
        (status(&dir.path, port, "/ready", &[]) == Some(200)).then_some(())
    });
    assert_eq!(status(&dir.path, port, "/metrics", &[]), Some(401));
    assert_eq!(scrape(&dir.path, port, OLD_PASSWORD), Some(200));

    // SIGHUP with nothing changed: reloaded all the same, and the node lives on.
    node.signal("HUP");
    wait_until("the forced reload", Duration::from_secs(10), || {
        // The demo's log lines go to stdout.
        let output = format!("{}\n{}", node.stdout(), node.stderr());
        output
            .lines()
            .any(|l| l.contains("web config reloaded") && l.contains("forced=true"))
            .then_some(())
    });
    assert!(node.is_running(), "{}", node.output_tail(20));

    std::fs::write(dir.join("web.yml"), web_config(NEW_HASH)).unwrap();
    node.signal("HUP");
    wait_until("the new password", Duration::from_secs(15), || {
        let new = scrape(&dir.path, port, NEW_PASSWORD)?;
        let old = scrape(&dir.path, port, OLD_PASSWORD)?;
        (new == 200 && old == 401).then_some(())
    });
    assert!(node.is_running());
    node.signal("TERM");
    assert!(node.wait_exit(Duration::from_secs(15)).is_some());
    assert_no_secret(&format!("{}\n{}", node.stdout(), node.stderr()));
}

#[test]
fn a_bad_web_config_stops_the_node_with_exit_code_2_naming_the_file() {
    let dir = TempDir::new("node-web-config-bad");
    alys_test_support::tls::make_certificates(&dir.path).unwrap();
    let bad = web_config(OLD_HASH).replace(&OLD_HASH[20..], "");
    std::fs::write(dir.join("web.yml"), bad).unwrap();
    let mut node = demo(&dir.path, free_port());
    let status = node
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running:\n{}", node.output_tail(20)));
    assert_eq!(status.code(), Some(2), "{}", node.output_tail(20));
    let stderr = node.stderr();
    assert!(
        stderr.contains(&dir.join("web.yml").display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{stderr}"
    );
    assert_no_secret(&stderr);
    assert!(!stderr.contains(&OLD_HASH[7..20]), "{stderr}");
}
