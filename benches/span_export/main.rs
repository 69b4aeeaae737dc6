//! The span export benchmark: how many spans a second the SDK's OTLP/gRPC exporter
//! (opentelemetry-otlp, tonic, as the workspace configures it) pushes to a receiver on
//! loopback, and what share of a CPU the exporting side spends.
//!
//! The receivers (see `receiver`: one decodes each request in full as a collector must, one
//! only skims it down to its spans; both count spans and keep nothing, with Nagle off) run in
//! this, the parent, process on a one-worker runtime; each variant runs in a child process of
//! its own (this binary re-executed with `SPAN_EXPORT_CHILD`), so that the child's getrusage
//! is the exporting side alone and the receiver's CPU is the parent's. The child prints
//! `mark start` and `mark end` around its measured window; the parent reads the receiver's
//! span count and its own CPU at each mark. Variants, in rotating order for several rounds:
//!
//! - `encode_only` (the baseline): the same batches of 2,048 `SpanData` converted to an
//!   `ExportTraceServiceRequest` by opentelemetry-proto's transform (the exporter's own code)
//!   and encoded with prost, no network;
//! - `exporter_direct_<N>`, N = 512, 2048, 8192: pre-built `SpanData` handed to
//!   `opentelemetry_otlp::SpanExporter::export` back to back, each awaited, from a dedicated
//!   thread (as the batch processor's) over a two-worker tokio runtime;
//! - `exporter_direct_2048_x2`: a diagnostic, not what the SDK does: two exports of 2,048 in
//!   flight at once, to see what one-export-at-a-time costs;
//! - `exporter_direct_2048_skim`, `sdk_pipeline_skim`, `library_pipeline_skim`: diagnostics,
//!   the same to the skimming receiver, to see what the receiver's decode (in series with
//!   each export) costs;
//! - `sdk_pipeline`: an `SdkTracerProvider` with one `BatchSpanProcessor` at the library's
//!   defaults (`ExportBatch::SPANS`: queue 65,536, batch 2,048, delay 1 s), built here by
//!   hand, producer threads building and ending spans as fast as they can;
//! - `library_pipeline`: the library's own path, however it batches: `Telemetry::build` (no
//!   global subscriber) configured from the environment the parent gives the child (the
//!   receiver's endpoint, `parentbased_always_on`, no viewer's store, no system collector;
//!   see `library::environment`), the same producers on the tracer provider it built.
//!
//! The pipeline variants report the spans their producers ended, and the SDK's count of
//! spans its batch processors dropped on a full queue (`otel.sdk.processor.span.processed`,
//! `error.type=queue_full`), in the table's notes and in each child's line on stderr.
//!
//! Every row is a ratio against `encode_only` in the same round (docs/performance.md); the
//! spans a second are what this machine managed then, not a timed test. The table's notes
//! give each child's CPU by thread (the exporting thread, tokio's workers, the span
//! producers: a thread near one core is the limit) and the cores other processes took during
//! the windows (/proc/stat): a run they disturbed says so.
//!
//! The node's programs allocate with mimalloc (docs/performance.md, "The allocator"); this
//! binary sets no allocator, so that one build measures both: run it as built (glibc's
//! malloc), then with `LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2` (Debian's
//! `libmimalloc2.0`; the children inherit it). The table's first line says which ran.
//!
//! `cargo bench --bench span_export`. Knobs (environment): `SPAN_EXPORT_ROUNDS` (3),
//! `SPAN_EXPORT_SECONDS` (5), `SPAN_EXPORT_WARMUP` (1), `SPAN_EXPORT_PRODUCERS` (1, the
//! producer threads of the pipeline variants), `SPAN_EXPORT_VARIANTS` (a comma-separated
//! subset, for example `SPAN_EXPORT_VARIANTS=encode_only,sdk_pipeline,library_pipeline`).
//! `library_pipeline` reads the library's other settings from the environment as the library
//! does (`OTEL_BSP_MAX_QUEUE_SIZE` and the rest): leave them unset to measure its defaults.

/// The node's programs allocate with mimalloc (docs/performance.md, "The allocator"), and so
/// does the system benchmark: the exporter's ten or so allocations a span are measured as
/// the node makes them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../common/cpu.rs"]
mod cpu;
use cpu::cpu_time;
mod encode;
mod library;
mod parent;
mod pipeline;
mod receiver;
mod report;
mod run;
mod sdk;
mod spans;
mod variants;
mod window;

use std::time::Duration;

const CHILD_VAR: &str = "SPAN_EXPORT_CHILD";
/// The target the project states against.
const TARGET_SPANS_PER_SECOND: f64 = 500_000.0;
/// The library's span batch (`ExportBatch::SPANS`), also the baseline's batch.
const LIBRARY_BATCH: usize = 2_048;
const LIBRARY_QUEUE: usize = 65_536;
const LIBRARY_DELAY: Duration = Duration::from_secs(1);

const VARIANTS: [&str; 10] = [
    "encode_only",
    "exporter_direct_512",
    "exporter_direct_2048",
    "exporter_direct_8192",
    "exporter_direct_2048_x2",
    "exporter_direct_2048_skim",
    "sdk_pipeline",
    "sdk_pipeline_skim",
    "library_pipeline",
    "library_pipeline_skim",
];

fn main() {
    if let Ok(variant) = std::env::var(CHILD_VAR) {
        variants::run(&variant);
        return;
    }
    // `cargo test --benches` runs this binary without `--bench`: only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    parent::run();
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A thread under a name of its own, so that its CPU can be told apart (`cpu_by_thread`).
fn spawn_named(name: &str, work: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(work)
        .expect("a thread")
}
