//! One variant, in its own process: sets up what the variant has, runs the paced workload,
//! and prints its CPU time over the measured window (for the paired variant, over the
//! mailboxes' slices, with the extra against bare channels in the same process).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alys_telemetry::sources::actors::ActorSystem;
use alys_telemetry::{Telemetry, TelemetryConfig};

use serde_json::json;
use tokio::sync::watch;

use crate::cpu::cpu_time;
use crate::report::Variant;
use crate::workload::{self, Gate, Kinds, Pace};

fn knob(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is set by the benchmark"))
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
    let pace = |gate| Pace {
        per_second,
        sent: Arc::new(AtomicU64::new(0)),
        gate,
    };
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
        let result = match variant {
            Variant::SdkDisabledPaired => {
                let system = ActorSystem::<Kinds>::new(&meter(telemetry.as_ref()));
                paired(Some(&system), iterations, pace, seconds, warmup).await
            }
            Variant::BarePaired => paired(None, iterations, pace, seconds, warmup).await,
            _ => {
                let pace = pace(Gate::Open);
                let sent = pace.sent.clone();
                match variant {
                    Variant::Bare => workload::bare(iterations, pace),
                    Variant::MetricsCrate => workload::metered::run(iterations, pace),
                    _ => {
                        let system = ActorSystem::<Kinds>::new(&meter(telemetry.as_ref()));
                        workload::mailboxes(&system, iterations, pace);
                    }
                }
                tokio::time::sleep(Duration::from_secs(warmup)).await;
                // Only when asked (the memory run): each look gathers the whole registry.
                let store = telemetry
                    .as_ref()
                    .filter(|_| std::env::var_os("SYSTEM_BENCH_WATCH_STORE").is_some())
                    .map(|t| StorePeak::watch(t.registry().clone()));
                let window = Window::measure(&sent, Duration::from_secs(seconds), || ()).await;
                json!({
                    "cpu_s": window.cpu.as_secs_f64(),
                    "wall_s": window.wall.as_secs_f64(),
                    "messages": window.messages,
                    "store_peak_bytes": store.map_or(0, StorePeak::finish),
                })
            }
        };
        let mut result = result;
        result["queue_full"] = json!(telemetry.as_ref().map(queue_full).unwrap_or(0.0));
        result["rss_kb"] = json!(peak_rss_kb());
        println!("result {result}");
        if let Some(t) = telemetry {
            t.shutdown().await;
        }
    });
}

/// The meter the mailboxes record with.
fn meter(telemetry: Option<&alys_telemetry::TelemetryGuard>) -> opentelemetry::metrics::Meter {
    match telemetry {
        // Diagnostics: the mailboxes' clocks and context without the SDK's records.
        _ if std::env::var_os("SYSTEM_BENCH_NOOP_METER").is_some() => {
            use opentelemetry::metrics::MeterProvider as _;
            opentelemetry::metrics::noop::NoopMeterProvider::new().meter("noop")
        }
        Some(t) => t.meter(),
        None => opentelemetry::global::meter("system-bench"),
    }
}

/// CPU, wall time and handled messages over one measured stretch.
struct Window {
    cpu: Duration,
    wall: Duration,
    messages: u64,
}

impl Window {
    /// Measures `length` from now, counting the messages sent into the pipeline behind
    /// `sent` (each is handled once per hop); `end` runs at the end, inside the window.
    async fn measure(sent: &AtomicU64, length: Duration, end: impl FnOnce()) -> Window {
        let (cpu0, wall0, sent0) = (cpu_time(), Instant::now(), sent.load(Ordering::Relaxed));
        tokio::time::sleep(length).await;
        end();
        let (cpu1, wall1, sent1) = (cpu_time(), Instant::now(), sent.load(Ordering::Relaxed));
        Window {
            cpu: cpu1 - cpu0,
            wall: wall1 - wall0,
            messages: (sent1 - sent0) * workload::HOPS,
        }
    }

    fn ns_per_message(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e9 / self.messages.max(1) as f64
    }
}

/// Opens one pipeline's gate for `length`, and measures it.
async fn turn(on: &watch::Sender<bool>, sent: &AtomicU64, length: Duration) -> Window {
    on.send_replace(true);
    Window::measure(sent, length, || {
        on.send_replace(false);
    })
    .await
}

