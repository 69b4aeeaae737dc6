//! A container without Docker: bubblewrap builds a fresh root for one service in its network
//! namespace, with the host's /usr (for the dynamic loader, `wget` and `setpriv`), the
//! service's program at the path its image keeps it, the compose file's mounts at their
//! container paths, the generated /etc/hosts, the image's working directory, user (or the
//! service's `user:`) and environment. Nothing else of the host is visible, so a wrong path in
//! a shipped file fails here as it fails in a container.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::compose::Service;
use super::images::Image;

/// What one service's sandbox holds.
pub struct Sandbox {
    pub namespace: String,
    pub image: Image,
    /// (host path, container path, read-only)
    binds: Vec<(PathBuf, String, bool)>,
    env: BTreeMap<String, String>,
    hosts_file: PathBuf,
    /// uid:gid the program runs as: the service's `user:`, else the image's USER.
    user: (u32, u32),
}

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Sandbox {
    /// The sandbox of `service`; named volumes live under `volumes_dir`, created on first use
    /// with the ownership the image gives their mount point.
    pub fn new(
        service: &Service,
        image: Image,
        namespace: String,
        hosts_file: &Path,
        volumes_dir: &Path,
    ) -> Sandbox {
        let mut binds = vec![(image.program.clone(), image.program_path.clone(), true)];
        for mount in &service.volumes {
            let source = mount.source.as_deref().unwrap_or_else(|| {
                panic!("a {} mount at {} has no source", mount.kind, mount.target)
            });
            let host = match mount.kind.as_str() {
                "bind" => {
                    let path = PathBuf::from(source);
                    assert!(
                        path.exists(),
                        "docker-compose.yml mounts {source}, which does not exist"
                    );
                    path
                }
                "volume" => named_volume(volumes_dir, source, &mount.target, &image),
                other => panic!(
                    "mount type {other} at {} is not supported by the harness",
                    mount.target
                ),
            };
            binds.push((host, mount.target.clone(), mount.read_only));
        }
        let mut env: BTreeMap<String, String> = [
            ("PATH".to_string(), PATH.to_string()),
            ("HOME".to_string(), "/".to_string()),
        ]
        .into();
        env.extend(image.env.iter().cloned());
        for (key, value) in &service.environment {
            // `KEY` without a value and unset on the host: compose leaves it out.
            if let Some(value) = value {
                env.insert(key.clone(), value.clone());
            }
        }
        let user = service
            .user
            .as_deref()
            .map(numeric_user)
            .unwrap_or(image.user);
        Sandbox {
            namespace,
            image,
            binds,
            env,
            hosts_file: hosts_file.to_path_buf(),
            user,
        }
    }

    /// The command that runs `argv` in this sandbox as the service's user.
    pub fn command(&self, argv: &[String]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespace, "bwrap"]);
        // bwrap dies with the thread that started it, and takes the program with it: a
        // killed test run leaves no service running.
        cmd.args([
            "--die-with-parent",
            "--unshare-ipc",
            "--perms",
            "0755",
            "--tmpfs",
            "/",
        ]);
        // Folders an image has (bwrap would create them 0700, which the image's user could
        // not enter): the parents of every mount point, and the working directory.
        let mut dirs: BTreeSet<PathBuf> =
            ["/usr", "/etc", "/bin"].iter().map(PathBuf::from).collect();
        for target in self
            .binds
            .iter()
            .map(|(_, t, _)| t)
            .chain([&self.image.working_dir])
        {
            dirs.extend(Path::new(target).ancestors().skip(1).map(Path::to_path_buf));
        }
        dirs.insert(PathBuf::from(&self.image.working_dir));
        dirs.remove(Path::new("/"));
        for dir in &dirs {
            cmd.args(["--perms", "0755", "--dir"]).arg(dir);
        }
        // The host's /usr, folder by folder, so that an image path under /usr
        // (/usr/local/bin/…) can be a mount point without touching the host.
        for dir in ["bin", "sbin", "lib", "lib64", "libexec", "share"] {
            let host = format!("/usr/{dir}");
            cmd.args(["--ro-bind-try", &host, &host]);
        }
        cmd.args([
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
        ]);
        cmd.args([
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "/usr/bin/sh",
            "/bin/sh",
        ]);
        cmd.args(["--proc", "/proc", "--dev", "/dev"]);
        if !self.binds.iter().any(|(_, target, _)| target == "/tmp") {
            cmd.args(["--perms", "1777", "--tmpfs", "/tmp"]);
        }
        cmd.arg("--ro-bind").arg(&self.hosts_file).arg("/etc/hosts");
        for file in ["passwd", "group", "nsswitch.conf", "ssl", "ca-certificates"] {
            let host = Path::new("/etc").join(file);
            cmd.arg("--ro-bind-try").arg(&host).arg(&host);
        }
        for (host, target, read_only) in &self.binds {
            cmd.arg(if *read_only { "--ro-bind" } else { "--bind" })
                .arg(host)
                .arg(target);
        }
        cmd.args(["--chdir", &self.image.working_dir, "--clearenv"]);
        for (key, value) in &self.env {
            cmd.args(["--setenv", key, value]);
        }
        let (uid, gid) = self.user;
        cmd.args(["--", "setpriv"]);
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args(["--clear-groups", "--"]);
        cmd.args(argv);
        cmd
    }

    /// The argv compose would run: the service's entrypoint and command, or the image's.
    pub fn service_argv(&self, service: &Service) -> Vec<String> {
        let mut argv = service
            .entrypoint
            .clone()
            .unwrap_or_else(|| self.image.entrypoint.clone());
        argv.extend(
            service
                .command
                .clone()
                .unwrap_or_else(|| self.image.default_command.clone()),
        );
        argv
    }
}

/// A compose `user:` as uid and gid: `uid:gid`, or `uid` with group 0 (Docker's group for a
/// uid that the image's /etc/passwd does not name).
fn numeric_user(user: &str) -> (u32, u32) {
    let number = |n: &str| {
        n.parse::<u32>().unwrap_or_else(|_| {
            panic!("user: {user:?}: the harness runs numeric users only (uid or uid:gid)")
        })
    };
    match user.split_once(':') {
        Some((uid, gid)) => (number(uid), number(gid)),
        None => (number(user), 0),
    }
}

/// The host folder of named volume `name` mounted at `target`: created once per run, owned
/// and moded as the image's directory at `target` (or root 0755 where the image has none).
fn named_volume(volumes_dir: &Path, name: &str, target: &str, image: &Image) -> PathBuf {
    let dir = volumes_dir.join(name);
    if !dir.exists() {
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create volume {}: {e}", dir.display()));
        let (uid, gid, mode) = image
            .dirs
            .iter()
            .find(|(path, ..)| path == target)
            .map(|(_, uid, gid, mode)| (*uid, *gid, *mode))
            .unwrap_or((0, 0, 0o755));
        chown(&dir, Some(uid), Some(gid)).expect("chown a volume");
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod a volume");
    }
    dir
}
