//! Stopping a service's process as Docker does, and knowing it is gone before it starts
//! again: a program still closing when its successor binds its ports makes the successor
//! fail ("address already in use"), which is not what Docker would show.

use std::fs;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

/// Compose's grace period between SIGTERM and SIGKILL on `docker compose stop`.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a killed program may take to release its sockets and memory.
const KILLED_EXIT_LIMIT: Duration = Duration::from_secs(10);

/// How a `docker compose stop` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The program exited on SIGTERM, this long after it.
    Exited { after: Duration },
    /// The program was still running when the grace period ended and was killed, as Docker
    /// kills it: whatever it had not written yet is lost.
    Killed,
    /// The service was not running.
    NotRunning,
}

impl Stopped {
    /// Whether the program exited by itself within Compose's grace period.
    pub fn within_grace(self) -> bool {
        matches!(self, Stopped::Exited { .. })
    }
}

/// The program bwrap runs: its child (bwrap forks once and waits as a monitor).
fn program_pid(bwrap: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{bwrap}/task/{bwrap}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// Whether `pid` has exited: gone, or a zombie (its sockets are closed once it is one).
fn has_exited(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Waits until `pid` has exited, up to `limit`; whether it has.
fn wait_exited(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if has_exited(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    has_exited(pid)
}

/// Kills the sandbox `bwrap` and its program, and returns once both are gone.
fn kill_and_reap(bwrap: &mut Child, program: Option<u32>) {
    if let Some(pid) = program {
        signal(pid, "KILL");
    }
    let _ = bwrap.kill();
    let _ = bwrap.wait();
    if let Some(pid) = program
        && !wait_exited(pid, KILLED_EXIT_LIMIT)
    {
        panic!("pid {pid} outlived SIGKILL by {KILLED_EXIT_LIMIT:?}");
    }
}

/// `docker kill`: SIGKILL, no chance to flush anything.
pub fn kill(bwrap: &mut Child) {
    let program = program_pid(bwrap.id());
    kill_and_reap(bwrap, program);
}

/// `docker compose stop`: SIGTERM to the program, SIGKILL after the grace period.
pub fn stop(bwrap: &mut Child) -> Stopped {
    let Some(program) = program_pid(bwrap.id()) else {
        kill_and_reap(bwrap, None);
        return Stopped::NotRunning;
    };
    let sent = Instant::now();
    signal(program, "TERM");
    let exited = wait_exited(program, STOP_GRACE);
    let after = sent.elapsed();
    kill_and_reap(bwrap, Some(program));
    if exited {
        Stopped::Exited { after }
    } else {
        Stopped::Killed
    }
}
