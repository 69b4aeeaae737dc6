//! The system benchmark: what instrumentation costs a running process at message rate.
//!
//! Four actors in a pipeline pass 50,000 messages a second between them (a source sends
//! 12,500 a second into the first), each doing about 2 µs of hashing per message, on a
//! two-worker runtime. Each variant runs in a process of its own (the global subscriber and
//! providers exist once per process), one after another in rotating order, for several
//! rounds; each reports the CPU time it spent (getrusage) over a measured window after a
//! warm-up. The extra CPU of a variant is against bare tokio channels in the same round, per
//! handled message:
//!
//! - `bare`: tokio mpsc channels, no telemetry;
//! - `metrics_crate`: a metered channel recording with the `metrics` crate (what a user would
//!   pick instead), its Prometheus recorder scraped;
//! - `sdk_disabled`: the library's mailboxes with `OTEL_SDK_DISABLED=true`;
//! - `sdk_disabled_paired`: the same, against bare channels in the same process: the two
//!   pipelines take half-second turns (bare, mailboxes, mailboxes, bare, ...) and each pair
//!   of turns gives one difference, so that drift between processes, on this VM larger than
//!   the 50 ns sought, cancels; it runs three times as long as the others, and its row is the
//!   median over all pairs with its standard error;
//! - `bare_paired`: bare channels against bare channels by the same turns: the paired
//!   method's own bias and scatter, to read the row above against (the pipeline built second
//!   measured dearer, so the build order alternates with the round: run an even number);
//! - `mailbox_metrics`: the mailboxes and the full pipeline with `always_off`: metrics, no span;
//! - `ratio_0.01`, `ratio_1`: the full pipeline, `parentbased_traceidratio` at 0.01 and 1.0;
//! - `ratio_1_sdk_batch`: ratio 1.0 with the batch span processor's SDK defaults (its drops);
//! - `ratio_1_no_viewer`: ratio 1.0 without the viewer's trace store (what it adds a span).
//!
//! The full pipeline is the production one (`Telemetry::init`): the pull endpoint, scraped
//! every 5 s by this process, OTLP/gRPC push of traces, metrics and logs to a receiver in this
//! process (a blackhole that counts), the system collector.
//!
//! `cargo bench --bench system` prints the table and writes target/system-bench/summary.json,
//! which `scripts/perf-table.py system` renders for docs/performance.md. Knobs (environment):
//! `SYSTEM_BENCH_ROUNDS` (6), `SYSTEM_BENCH_SECONDS` (10), `SYSTEM_BENCH_WARMUP` (3),
//! `SYSTEM_BENCH_VARIANTS` (a comma-separated subset), `SYSTEM_BENCH_WATCH_STORE=1` (report the
//! viewer's trace store at its largest: the memory run).
//! For diagnosis, `SYSTEM_BENCH_NOOP_METER=1` gives the mailboxes a no-op meter: their clock
//! reads and context capture stay, the SDK's records go (the share of records in a variant's
//! cost, docs/performance.md).

/// The node's programs allocate with mimalloc (docs/performance.md, "The allocator"); the
/// benchmark measures the library as they run it, every variant alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod blackhole;
mod child;
#[path = "../common/cpu.rs"]
mod cpu;
mod report;
mod workload;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use report::{Run, Variant};

/// Handled messages a second across the four actors.
pub const HANDLED_PER_SECOND: u64 = 50_000;
/// The work each actor does per message.
pub const WORK: Duration = Duration::from_micros(2);

const VARIANT_VAR: &str = "SYSTEM_BENCH_CHILD";

fn main() {
    if let Ok(variant) = std::env::var(VARIANT_VAR) {
        child::run(&variant);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass other flags: only run
    // when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds = knob("SYSTEM_BENCH_ROUNDS", 6);
    let seconds = knob("SYSTEM_BENCH_SECONDS", 10);
    let warmup = knob("SYSTEM_BENCH_WARMUP", 3);
    let variants: Vec<Variant> = match std::env::var("SYSTEM_BENCH_VARIANTS") {
        Ok(list) => list.split(',').filter_map(Variant::parse).collect(),
        Err(_) => Variant::ALL.to_vec(),
    };
    let iterations = workload::calibrate(WORK);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the receiver's runtime");
    let (otlp, received) = blackhole::start(&runtime);
    eprintln!(
        "system bench: {rounds} rounds x {} variants, {seconds} s measured after {warmup} s, \
         {HANDLED_PER_SECOND} handled msg/s, {iterations} work iterations (~{WORK:?})",
        variants.len()
    );
    let mut runs = Vec::new();
    for round in 0..rounds {
        // Rotate so that no variant always runs right after the same one.
        let mut order = variants.clone();
        order.rotate_left(round as usize % variants.len().max(1));
        for variant in order {
            let run = run_child(variant, round, iterations, seconds, warmup, otlp);
            eprintln!("  round {round} {:<16} {}", variant.name(), run.brief());
            runs.push(run);
        }
    }
    eprintln!(
        "receiver: {} spans, {} metric exports, {} log records",
        received.spans.load(std::sync::atomic::Ordering::Relaxed),
        received
            .metric_exports
            .load(std::sync::atomic::Ordering::Relaxed),
        received
            .log_records
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let summary = report::summarize(&runs, rounds, seconds);
    println!("{}", summary.markdown());
    summary.write();
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one variant in a child process: starts it, scrapes its pull endpoint every 5 s as
/// Prometheus would, and reads its result line.
fn run_child(
    variant: Variant,
    round: u64,
    iterations: u64,
    seconds: u64,
    warmup: u64,
    otlp: std::net::SocketAddr,
) -> Run {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut cmd = Command::new(exe);
    cmd.env(VARIANT_VAR, variant.name())
        .env("SYSTEM_BENCH_ITERATIONS", iterations.to_string())
        .env("SYSTEM_BENCH_SECONDS", seconds.to_string())
        .env("SYSTEM_BENCH_WARMUP", warmup.to_string())
        .env("SYSTEM_BENCH_ROUND", round.to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_SERVICE_NAME", "system-bench")
        .env("ALYS_TELEMETRY_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in variant.environment() {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("the variant's process");
    let stdout = child.stdout.take().expect("its stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut endpoint = None;
    let mut result = None;
    // The child prints `pull <addr>` (or `pull none`) once it serves, then its result line
    // at the end; its log lines may come between.
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(addr) = line.strip_prefix("pull ") {
            endpoint = (addr != "none").then(|| addr.to_string());
            break;
        }
    }
    let scraper = endpoint.map(|addr| {
        std::thread::spawn(move || scrape_every(&addr, Duration::from_secs(5), seconds + warmup))
    });
    for line in lines.map_while(Result::ok) {
        if let Some(json) = line.strip_prefix("result ") {
            result = Some(json.to_string());
        }
    }
    let status = child.wait().expect("the variant's exit");
    if let Some(scraper) = scraper {
        let _ = scraper.join();
    }
    let json =
        result.unwrap_or_else(|| panic!("{} ended ({status}) without a result", variant.name()));
    Run::parse(variant, round, &json)
}

/// GET /metrics every `period` for `total_s` seconds.
fn scrape_every(addr: &str, period: Duration, total_s: u64) {
    let client = reqwest::blocking::Client::new();
    let url = format!("http://{addr}/metrics");
    let until = Instant::now() + Duration::from_secs(total_s);
    while Instant::now() < until {
        std::thread::sleep(period);
        let _ = client.get(&url).send().and_then(|r| r.bytes());
    }
}
