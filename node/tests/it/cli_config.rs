//! Configuration through the real binary: invalid input stops start-up with exit code 2 and a
//! message naming the key and value; precedence is file < environment < flags; header values
//! never appear in any output.

use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{Proc, TempDir, free_port, http_get, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_alys-telemetry");

/// A command with none of the variables we read leaking in from the test's environment.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.starts_with("ALYS_TELEMETRY_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn each_invalid_value_exits_2_naming_key_and_value() {
    let cases: &[(&str, &str)] = &[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("ALYS_TELEMETRY_LISTEN", "not-an-address"),
    ];
    for (var, value) in cases {
        let out = run(command(&["demo", "--duration", "1s"]).env(var, value));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert!(err.contains(var) && err.contains(value), "{var}: {err}");
    }
    // The same through a flag names the flag.
    let out = run(&mut command(&["demo", "--sampler-ratio", "1.7"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--sampler-ratio"), "{}", stderr(&out));
}

#[test]
fn an_unknown_key_in_the_file_exits_2_naming_it() {
    let dir = TempDir::new("cfg");
    let file = dir.path.join("alys.toml");
    std::fs::write(&file, "[pull]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n").unwrap();
    let out = run(&mut command(&["--config", file.to_str().unwrap(), "demo"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pull.lisen"), "{}", stderr(&out));
}

#[test]
fn an_address_in_use_exits_2_and_starts_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&mut command(&[
        "demo",
        "--listen",
        &addr,
        "--otlp-endpoint",
        "http://127.0.0.1:1",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ALYS_TELEMETRY_LISTEN") && err.contains(&addr),
        "{err}"
    );
    // Nothing started: no pipeline start-up line was logged.
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("telemetry pipeline started"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn effective(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let dir = TempDir::new("cfg");
    let file = dir.path.join("alys.toml");
    std::fs::write(
        &file,
        "[pull]\nlisten = \"127.0.0.1:1111\"\n[service]\nname = \"from-file\"\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let from_file = effective(&mut command(&["--config", f, "config"]));
    assert!(from_file.contains("127.0.0.1:1111") && from_file.contains("from-file"));

    let from_env = effective(
        command(&["--config", f, "config"])
            .env("ALYS_TELEMETRY_LISTEN", "127.0.0.1:2222")
            .env("OTEL_SERVICE_NAME", "from-env"),
    );
    assert!(from_env.contains("127.0.0.1:2222") && from_env.contains("from-env"));

    let from_flag = effective(
        command(&["--config", f, "config", "--listen", "127.0.0.1:3333"])
            .env("ALYS_TELEMETRY_LISTEN", "127.0.0.1:2222")
            .env("OTEL_SERVICE_NAME", "from-env"),
    );
    assert!(from_flag.contains("127.0.0.1:3333"), "{from_flag}");
    assert!(
        from_flag.contains("from-env"),
        "the env value stays where no flag is given"
    );
}

#[test]
fn the_effective_listen_address_is_the_one_served() {
    let port = free_port();
    let mut demo = Proc::spawn(
        {
            let mut c = command(&["demo", "--no-push"]);
            c.env("ALYS_TELEMETRY_LISTEN", "127.0.0.1:1")
                .args(["--listen", &format!("127.0.0.1:{port}")]);
            c
        },
        "demo",
    );
    wait_until(
        "the flag's address serves /ready",
        Duration::from_secs(20),
        || {
            http_get(&format!("http://127.0.0.1:{port}/ready"))
                .ok()
                .filter(|(code, _, _)| *code == 200)
        },
    );
    demo.signal("INT");
    assert!(demo.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn header_tokens_appear_in_no_output() {
    let token = "tok-5e3f1a9c77d2";
    let headers = format!("authorization=Bearer%20{token},x-tenant=alys");

    let shown = effective(command(&["config"]).env("OTEL_EXPORTER_OTLP_HEADERS", &headers));
    assert!(
        shown.contains("authorization") && !shown.contains(token),
        "{shown}"
    );

    // A malformed header list: the error names the variable, not the token.
    let out = run(command(&["demo"]).env(
        "OTEL_EXPORTER_OTLP_HEADERS",
        format!("authorization {token}"),
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("OTEL_EXPORTER_OTLP_HEADERS"));
    assert!(!stderr(&out).contains(token), "{}", stderr(&out));

    // A running demo whose exports fail (nothing listens) logs the failures, never the token.
    let port = free_port();
    let mut cmd = command(&[
        "demo",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--otlp-endpoint",
        "http://127.0.0.1:1",
    ]);
    cmd.env("OTEL_EXPORTER_OTLP_HEADERS", &headers)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "debug");
    let mut demo = Proc::spawn(cmd, "demo");
    wait_until(
        "an export failure is logged",
        Duration::from_secs(20),
        || demo.stdout().contains("OTLP export failed").then_some(()),
    );
    demo.signal("TERM");
    demo.wait_exit(Duration::from_secs(15));
    let all = demo.stdout() + &demo.stderr();
    assert!(!all.contains(token), "the token leaked:\n{all}");
}
