//! Where the numbers come from: one trait with a method per source, and its Linux
//! implementation (sysinfo for the process and host memory, `/proc` for the rest).
//!
//! Each method is one source of [`ResourceSource`](alys_telemetry_catalog::system::ResourceSource):
//! it fails alone, and the collector counts the failure under that source's label.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// The node process as the `process` source sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// Resident set size.
    pub resident_bytes: u64,
    /// Virtual memory size.
    pub virtual_bytes: u64,
    /// CPU used since the previous reading, 100 per fully used core, never past
    /// `100 × cpu_count`.
    pub cpu_percent: f64,
    /// Unix time, in seconds, the process started.
    pub start_time_unix: u64,
}

/// The host as the `memory` source sees it. The CPU count belongs here because the
/// label set has no separate host source and it, too, describes the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStats {
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    /// Logical CPUs online.
    pub cpu_count: u64,
}

/// Cumulative storage I/O of the node process since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskTotals {
    pub read_bytes: u64,
    pub written_bytes: u64,
}

/// Cumulative traffic of the host's network interfaces, loopback excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkTotals {
    pub received_bytes: u64,
    pub transmitted_bytes: u64,
}

/// Why a resource source could not be read. Its message carries the cause too, so that the
/// one log line the collector writes per failing source says everything.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file or directory under `/proc` could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `/proc` file does not hold what it should.
    #[error("{file}: {problem}")]
    Format { file: &'static str, problem: String },
    /// sysinfo could not read the process or the host.
    #[error("sysinfo: {0}")]
    Sysinfo(#[from] sysinfo::Error),
    /// The source has nothing to read (a process not found, a reader without it).
    #[error("{0}")]
    Unavailable(String),
}

impl ReadError {
    fn format(file: &'static str, problem: impl Into<String>) -> Self {
        ReadError::Format {
            file,
            problem: problem.into(),
        }
    }
}

/// Reads each resource source. Every method may fail on its own; the collector counts the
/// failure under the source's label and logs the error once when the source starts failing.
///
/// Tests implement this with scripted values and failures; [`LinuxReader`] is the real one.
pub trait ResourceReader: Send {
    fn process(&mut self) -> Result<ProcessStats, ReadError>;
    fn memory(&mut self) -> Result<HostStats, ReadError>;
    fn disk(&mut self) -> Result<DiskTotals, ReadError>;
    fn network(&mut self) -> Result<NetworkTotals, ReadError>;
    /// Threads of the node process.
    fn threads(&mut self) -> Result<u64, ReadError>;
    /// Open file descriptors of the node process.
    fn file_descriptors(&mut self) -> Result<u64, ReadError>;
}

/// The real reader: sysinfo for the process and host memory, `/proc` for the rest.
///
/// CPU percent is computed here from sysinfo's accumulated CPU time over wall time, not
/// taken from `Process::cpu_usage()`: that one reads 0 until the process has used a
/// clock tick before the previous refresh, and is skewed when refreshed within
/// sysinfo's minimum interval. Disk totals come from `/proc/self/io` directly because
/// sysinfo's `disk_usage()` reports zero when that file cannot be read, and a failure
/// must count as one. Network totals come from `/proc/net/dev` because sysinfo's
/// `network` feature is not built.
pub struct LinuxReader {
    system: System,
    pid: Pid,
    /// Start of the current CPU window: when, and the process's CPU time then (ms).
    cpu_window: Option<(Instant, u64)>,
    cpu_percent: f64,
    /// Logical CPUs online when the reader opened, the ceiling of `cpu_percent`;
    /// `None` if `/proc/stat` could not be read (the `memory` source reports that).
    cpus: Option<u64>,
}

/// CPU time advances in clock ticks (usually 10 ms); over a shorter window one tick
/// more or less swings the figure by 5 points or more.
const MIN_CPU_WINDOW: Duration = Duration::from_millis(200);

impl LinuxReader {
    /// Opens the first CPU window, so that the first collection after
    /// 200 ms (`MIN_CPU_WINDOW`) already has a CPU figure (0 before that).
    pub fn new() -> Result<Self, ReadError> {
        let system = System::new()?;
        let pid = sysinfo::get_current_pid()?;
        let mut reader = LinuxReader {
            system,
            pid,
            cpu_window: None,
            cpu_percent: 0.0,
            cpus: read("/proc/stat")
                .and_then(|stat| parse_cpu_count(&stat))
                .ok(),
        };
        // A failure here shows up again, counted, at the first collection.
        let _ = reader.process();
        Ok(reader)
    }
}

impl ResourceReader for LinuxReader {
    fn process(&mut self) -> Result<ProcessStats, ReadError> {
        let kind = ProcessRefreshKind::nothing()
            .with_memory()
            .with_cpu()
            .without_tasks();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&[self.pid]), true, kind);
        let now = Instant::now();
        let process = self.system.process(self.pid).ok_or_else(|| {
            ReadError::Unavailable(format!("process {} not readable in /proc", self.pid))
        })?;
        let cpu_ms = process.accumulated_cpu_time();
        match self.cpu_window {
            Some((start, start_ms)) => {
                let wall = now.saturating_duration_since(start);
                if wall >= MIN_CPU_WINDOW {
                    let used = cpu_ms.saturating_sub(start_ms);
                    self.cpu_percent = cpu_percent_over(used, wall, self.cpus);
                    self.cpu_window = Some((now, cpu_ms));
                }
            }
            None => self.cpu_window = Some((now, cpu_ms)),
        }
        Ok(ProcessStats {
            resident_bytes: process.memory(),
            virtual_bytes: process.virtual_memory(),
            cpu_percent: self.cpu_percent,
            start_time_unix: process.start_time(),
        })
    }

    fn memory(&mut self) -> Result<HostStats, ReadError> {
        self.system.refresh_memory();
        let total = self.system.total_memory();
        if total == 0 {
            return Err(ReadError::format("/proc/meminfo", "no MemTotal"));
        }
        Ok(HostStats {
            memory_total_bytes: total,
            memory_used_bytes: self.system.used_memory(),
            cpu_count: parse_cpu_count(&read("/proc/stat")?)?,
        })
    }

    fn disk(&mut self) -> Result<DiskTotals, ReadError> {
        parse_proc_io(&read("/proc/self/io")?)
    }

    fn network(&mut self) -> Result<NetworkTotals, ReadError> {
        parse_net_dev(&read("/proc/net/dev")?)
    }

    fn threads(&mut self) -> Result<u64, ReadError> {
        parse_status_threads(&read("/proc/self/status")?)
    }

    fn file_descriptors(&mut self) -> Result<u64, ReadError> {
        // Includes the descriptor that lists the directory, as Prometheus' own process
        // collector does: one more than the node holds, but the count is stable.
        count_entries("/proc/self/fd")
    }
}

