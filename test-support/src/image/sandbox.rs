//! Where a RUN runs: `/bin/sh -c …` as root in a bubblewrap sandbox made of the Rust image's
//! stand-in (this machine's /usr and /etc read-only, the toolchain at /usr/local/rustup), the
//! stage's own directories read-write at their image paths, the image's working directory and
//! environment, and the network, as `docker build` gives a RUN.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::base::Base;
use super::replay::StageState;

/// RUN in the stage's sandbox; its output, or why it failed.
pub(super) fn run(state: &StageState, argv: &[String]) -> Result<String, String> {
    let Base::Rust(toolchain) = &state.base else {
        return Err("RUN needs /bin/sh, which this base image does not have".into());
    };
    let mut cmd = Command::new("bwrap");
    cmd.args(["--die-with-parent", "--unshare-ipc", "--unshare-pid"]);
    cmd.args(["--tmpfs", "/"]);
    for dir in ["bin", "sbin", "lib", "lib64", "libexec", "share", "include"] {
        let host = format!("/usr/{dir}");
        cmd.args(["--ro-bind-try", &host, &host]);
    }
    for (link, to) in [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
    ] {
        cmd.args(["--symlink", to, link]);
    }
    cmd.args([
        "--ro-bind",
        "/etc",
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]);
    cmd.args(["--tmpfs", "/tmp", "--dir", "/root"]);
    cmd.arg("--ro-bind")
        .arg(&toolchain.rustup_home)
        .arg("/usr/local/rustup");
    for own in &state.own {
        cmd.arg("--bind")
            .arg(state.root.join(own.trim_start_matches('/')))
            .arg(own);
    }
    // The registry cache: downloads only, shared with this machine's cargo.
    let registry = toolchain.cargo_home.join("registry");
    fs::create_dir_all(&registry).map_err(|e| format!("create {}: {e}", registry.display()))?;
    cmd.arg("--bind")
        .arg(&registry)
        .arg("/usr/local/cargo/registry");
    cmd.args(["--chdir", &state.workdir, "--clearenv"]);
    cmd.args(["--setenv", "HOME", "/root"]);
    for (k, v) in &state.env {
        cmd.args(["--setenv", k, v]);
    }
    cmd.arg("--").args(argv);
    let log = state.root.with_extension("run.log");
    let file = fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        .status()
        .map_err(|e| format!("start bwrap: {e} (scripts/install-test-deps.sh installs it)"))?;
    let output = fs::read_to_string(&log).unwrap_or_default();
    if status.success() {
        return Ok(output);
    }
    let tail: Vec<&str> = output.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "process {argv:?} did not complete successfully: {status}\n{}",
        tail.join("\n")
    ))
}

/// `cp -a`: modes, times and links kept.
pub(super) fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("cp -a {} {} failed: {status}", from.display(), to.display()))
}
