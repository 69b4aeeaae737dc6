//! A host with its own `tracing` subscriber. `Telemetry::build` gives it the pipeline as
//! layers to stack on that subscriber, touching no process global; `Telemetry::init` refuses
//! it, before anything global exists. Both tests check that the process's OpenTelemetry
//! globals stay the API's no-ops: each runs in a process of its own (`rusty_fork_test!`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alys_telemetry::Telemetry;
use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::pipeline::{InitError, not_handling_spans};
use alys_telemetry::sources::catalog::sync::SyncMetrics;
use alys_test_support::own_process::{block_on, block_on_workers};
use alys_test_support::{OtlpCollector, http_get, span_context, wait_until};
use opentelemetry::global;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
use rusty_fork::rusty_fork_test;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The host's log output: what its own fmt layer wrote.
#[derive(Clone, Default)]
struct HostLog(Arc<Mutex<Vec<u8>>>);

impl Write for HostLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HostLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The API's no-ops are still the globals: a span from the global tracer records nothing, and
/// the global propagator injects nothing from a sampled context.
fn assert_no_global_installed() {
    let mut span = global::tracer("probe").start("probe");
    assert!(
        !span.is_recording(),
        "a tracer provider was installed globally"
    );
    span.end();
    let cx = opentelemetry::Context::new().with_remote_span_context(span_context(7, 9, true));
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    assert!(
        carrier.is_empty(),
        "a propagator was installed globally: {carrier:?}"
    );
}

rusty_fork_test! {
    #[test]
    fn a_host_stacks_the_pipeline_on_its_own_subscriber_and_no_global_is_touched() {
        block_on_workers(2, async {
            let collector = tokio::task::spawn_blocking(OtlpCollector::start)
                .await
                .unwrap();
            let config = TelemetryConfig::from_layers(&[Layer::new(Origin::Flag)
                .set(settings::LISTEN, "127.0.0.1:0")
                .set(settings::ENDPOINT, collector.grpc_endpoint())
                .set(settings::SERVICE_NAME, "host-service")
                .set(settings::SAMPLER, "always_on")])
            .expect("a valid configuration");
            let telemetry = Telemetry::build(&config).expect("the pipeline builds");

            // The host's subscriber: its own filter and log lines, then ours. This thread's default,
            // so nothing process-wide is installed by the host either.
            let host_log = HostLog::default();
            let writer = host_log.clone();
            let subscriber = tracing_subscriber::registry()
                .with(EnvFilter::new("info"))
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(move || writer.clone())
                        .with_filter(not_handling_spans()),
                )
                .with(telemetry.layer());
            let host_default = tracing::subscriber::set_default(subscriber);

            let sync = SyncMetrics::new(&telemetry.meter());
            sync.set_target_height(4_242);
            tracing::info_span!("host.request", route = "/blocks").in_scope(|| {
                tracing::info!(height = 4_242, "request handled");
            });
            telemetry.mark_ready();

            let addr = telemetry.local_addr().expect("the pull endpoint runs");
            let (status, body, _) = http_get(&format!("http://{addr}/metrics")).expect("GET /metrics");
            assert_eq!(status, 200);
            assert!(
                body.lines().any(|l| l == "alys_sync_target_height 4242"),
                "the host's metric on /metrics:
        {body}"
            );
            assert!(
                body.contains("alys_telemetry_export_attempts_total"),
                "the pipeline meters itself on its own meter:
        {body}"
            );
            assert!(
                host_log.text().contains("request handled"),
                "the host's fmt layer saw the event: {}",
                host_log.text()
            );
            drop(host_default);
            let report = telemetry.shutdown().await;
            assert!(report.is_clean(), "{report:?}");

            let span = wait_until(
                "the host's span at the collector",
                Duration::from_secs(15),
                || {
                    collector
                        .spans()
                        .into_iter()
                        .find(|s| s.name == "host.request")
                },
            );
            assert_eq!(span.service_name.as_deref(), Some("host-service"));
            assert_eq!(span.attr("route"), Some("/blocks"));
            let log = collector
                .logs()
                .into_iter()
                .find(|l| l.body == "request handled")
                .expect("the event reached the collector through the log bridge");
            assert_eq!(
                log.trace_id, span.trace_id,
                "the log line belongs to the span's trace"
            );
            assert_no_global_installed();
        })
    }
}

rusty_fork_test! {
    #[test]
    fn init_under_a_host_subscriber_is_refused_and_installs_no_global() {
        block_on(async {
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

            assert_no_global_installed();
        })
    }
}
