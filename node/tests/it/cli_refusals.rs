//! Bad input through the real binary stops start-up before anything starts, with exit code 2
//! and the flag or variable named: numbers the SDK would crash on, flags the node could not
//! use, values that are not UTF-8; and a URL's credentials appear in no output.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{Proc, free_port, http_get, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_alys-telemetry");

/// A command with none of the variables we read leaking in from the test's environment.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("OTEL_") || name.starts_with("ALYS_") || name == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.args(args);
    cmd
}

/// Runs `cmd`, bounded: a refusal must come at once, not after the node ran.
fn run(cmd: &mut Command) -> Output {
    let started = Instant::now();
    let out = cmd.output().expect("the binary runs");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    out
}

/// Asserts `out` is a refusal before anything started, naming `name`.
fn assert_refused(out: &Output, name: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    assert!(stderr.contains(name), "{name} not named: {stderr}");
    assert!(
        !stdout.contains("telemetry pipeline started"),
        "{name}: the pipeline started before the refusal:\n{stdout}"
    );
}

#[test]
fn batch_queue_sizes_that_crashed_start_up_exit_2_naming_the_variable() {
    for var in ["OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BLRP_MAX_QUEUE_SIZE"] {
        for value in ["18446744073709551615", "1000000000000"] {
            let port = free_port().to_string();
            let out = run(command(&[
                "demo",
                "--duration",
                "2s",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--otlp-endpoint",
                "http://127.0.0.1:1",
            ])
            .env(var, value));
            assert_refused(&out, var);
            assert!(String::from_utf8_lossy(&out.stderr).contains(value));
        }
    }
    // The SDK's own variables beside the settings are held to a range too.
    let out = run(command(&["config"]).env("OTEL_SPAN_EVENT_COUNT_LIMIT", "4294967295"));
    assert_refused(&out, "OTEL_SPAN_EVENT_COUNT_LIMIT");
}

#[test]
fn governance_flags_the_node_cannot_use_exit_2_naming_the_flag() {
    let out = run(&mut command(&[
        "demo",
        "--governance-endpoint",
        "unix:///x",
    ]));
    assert_refused(&out, "--governance-endpoint");
    let out = run(&mut command(&[
        "demo",
        "--governance-endpoint",
        "http://127.0.0.1:1",
        "--tls-ca",
        "/no/such/ca.pem",
    ]));
    assert_refused(&out, "--tls-ca");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/ca.pem"));
    let out = run(&mut command(&[
        "governance-server",
        "--tls-cert",
        "/no/such/cert.pem",
        "--tls-key",
        "/no/such/key.pem",
    ]));
    assert_refused(&out, "--tls-cert");
    let out = run(&mut command(&["governance-server", "--error-rate", "1.5"]));
    assert_refused(&out, "--error-rate");
}

#[test]
fn values_that_are_not_utf8_exit_2_naming_the_variable() {
    let bad = OsStr::from_bytes(b"alys\xff");
    for var in [
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "RUST_LOG",
        "ALYS_GOVERNANCE_TOKEN",
    ] {
        let out = run(command(&["demo", "--duration", "1s"]).env(var, bad));
        assert_refused(&out, var);
    }
    let out = run(command(&["config"]).env("OTEL_EXPORTER_OTLP_PROTOCOL", bad));
    assert_refused(&out, "OTEL_EXPORTER_OTLP_PROTOCOL");
    // A log filter that is not one is refused as well, not replaced by a default.
    let out = run(command(&["demo", "--duration", "1s"]).env("RUST_LOG", "info,[{"));
    assert_refused(&out, "RUST_LOG");
}

#[test]
fn a_url_password_appears_in_no_output() {
    let password = "pa55-9d1e7c";
    let otlp = format!("http://collector:{password}@127.0.0.1:1");
    let out = run(command(&["config"]).env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(shown.contains("<redacted>@127.0.0.1:1"), "{shown}");
    assert!(!shown.contains(password), "{shown}");

    // Refused URLs are named without their credentials.
    let out = run(command(&["demo"]).env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("ftp://u:{password}@h"),
    ));
    assert_refused(&out, "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(password));
    let out = run(&mut command(&[
        "demo",
        "--governance-endpoint",
        &format!("unix://u:{password}@h"),
    ]));
    assert_refused(&out, "--governance-endpoint");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(password));

    // A running demo logs its endpoints at start-up and its failures: never the password.
    let port = free_port();
    let closed = free_port();
    let mut cmd = command(&[
        "demo",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--governance-endpoint",
        &format!("http://node:{password}@127.0.0.1:{closed}"),
    ]);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .env("RUST_LOG", "debug");
    let mut demo = Proc::spawn(cmd, "demo");
    wait_until("the demo to be ready", Duration::from_secs(30), || {
        http_get(&format!("http://127.0.0.1:{port}/ready"))
            .ok()
            .filter(|(code, _, _)| *code == 200)
    });
    wait_until(
        "an export failure is logged",
        Duration::from_secs(20),
        || demo.stdout().contains("OTLP export failed").then_some(()),
    );
    demo.signal("TERM");
    assert!(demo.wait_exit(Duration::from_secs(15)).is_some());
    let all = demo.stdout() + &demo.stderr();
    assert!(
        all.contains("<redacted>@"),
        "the start-up log names the endpoint"
    );
    assert!(!all.contains(password), "the password leaked:\n{all}");
}
