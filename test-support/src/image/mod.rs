//! `docker build` and `docker run` of our Dockerfile without a Docker engine: the build
//! context with `.dockerignore` applied ([`Context`]), each stage's COPY, WORKDIR and RUN
//! replayed in a scratch directory on stand-ins of the base images ([`Replay`]), and the
//! result run as the image runs it: its root only, read-only, as its user, in a network of
//! its own ([`BuiltImage::run`]).
//!
//! ```no_run
//! use alys_test_support::image::{Context, Netns, Replay};
//! use alys_test_support::{TempDir, stack};
//!
//! let scratch = TempDir::new("image");
//! let context = Context::copy(&stack::repo(), &scratch.join("context")).unwrap();
//! let mut replay = Replay::new(&scratch.join("replay"));
//! let image = replay.build(&context, &context.dir.join("Dockerfile")).unwrap();
//! let network = Netns::new("demo");
//! let _node = image.run(&network, &image.default_argv(), "node");
//! ```
//!
//! What this cannot see: the base images themselves (README, "The image").

mod base;
mod context;
mod copy;
mod dockerfile;
mod replay;
mod sandbox;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use context::Context;
pub use dockerfile::{Instruction, ParseError, Stage, parse};
pub use replay::{Replay, ReplayError, StepReport};

use crate::Proc;

/// The last stage of a replayed build: its root and its runtime facts.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub root: PathBuf,
    pub env: Vec<(String, String)>,
    pub workdir: String,
    /// USER, as written.
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub exposed: Vec<u16>,
}

impl BuiltImage {
    /// USER as uid and gid, names looked up in the image's /etc/passwd.
    pub fn uid_gid(&self) -> Result<(u32, u32), String> {
        if let Ok(uid) = self.user.parse::<u32>() {
            return Ok((uid, uid));
        }
        let passwd = fs::read_to_string(self.root.join("etc/passwd"))
            .map_err(|e| format!("the image has no /etc/passwd to look USER up in: {e}"))?;
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&self.user.as_str()))
            .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
            .ok_or_else(|| {
                format!(
                    "USER {}: no such user in the image's /etc/passwd",
                    self.user
                )
            })
    }

    /// The file ENTRYPOINT runs, on this machine.
    pub fn program(&self) -> PathBuf {
        let first = self.entrypoint.first().map(String::as_str).unwrap_or("");
        self.root.join(first.trim_start_matches('/'))
    }

    /// ENTRYPOINT followed by CMD: what `docker run IMAGE` runs.
    pub fn default_argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }

    /// `argv` as a container of this image: in `network`, with nothing but the image's root,
    /// read-only, as its user, with its working directory and environment (plus `env`).
    pub fn command(&self, network: &Netns, argv: &[String], env: &[(String, String)]) -> Command {
        let (uid, gid) = self.uid_gid().unwrap_or_else(|e| panic!("{e}"));
        let (uid, gid) = (uid.to_string(), gid.to_string());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &network.name, "setpriv"]);
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ]);
        // An unprivileged bubblewrap: the user namespace maps only the image's user, so
        // root's files are not writable by it, as in the container.
        cmd.args([
            "--",
            "bwrap",
            "--unshare-user",
            "--uid",
            &uid,
            "--gid",
            &gid,
        ]);
        cmd.args(["--unshare-pid", "--unshare-ipc", "--die-with-parent"]);
        cmd.arg("--ro-bind").arg(&self.root).arg("/");
        cmd.args(["--proc", "/proc", "--dev", "/dev"]);
        cmd.args(["--chdir", &self.workdir, "--clearenv"]);
        for (k, v) in self.env.iter().chain(env) {
            cmd.args(["--setenv", k, v]);
        }
        cmd.arg("--").args(argv);
        cmd
    }

    /// Starts `argv` as a container ([`BuiltImage::command`]); killed on drop.
    pub fn run(&self, network: &Netns, argv: &[String], name: &str) -> Proc {
        Proc::spawn(self.command(network, argv, &[]), name)
    }

    /// Runs `argv` to its end, as `docker exec` does a healthcheck.
    pub fn exec(&self, network: &Netns, argv: &[String]) -> Output {
        self.command(network, argv, &[])
            .output()
            .unwrap_or_else(|e| panic!("run {argv:?} in the image: {e}"))
    }
}

/// A network namespace with only loopback, as a container's network is to itself; removed
/// on drop (and, when a killed run left one, by the next run).
pub struct Netns {
    pub name: String,
}

const NETNS_PREFIX: &str = "alys-image-";

impl Netns {
    pub fn new(label: &str) -> Netns {
        remove_stale();
        let name = format!("{NETNS_PREFIX}{}-{label}", std::process::id());
        ip(&["netns", "add", &name]);
        let netns = Netns { name };
        ip(&[
            "netns",
            "exec",
            &netns.name,
            "ip",
            "link",
            "set",
            "lo",
            "up",
        ]);
        netns
    }

    /// The TCP addresses listening in this network (`0.0.0.0:9001`, …).
    pub fn listening(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "ss", "-Hltn"])
            .output()
            .unwrap_or_else(|e| panic!("ss in {}: {e}", self.name));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The stack harness's `ip`, failing the test with the command and what it printed.
fn ip(args: &[&str]) {
    if let Err(e) = crate::stack::network::ip(args) {
        panic!("{e} (the image's checks need root and network namespaces)");
    }
}

/// Namespaces of earlier runs whose process is gone.
fn remove_stale() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}
