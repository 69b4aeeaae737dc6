//! The collector as the tests of a collector outage need it: the shipped configuration's
//! receivers and processors, every signal written to a file, stopped and started again on the
//! same ports.
//!
//! The collector merges the `--config` files it is given, maps key by key, so the shipped file
//! comes first and a small file of ours replaces only what a test cannot use: the listen
//! addresses (loopback, ephemeral ports) and each pipeline's exporters (files, in place of
//! Jaeger and Prometheus). The receivers and processors are the shipped ones.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::*;
use crate::collector::{distinct_free_ports, file_exporter, health_answers};

impl OtlpCollector {
    /// Starts the collector with `shipped`'s receivers and processors (for example
    /// otel-collector/config.yaml) on free loopback ports, each signal written to a file.
    pub fn start_shipped(shipped: &Path) -> OtlpCollector {
        let dir = TempDir::new("otelcol-shipped");
        let [grpc_port, http_port, health_port, telemetry_port] = distinct_free_ports();
        let proc = launch(shipped, &dir.join("overrides-0.yaml"), health_port, &|| {
            overrides(
                &dir.path,
                0,
                [grpc_port, http_port, health_port, telemetry_port],
            )
        });
        OtlpCollector {
            grpc_port,
            http_port,
            proc,
            dir,
            health_port,
            telemetry_port,
            shipped: Some(shipped.to_path_buf()),
            incarnation: 0,
        }
    }

    /// Stops the collector as an orchestrator does (SIGTERM: it drains what it accepted into
    /// its files), and waits for it to exit.
    pub fn stop(&mut self) {
        self.proc.signal("TERM");
        let exited = self.proc.wait_exit(Duration::from_secs(30));
        assert!(
            exited.is_some(),
            "the collector did not stop within 30 s of SIGTERM\n{}",
            self.proc.output_tail(40)
        );
    }

    /// Starts the collector again on the same ports, writing files of its own.
    pub fn restart(&mut self) {
        let shipped = self
            .shipped
            .clone()
            .expect("only start_shipped collectors restart");
        self.incarnation += 1;
        let n = self.incarnation;
        let ports = [
            self.grpc_port,
            self.http_port,
            self.health_port,
            self.telemetry_port,
        ];
        let path = self.dir.join(format!("overrides-{n}.yaml"));
        let dir = self.dir.path.clone();
        self.proc = launch(&shipped, &path, self.health_port, &|| {
            overrides(&dir, n, ports)
        });
    }
}

/// Starts the collector with `shipped`, then the overrides `write` makes, and waits for its
/// health check on `health`.
fn launch(shipped: &Path, overrides_path: &Path, health: u16, write: &dyn Fn() -> String) -> Proc {
    fs::write(overrides_path, write()).expect("write the collector's overrides");
    let mut cmd = Command::new(stack_tool("otelcol-alys"));
    cmd.arg(format!("--config={}", shipped.display()))
        .arg(format!("--config={}", overrides_path.display()));
    let mut proc = Proc::spawn(cmd, "otelcol");
    let ready = poll(Duration::from_secs(30), &mut || {
        if !proc.is_running() {
            return Some(false);
        }
        health_answers(health).then_some(true)
    });
    assert_eq!(
        ready,
        Some(true),
        "the collector did not become ready on its ports\n{}",
        proc.output_tail(40)
    );
    proc
}

/// Loopback addresses on `ports` (gRPC, HTTP, health, own metrics), and each pipeline's
/// exporters replaced by files of start `n`.
fn overrides(dir: &Path, n: u32, ports: [u16; 4]) -> String {
    let [grpc, http, health, telemetry] = ports;
    let file = |signal: &str| file_exporter(signal, &dir.join(format!("{signal}-{n}.jsonl")));
    format!(
        "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
             receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\n\
             exporters:\n{traces}{metrics}{logs}\
             service:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: {telemetry}\n\
             \x20 pipelines:\n    traces:\n      exporters: [file/traces, span_metrics]\n    metrics:\n      exporters: [file/metrics]\n    metrics/span_metrics:\n      exporters: [file/metrics]\n    logs:\n      exporters: [file/logs]\n",
        traces = file("traces"),
        metrics = file("metrics"),
        logs = file("logs"),
    )
}