/// CPU percent (100 per core) from the CPU time used over a wall-clock window.
///
/// The kernel charges CPU time in clock ticks, per thread, at its own moments, so
/// a window that ends just after a charge holds a little more CPU time than the
/// wall clock allowed: a process burning both cores of a 2-CPU host read 201.9 %.
/// No process can use more than every CPU, so the figure is capped there.
fn cpu_percent_over(used_ms: u64, wall: Duration, cpus: Option<u64>) -> f64 {
    let seconds = wall.as_secs_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    let percent = used_ms as f64 / seconds / 10.0;
    match cpus {
        Some(cpus) if cpus > 0 => percent.min(100.0 * cpus as f64),
        _ => percent,
    }
}

fn read(path: &str) -> Result<String, ReadError> {
    fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.into(),
        source,
    })
}

/// Entries of a directory such as `/proc/self/fd` or `/proc/self/task`.
pub fn count_entries(path: impl AsRef<Path>) -> Result<u64, ReadError> {
    let path = path.as_ref();
    let entries = fs::read_dir(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(entries.filter(Result::is_ok).count() as u64)
}

/// Logical CPUs online: the `cpuN` lines of `/proc/stat`.
pub fn parse_cpu_count(stat: &str) -> Result<u64, ReadError> {
    let count = stat
        .lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count() as u64;
    if count == 0 {
        return Err(ReadError::format("/proc/stat", "no CPU listed"));
    }
    Ok(count)
}

/// `Threads:` of `/proc/<pid>/status`.
pub fn parse_status_threads(status: &str) -> Result<u64, ReadError> {
    const FILE: &str = "/proc/self/status";
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .ok_or_else(|| ReadError::format(FILE, "no Threads line"))?
        .trim()
        .parse()
        .map_err(|e| ReadError::format(FILE, format!("bad Threads line: {e}")))
}

/// `read_bytes` and `write_bytes` of `/proc/<pid>/io`: bytes that reached the storage
/// layer, not reads served from the page cache.
pub fn parse_proc_io(io: &str) -> Result<DiskTotals, ReadError> {
    const FILE: &str = "/proc/self/io";
    let field = |name: &str| -> Result<u64, ReadError> {
        io.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .ok_or_else(|| ReadError::format(FILE, format!("no {name}")))?
            .trim()
            .parse()
            .map_err(|e| ReadError::format(FILE, format!("bad {name}: {e}")))
    };
    Ok(DiskTotals {
        read_bytes: field("read_bytes")?,
        written_bytes: field("write_bytes")?,
    })
}

/// Receive and transmit bytes of `/proc/net/dev`, summed over every interface but `lo`.
///
/// If an interface disappears the sum drops, which Prometheus reads as a counter reset:
/// the right reading, since that interface's traffic is gone from the host's totals.
pub fn parse_net_dev(dev: &str) -> Result<NetworkTotals, ReadError> {
    let mut totals = NetworkTotals {
        received_bytes: 0,
        transmitted_bytes: 0,
    };
    // The two header lines have no `name:` prefix, so they fall out here.
    for (name, counters) in dev.lines().filter_map(|l| l.split_once(':')) {
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let fields: Vec<&str> = counters.split_whitespace().collect();
        let number = |i: usize| -> Result<u64, ReadError> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| ReadError::format("/proc/net/dev", format!("bad line for {name}")))
        };
        // Columns: 8 receive counters (bytes first), then 8 transmit counters.
        totals.received_bytes = totals.received_bytes.wrapping_add(number(0)?);
        totals.transmitted_bytes = totals.transmitted_bytes.wrapping_add(number(8)?);
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9348584   36924    0    0    0     0          0         0  9348584   36924    0    0    0     0       0          0
  eth0: 166439144    6425    0    0    0     0          0         0   343822    3601    0    0    0     0       0          0
 wlan0:1000 1 0 0 0 0 0 0 24 1 0 0 0 0 0 0
";

    #[test]
    fn net_dev_sums_interfaces_except_loopback() {
        let t = parse_net_dev(NET_DEV).unwrap();
        assert_eq!(t.received_bytes, 166_439_144 + 1000);
        assert_eq!(t.transmitted_bytes, 343_822 + 24);
    }

    #[test]
    fn net_dev_rejects_a_truncated_line() {
        let err = parse_net_dev("eth0: 1 2 3\n").unwrap_err().to_string();
        assert!(err.contains("eth0"), "{err}");
    }

    #[test]
    fn proc_io_reads_storage_bytes_not_rchar() {
        let io = "rchar: 6976\nwchar: 5\nsyscr: 10\nsyscw: 0\nread_bytes: 4096\n\
                  write_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(
            parse_proc_io(io).unwrap(),
            DiskTotals {
                read_bytes: 4096,
                written_bytes: 8192
            }
        );
        let missing = parse_proc_io("rchar: 1\n").unwrap_err();
        assert_eq!(missing.to_string(), "/proc/self/io: no read_bytes");
        let unreadable = read("/proc/self/no-such-file").unwrap_err();
        assert!(
            std::error::Error::source(&unreadable).is_some(),
            "{unreadable}"
        );
    }

    #[test]
    fn cpu_percent_is_cpu_time_over_wall_time_capped_at_every_cpu() {
        let half_second = Duration::from_millis(500);
        assert_eq!(cpu_percent_over(250, half_second, Some(2)), 50.0);
        // Both cores busy, and the window closed just after the kernel charged two
        // more ticks: 1,010 ms of CPU in 500 ms of wall time on 2 CPUs.
        assert_eq!(cpu_percent_over(1_010, half_second, Some(2)), 200.0);
        assert_eq!(cpu_percent_over(1_010, half_second, None), 202.0);
        assert_eq!(cpu_percent_over(10, Duration::ZERO, Some(2)), 0.0);
    }

    #[test]
    fn cpu_count_is_the_numbered_cpu_lines() {
        let stat = "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 5 0 2 50 0 0 0 0 0 0\n\
                    cpu1 5 0 3 50 0 0 0 0 0 0\nintr 1 2\nctxt 3\n";
        assert_eq!(parse_cpu_count(stat).unwrap(), 2);
        assert!(parse_cpu_count("intr 1\n").is_err());
    }

    #[test]
    fn status_threads_line() {
        let status = "Name:\tx\nVmRSS:\t    1936 kB\nThreads:\t7\nSigQ:\t0/1\n";
        assert_eq!(parse_status_threads(status).unwrap(), 7);
        assert!(parse_status_threads("Name:\tx\n").is_err());
        assert!(parse_status_threads("Threads:\tmany\n").is_err());
    }
}
