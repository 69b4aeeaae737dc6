//! The parent: the receivers, the children in turn, the table.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::Run;
use crate::{CHILD_VAR, VARIANTS, cpu_time, knob, library, receiver, report};

pub fn run() {
    let rounds = knob("SPAN_EXPORT_ROUNDS", 3);
    let seconds = knob("SPAN_EXPORT_SECONDS", 5);
    let warmup = knob("SPAN_EXPORT_WARMUP", 1);
    let variants: Vec<String> = match std::env::var("SPAN_EXPORT_VARIANTS") {
        Ok(list) => list.split(',').map(|v| v.trim().to_string()).collect(),
        Err(_) => VARIANTS.iter().map(|v| v.to_string()).collect(),
    };
    // One worker: the receiver's decode then costs at most one of the two cores, and
    // the parent's CPU is the receiver's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the receiver's runtime");
    let receivers = receiver::start(&runtime);
    eprintln!(
        "span export bench: {rounds} rounds x {} variants, {seconds} s measured after \
         {warmup} s, receivers on {} (decode) and {} (skim)",
        variants.len(),
        receivers.decode,
        receivers.skim,
    );
    // The allocator moves these figures (the transform allocates about ten times a span):
    // say which one ran. The children inherit the preload.
    match std::env::var("LD_PRELOAD") {
        Ok(preload) => println!("Allocator: `LD_PRELOAD={preload}`.\n"),
        Err(_) => println!("Allocator: glibc malloc (no `LD_PRELOAD`).\n"),
    }
    let mut runs = Vec::new();
    for round in 0..rounds {
        // Rotate so that no variant always runs right after the same one.
        let mut order = variants.clone();
        order.rotate_left(round as usize % variants.len().max(1));
        for variant in order {
            let run = run_child(&variant, seconds, warmup, &receivers);
            eprintln!("  round {round} {:<24} {}", variant, run.brief());
            runs.push(Run { round, ..run });
        }
    }
    eprintln!(
        "receivers: {} spans in all",
        receivers.spans.load(Ordering::Relaxed)
    );
    println!("{}", report::markdown(&variants, &runs, rounds));
}

/// Kills the child if it is still running when dropped (a panic or a timeout here).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// The receiver's count and this process's CPU at one of the child's marks.
struct Snapshot {
    spans: u64,
    cpu: Duration,
    /// The whole machine's busy CPU (all processes).
    machine: Duration,
}

fn snapshot(received: &AtomicU64) -> Snapshot {
    Snapshot {
        spans: received.load(Ordering::Relaxed),
        cpu: cpu_time(),
        machine: machine_busy(),
    }
}

/// CPU time every core has spent busy since boot (/proc/stat, the `cpu` line: user, nice,
/// system, irq, softirq, steal), to tell how much of a window other processes took.
fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return Duration::ZERO;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    // SAFETY: sysconf reads a constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(busy * 1_000_000_000 / tick)
}

fn spawn_child(variant: &str, seconds: u64, warmup: u64, otlp: std::net::SocketAddr) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("this benchmark's path"));
    command
        .env(CHILD_VAR, variant)
        .env("SPAN_EXPORT_SECONDS", seconds.to_string())
        .env("SPAN_EXPORT_WARMUP", warmup.to_string())
        .env("SPAN_EXPORT_ENDPOINT", format!("http://{otlp}"))
        // The exporter reads these when its builder leaves a setting out: none may leak in.
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_COMPRESSION")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .env_remove("OTEL_SDK_DISABLED")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if library::is_library(variant) {
        // The library configures itself from the environment, as a node does.
        command.envs(library::environment(otlp));
    }
    command.spawn().expect("the variant's process")
}

/// Runs one variant in a child process and reads its marks and result line, within a
/// deadline (the child is killed past it).
fn run_child(variant: &str, seconds: u64, warmup: u64, receivers: &receiver::Receivers) -> Run {
    let received = &*receivers.spans;
    let total0 = received.load(Ordering::Relaxed);
    let otlp = match variant.ends_with("_skim") {
        true => receivers.skim,
        false => receivers.decode,
    };
    let mut child = Reaped(spawn_child(variant, seconds, warmup, otlp));
    let lines = line_channel(child.0.stdout.take().expect("its stdout"));
    let deadline = Instant::now() + Duration::from_secs(seconds + warmup + 60);
    let (mut start, mut end, mut result) = (None, None, None);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == "mark start" => start = Some(snapshot(received)),
            Ok(line) if line == "mark end" => end = Some(snapshot(received)),
            Ok(line) => {
                if let Some(json) = line.strip_prefix("result ") {
                    result = serde_json::from_str::<Value>(json).ok();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{variant} passed its deadline"),
        }
    }
    let status = wait_until(&mut child.0, deadline);
    let (start, end, child) = match (start, end, result) {
        (Some(s), Some(e), Some(r)) => (s, e, r),
        _ => panic!("{variant} ended ({status:?}) without its marks and result"),
    };
    let local = child["local_spans"].as_u64().unwrap_or(0);
    Run {
        variant: variant.to_string(),
        round: 0,
        spans: if variant == "encode_only" {
            local
        } else {
            end.spans - start.spans
        },
        wall_s: child["wall_s"].as_f64().unwrap_or(0.0),
        cpu_s: child["cpu_s"].as_f64().unwrap_or(0.0),
        receiver_cpu_s: (end.cpu - start.cpu).as_secs_f64(),
        machine_cpu_s: end.machine.saturating_sub(start.machine).as_secs_f64(),
        received_total: received.load(Ordering::Relaxed) - total0,
        child,
    }
}

/// The child's stdout, line by line, on a channel the parent can wait on with a timeout.
fn line_channel(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Polls the child's exit until `deadline` (its stdout has closed: it is exiting).
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}
