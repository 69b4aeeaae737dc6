//! Shutdown flushes on a current-thread runtime, where blocking the only thread would starve
//! the gRPC exporter: the last span must still reach a real receiver.

use std::time::Duration;

use alys_telemetry::Telemetry;
use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::pipeline::SignalShutdown;
use alys_test_support::{OtlpCollector, wait_until};
use rusty_fork::rusty_fork_test;

rusty_fork_test! {
    #[test]
    fn shutdown_on_a_current_thread_runtime_flushes_the_last_span() {
        let collector = OtlpCollector::start();
        let config = TelemetryConfig::from_layers(&[Layer::new(Origin::Flag)
            .set(settings::LISTEN, "127.0.0.1:0")
            .set(settings::ENDPOINT, collector.grpc_endpoint())
            .set(settings::SERVICE_NAME, "current-thread-node")
            .set(settings::SHUTDOWN_TIMEOUT, "5000")])
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let report = runtime.block_on(async {
            let telemetry = Telemetry::init(&config).expect("pipeline starts");
            assert!(telemetry.local_addr().is_some_and(|a| a.port() != 0));
            tracing::info_span!("last.words").in_scope(|| tracing::info!("goodbye"));
            // The batch processor's default delay is 5 s: only the shutdown flush delivers in time.
            telemetry.shutdown().await
        });
        assert_eq!(report.traces, SignalShutdown::Done, "{report:?}");
        assert_eq!(report.logs, SignalShutdown::Done, "{report:?}");
        assert!(report.elapsed < Duration::from_secs(5), "{report:?}");
        let span = wait_until(
            "the flushed span at the receiver",
            Duration::from_secs(10),
            || {
                collector
                    .spans()
                    .into_iter()
                    .find(|s| s.name == "last.words")
            },
        );
        assert_eq!(span.parent_id, "");
        assert!(collector.logs().iter().any(|l| l.body == "goodbye"));
    }
}
