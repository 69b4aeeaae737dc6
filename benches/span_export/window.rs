//! The measured window in a child: CPU, wall time and the variant's own count, CPU by
//! thread, and the marks the parent reads the receiver at.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{cpu_time, knob};

/// CPU, wall time and the child's own count over the measured window.
pub struct Window {
    pub cpu: Duration,
    pub wall: Duration,
    pub count: u64,
    /// CPU by thread name: which thread is busy says what limits.
    pub threads: BTreeMap<String, Duration>,
}

/// CPU time of this process's threads, summed by thread name (/proc/self/task/*/stat:
/// the kernel's ticks, 10 ms here, fine over a window of seconds). Thread names are cut
/// to 15 bytes: the batch processor's is `OpenTelemetry.T`, tokio's `tokio-runtime-w`.
fn cpu_by_thread() -> BTreeMap<String, Duration> {
    // SAFETY: sysconf reads a constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut out = BTreeMap::new();
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // The name is in parentheses and may hold anything: the fields follow the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<u64> = stat[close + 1..]
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // utime and stime, fields 14 and 15: the 12th and 13th after the name.
        let ticks = fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0);
        let cpu = Duration::from_nanos(ticks * 1_000_000_000 / tick);
        *out.entry(stat[open + 1..close].to_string()).or_default() += cpu;
    }
    out
}

/// Waits out the warm-up, then measures `SPAN_EXPORT_SECONDS` of the work running on
/// other threads, printing the marks the parent reads the receiver at. The sleeps time the
/// window; nothing waits on them for anything to happen.
pub fn measure(count: &AtomicU64) -> Window {
    std::thread::sleep(Duration::from_secs(knob("SPAN_EXPORT_WARMUP", 1)));
    let mark = |name: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "mark {name}");
        let _ = out.flush();
    };
    let threads0 = cpu_by_thread();
    let (cpu0, wall0, n0) = (cpu_time(), Instant::now(), count.load(Ordering::Relaxed));
    mark("start");
    std::thread::sleep(Duration::from_secs(knob("SPAN_EXPORT_SECONDS", 5)));
    let (cpu1, wall1, n1) = (cpu_time(), Instant::now(), count.load(Ordering::Relaxed));
    mark("end");
    let mut threads = cpu_by_thread();
    for (name, cpu) in threads.iter_mut() {
        *cpu = cpu.saturating_sub(threads0.get(name).copied().unwrap_or_default());
    }
    Window {
        cpu: cpu1 - cpu0,
        wall: wall1 - wall0,
        count: n1 - n0,
        threads,
    }
}

impl Window {
    pub fn json(&self) -> Value {
        let wall = self.wall.as_secs_f64();
        // Cores to two places; the threads that idled (the main one) left out.
        let cores: BTreeMap<&str, f64> = (self.threads.iter())
            .map(|(name, cpu)| (name.as_str(), (cpu.as_secs_f64() / wall * 100.0).round()))
            .filter(|(_, hundredths)| *hundredths > 0.0)
            .map(|(name, hundredths)| (name, hundredths / 100.0))
            .collect();
        let producers = self.threads.get(crate::pipeline::PRODUCER);
        json!({
            "cpu_s": self.cpu.as_secs_f64(),
            "wall_s": wall,
            "local_spans": self.count,
            "producer_cpu_s": producers.map_or(0.0, Duration::as_secs_f64),
            "thread_cores": cores,
        })
    }
}
