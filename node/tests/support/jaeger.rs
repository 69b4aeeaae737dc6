//! Jaeger v2 (the stack's program, stack-programs/versions.toml) alone on loopback: OTLP in
//! on ephemeral ports, traces in memory, the query API on an ephemeral port. Its own
//! telemetry is off (its tracer would otherwise export to localhost:4317). Killed on drop.

use std::process::Command;
use std::time::Duration;

use super::{Proc, TempDir, free_port, http_get, stack_tool, wait_until};

pub struct Jaeger {
    pub proc: Proc,
    pub otlp_grpc: u16,
    pub otlp_http: u16,
    pub query: u16,
    _dir: TempDir,
}

impl Jaeger {
    pub fn start() -> Jaeger {
        let dir = TempDir::new("jaeger");
        let (otlp_grpc, otlp_http, query, query_grpc) =
            (free_port(), free_port(), free_port(), free_port());
        let config = format!(
            "service:\n  extensions: [jaeger_storage, jaeger_query]\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [jaeger_storage_exporter]\n  telemetry:\n    metrics:\n      level: none\n    traces:\n      level: none\n    logs:\n      level: warn\n\
             extensions:\n  jaeger_query:\n    storage:\n      traces: mem\n    http:\n      endpoint: 127.0.0.1:{query}\n    grpc:\n      endpoint: 127.0.0.1:{query_grpc}\n  jaeger_storage:\n    backends:\n      mem:\n        memory:\n          max_traces: 100000\n\
             receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{otlp_grpc}\n      http:\n        endpoint: 127.0.0.1:{otlp_http}\n\
             exporters:\n  jaeger_storage_exporter:\n    trace_storage: mem\n"
        );
        let path = dir.join("config.yaml");
        std::fs::write(&path, config).expect("write the Jaeger config");
        let mut cmd = Command::new(stack_tool("jaeger"));
        cmd.arg("--config").arg(&path);
        let proc = Proc::spawn(cmd, "jaeger");
        let jaeger = Jaeger {
            proc,
            otlp_grpc,
            otlp_http,
            query,
            _dir: dir,
        };
        wait_until("Jaeger's query API", Duration::from_secs(30), || {
            http_get(&jaeger.url("/api/v3/services"))
                .ok()
                .filter(|(code, _, _)| *code == 200)
        });
        jaeger
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.query)
    }
}
