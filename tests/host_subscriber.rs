//! A host that installed its own `tracing` subscriber before calling `Telemetry::init`: the
//! call is refused, and refused before anything global exists. A failed `init` must leave the
//! process as it found it (this binary owns the process's globals, so it is one of its own).

use std::collections::HashMap;

use alys_telemetry::Telemetry;
use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::pipeline::InitError;
use alys_test_support::span_context;
use opentelemetry::global;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};

#[tokio::test]
async fn init_under_a_host_subscriber_is_refused_and_installs_no_global() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry())
        .expect("the host's subscriber");
    let config = TelemetryConfig::from_layers(&[Layer::new(Origin::Flag)
        .set(settings::LISTEN, "127.0.0.1:0")
        .set(settings::PUSH_ENABLED, "false")
        .set(settings::SAMPLER, "always_on")])
    .expect("a valid configuration");

    let Err(error) = Telemetry::init(&config) else {
        panic!("init replaced the host's subscriber");
    };
    assert!(matches!(error, InitError::SubscriberInstalled), "{error:?}");
    assert!(error.to_string().contains("already installed"), "{error}");

    // No tracer provider: a span from the global tracer records nothing.
    let mut span = global::tracer("probe").start("probe");
    assert!(
        !span.is_recording(),
        "init left its tracer provider installed"
    );
    span.end();
    // No propagator: a sampled context injects nothing.
    let cx = opentelemetry::Context::new().with_remote_span_context(span_context(7, 9, true));
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    assert!(carrier.is_empty(), "init left its propagator: {carrier:?}");
}
