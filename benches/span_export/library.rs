//! `library_pipeline`: the library's own path, whatever it batches with: the pipeline
//! `alys_telemetry::Telemetry::build` starts from the configuration the environment gives
//! (as benches/system/child.rs loads it), its tracer provider, the same producers as
//! `sdk_pipeline`.

use std::net::SocketAddr;

use alys_telemetry::{Telemetry, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use serde_json::{Value, json};

use crate::pipeline::Producers;
use crate::variants::runtime;
use crate::window::measure;
use alys_telemetry::sources::catalog::pipeline::{ExportDropReason, Signal};

/// Whether a variant runs the library's own pipeline (`library_pipeline`, `_skim`).
pub fn is_library(variant: &str) -> bool {
    variant.starts_with("library_pipeline")
}

/// The configuration the parent gives the child, beyond what it removes for every child
/// (`parent::spawn_child`): the receiver, every span sampled (the producers' spans have a
/// sampled remote parent), and nothing in the process but the span path: no viewer's
/// store (a second span processor), no system collector, the pull endpoint on a port of its
/// own (as benches/system/main.rs), metrics pushed only at shutdown. No log records exist:
/// `build` installs no subscriber.
pub fn environment(otlp: SocketAddr) -> Vec<(&'static str, String)> {
    let fixed = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_SERVICE_NAME", "span-export-bench"),
        ("ALYS_TELEMETRY_PUSH_ENABLED", "true"),
        ("ALYS_TELEMETRY_VIEWER_ENABLED", "false"),
        ("ALYS_TELEMETRY_SYSTEM_ENABLED", "false"),
        ("ALYS_TELEMETRY_LISTEN", "127.0.0.1:0"),
        // A day, the longest allowed: no metric export inside the window.
        ("OTEL_METRIC_EXPORT_INTERVAL", "86400000"),
    ];
    let mut env = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))];
    env.extend(fixed.map(|(key, value)| (key, value.to_string())));
    env
}

pub fn run() -> Value {
    let runtime = runtime();
    let config = TelemetryConfig::load(None).expect("the configuration the parent set");
    let guard = {
        let _inside = runtime.enter();
        Telemetry::build(&config).expect("the library's pipeline")
    };
    let provider = guard
        .tracer_provider()
        .expect("a tracer provider: traces are pushed")
        .clone();
    let producers = Producers::start(|| provider.tracer("bench"));
    let window = measure(producers.ended());
    let ended = producers.stop();
    // Everything still queued goes out (or fails) before the totals are read.
    let flushed = provider.force_flush().is_ok();
    let mut result = window.json();
    result["ended_total"] = json!(ended);
    // The pipeline's own count (`alys_telemetry_export_dropped_items_total`): it keeps the
    // queue's bound in front of the SDK's processors, which therefore never drop one.
    let traces = guard.export_stats().signal(Signal::Traces);
    result["queue_full"] = json!(traces.dropped(ExportDropReason::QueueFull));
    result["flushed"] = json!(flushed);
    drop(provider);
    let report = runtime.block_on(guard.shutdown());
    result["shutdown_clean"] = json!(report.is_clean());
    result
}
