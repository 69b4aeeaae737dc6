//! One variant, in its own process: sets up what the variant has, runs the paced workload,
//! and prints its CPU time over the measured window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alys_telemetry::sources::actors::ActorSystem;
use alys_telemetry::{Telemetry, TelemetryConfig};

use crate::report::Variant;
use crate::workload;

fn knob(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is set by the benchmark"))
}

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we hand it and nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn peak_rss_kb() -> i64 {
    // SAFETY: as above.
    unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    }
}

pub fn run(name: &str) {
    let variant = Variant::parse(name).unwrap_or_else(|| panic!("unknown variant {name}"));
    let iterations = knob("SYSTEM_BENCH_ITERATIONS");
    let seconds = knob("SYSTEM_BENCH_SECONDS");
    let warmup = knob("SYSTEM_BENCH_WARMUP");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the node's runtime");
    let per_second = crate::HANDLED_PER_SECOND / workload::HOPS;
    let sent = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let telemetry = variant.has_pipeline().then(|| {
            let config = TelemetryConfig::load(None).expect("the variant's configuration");
            Telemetry::init(&config).expect("the pipeline")
        });
        let pull: Option<SocketAddr> = match variant {
            Variant::MetricsCrate => Some(metrics_recorder().await),
            _ => telemetry.as_ref().and_then(|t| t.local_addr()),
        };
        match pull {
            Some(addr) => println!("pull {addr}"),
            None => println!("pull none"),
        }
        match variant {
            Variant::Bare => workload::bare(iterations, per_second, sent.clone()),
            Variant::MetricsCrate => workload::metered::run(iterations, per_second, sent.clone()),
            _ => {
                let meter = match &telemetry {
                    // Diagnostics: the mailboxes' clocks and context without the SDK's records.
                    _ if std::env::var_os("SYSTEM_BENCH_NOOP_METER").is_some() => {
                        use opentelemetry::metrics::MeterProvider as _;
                        opentelemetry::metrics::noop::NoopMeterProvider::new().meter("noop")
                    }
                    Some(t) => t.meter(),
                    None => opentelemetry::global::meter("system-bench"),
                };
                let system = ActorSystem::new(&meter);
                workload::mailboxes(&system, iterations, per_second, sent.clone());
            }
        }
        tokio::time::sleep(Duration::from_secs(warmup)).await;
        let (cpu0, wall0, sent0) = (cpu_time(), Instant::now(), sent.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let (cpu1, wall1, sent1) = (cpu_time(), Instant::now(), sent.load(Ordering::Relaxed));
        let dropped = telemetry.as_ref().map(queue_full).unwrap_or(0.0);
        println!(
            "result {{\"cpu_s\":{},\"wall_s\":{},\"messages\":{},\"queue_full\":{},\"rss_kb\":{}}}",
            (cpu1 - cpu0).as_secs_f64(),
            (wall1 - wall0).as_secs_f64(),
            (sent1 - sent0) * workload::HOPS,
            dropped,
            peak_rss_kb(),
        );
        if let Some(t) = telemetry {
            t.shutdown().await;
        }
    });
}

/// Spans the batch processor dropped on a full queue, as the pull endpoint reports them.
fn queue_full(telemetry: &alys_telemetry::TelemetryGuard) -> f64 {
    telemetry
        .registry()
        .gather()
        .iter()
        .filter(|f| f.name() == "otel_sdk_processor_span_processed_total")
        .flat_map(|f| f.get_metric())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "error_type" && l.value() == "queue_full")
        })
        .map(|m| m.get_counter().get_value())
        .sum()
}

/// The `metrics` crate's Prometheus recorder, installed globally and served on a loopback
/// port of its own (the same scrape as the pipeline's pull endpoint).
async fn metrics_recorder() -> SocketAddr {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the metrics recorder");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