/// Half a second of one pipeline, then of the other.
const SLICE: Duration = Duration::from_millis(500);
/// Pairs of slices per second of the measured window: a pair's difference scatters by about
/// 130 ns on the 2-vCPU VM, so the paired variant runs three times as long as the others to
/// bring the median's uncertainty near 10 ns over five rounds.
const PAIRS_PER_SECOND: u64 = 3;

/// The mailboxes and bare channels in one process, taking turns in half-second slices (in
/// the order bare, mailboxes, mailboxes, bare, ...): each pair of slices gives the extra CPU
/// per message of the mailboxes against bare channels a second apart, so that the machine's
/// drift between processes, larger than the difference sought, cancels.
async fn paired(
    contender: Option<&ActorSystem<Kinds>>,
    iterations: u64,
    pace: impl Fn(Gate) -> Pace,
    seconds: u64,
    warmup: u64,
) -> serde_json::Value {
    let (bare_on, bare_gate) = watch::channel(false);
    let (mailboxes_on, mailboxes_gate) = watch::channel(false);
    let bare = pace(Gate::Switch(bare_gate));
    let mailboxes = pace(Gate::Switch(mailboxes_gate));
    // The pipeline built second measured some 35 ns a message dearer in a bare-against-bare
    // run (the `bare_paired` row shows this bias in every run): the order alternates with
    // the round, so that it cancels over an even number of rounds.
    let build_contender = || match contender {
        Some(system) => workload::mailboxes(system, iterations, mailboxes.clone()),
        None => workload::bare(iterations, mailboxes.clone()),
    };
    if knob("SYSTEM_BENCH_ROUND").is_multiple_of(2) {
        workload::bare(iterations, bare.clone());
        build_contender();
    } else {
        build_contender();
        workload::bare(iterations, bare.clone());
    }
    let half_warmup = Duration::from_secs(warmup) / 2;
    turn(&bare_on, &bare.sent, half_warmup).await;
    turn(&mailboxes_on, &mailboxes.sent, half_warmup).await;
    let mut extra = Vec::new();
    let (mut cpu, mut wall, mut messages) = (Duration::ZERO, Duration::ZERO, 0);
    for pair in 0..seconds * PAIRS_PER_SECOND {
        let (b, m) = if pair % 2 == 0 {
            let b = turn(&bare_on, &bare.sent, SLICE).await;
            (b, turn(&mailboxes_on, &mailboxes.sent, SLICE).await)
        } else {
            let m = turn(&mailboxes_on, &mailboxes.sent, SLICE).await;
            (turn(&bare_on, &bare.sent, SLICE).await, m)
        };
        extra.push(m.ns_per_message() - b.ns_per_message());
        cpu += m.cpu;
        wall += m.wall;
        messages += m.messages;
    }
    json!({
        "cpu_s": cpu.as_secs_f64(),
        "wall_s": wall.as_secs_f64(),
        "messages": messages,
        "paired_ns": extra,
    })
}

/// The viewer's trace store's largest size over the measured window, read from its gauge
/// (`alys_telemetry_trace_store_memory_bytes`) every 250 ms: the memory run
/// (`SYSTEM_BENCH_WATCH_STORE=1`) shows its bound holding at message rate. Each look gathers
/// the whole registry (about a scrape's work), so the other runs do not look.
struct StorePeak {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl StorePeak {
    fn watch(registry: prometheus::Registry) -> StorePeak {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let bytes = registry
                    .gather()
                    .iter()
                    .filter(|f| f.name() == "alys_telemetry_trace_store_memory_bytes")
                    .flat_map(|f| f.get_metric())
                    .map(|m| m.get_gauge().get_value() as u64)
                    .max()
                    .unwrap_or(0);
                seen.fetch_max(bytes, Ordering::Relaxed);
            }
        });
        StorePeak { peak, task }
    }

    fn finish(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Spans dropped on a full queue, as the pipeline counts them
/// (`alys_telemetry_export_dropped_items_total{signal="traces", reason="queue_full"}`).
fn queue_full(telemetry: &alys_telemetry::TelemetryGuard) -> f64 {
    use alys_telemetry::sources::catalog::pipeline::{ExportDropReason, Signal};
    let traces = telemetry.export_stats().signal(Signal::Traces);
    traces.dropped(ExportDropReason::QueueFull) as f64
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
