//! Child processes killed on drop, and temporary directories.

use super::*;

/// A directory under the system temp dir, removed (recursively) on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // pid + counter is unique within a run; nanos keeps a reused pid from
        // colliding with a directory an earlier, killed run left behind.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// A started child process, killed and reaped on drop (also when a test panics).
///
/// Its output goes to files rather than pipes: nobody has to drain a pipe, a
/// chatty child can never block on a full one, and the output stays readable
/// after the child has exited.
pub struct Proc {
    // Declared before `dir` so the child is gone before its files are removed.
    pub(super) child: std::process::Child,
    name: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    // Cleared once a failure message already carries the output.
    pub(super) report_on_panic: bool,
    dir: TempDir,
}

impl Proc {
    pub fn spawn(mut cmd: Command, name: &str) -> Proc {
        let dir = TempDir::new(name);
        let stdout_path = dir.join("stdout");
        let stderr_path = dir.join("stderr");
        let create =
            |p: &Path| File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        cmd.stdin(Stdio::null())
            .stdout(create(&stdout_path))
            .stderr(create(&stderr_path));
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!(
                    "cannot start {name} ({:?}): {e}; {INSTALL_HINT}",
                    cmd.get_program()
                )
            }
            Err(e) => panic!("cannot start {name} ({cmd:?}): {e}"),
        };
        Proc {
            child,
            name: name.to_string(),
            stdout_path,
            stderr_path,
            report_on_panic: true,
            dir,
        }
    }

    /// Everything written to stdout so far, ANSI colour codes removed.
    pub fn stdout(&self) -> String {
        read_stripped(&self.stdout_path)
    }

    /// Everything written to stderr so far, ANSI colour codes removed.
    pub fn stderr(&self) -> String {
        read_stripped(&self.stderr_path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process's own temp dir, for files that should die with it.
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// Sends a signal by name ("TERM", "INT", "HUP", ...).
    // std can only send SIGKILL; `kill(1)` avoids a libc dependency.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("run kill: {e}"));
        assert!(
            status.success(),
            "kill -s {sig} {} ({}) failed: {status}",
            self.pid(),
            self.name
        );
    }

    /// The exit status, or `None` if the process is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll(timeout, &mut || self.child.try_wait().expect("try_wait"))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Last lines of both streams, for failure messages.
    pub fn output_tail(&self, lines: usize) -> String {
        format!(
            "--- {} stdout (tail) ---\n{}\n--- {} stderr (tail) ---\n{}",
            self.name,
            tail(&self.stdout(), lines),
            self.name,
            tail(&self.stderr(), lines)
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The child is deliberately left in our process group: if the test run
        // is interrupted with Ctrl-C, the terminal's SIGINT reaches it too and
        // no server is left running without a parent.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The temp dir (and the child's output) is about to go: show why a
        // test failed while the evidence still exists.
        if self.report_on_panic && thread::panicking() {
            eprintln!("{}", self.output_tail(40));
        }
    }
}

pub fn read_stripped(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    strip_ansi(&String::from_utf8_lossy(&bytes))
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Removes SGR colour sequences (`ESC [ digits/; m`); anything else is kept.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let params_end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[params_end..].starts_with('m') {
            rest = &after[params_end + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------
