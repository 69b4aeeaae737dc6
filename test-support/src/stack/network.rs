//! A private network for one run of the stack: a Linux bridge on the host, one network
//! namespace per service with its own address, and a hosts file that makes every compose
//! service name resolve, as Docker's embedded DNS would. Each service listens on its real
//! ports in its own namespace, so nothing clashes with the host (4317, 9090, 9093 stay free).
//!
//! Names carry a run id, and /run/alys-stack/<id>/pid names the test process that owns them:
//! [`remove_stale`] deletes whatever a killed run left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const STATE_ROOT: &str = "/run/alys-stack";

/// The network of one run.
pub struct Network {
    pub id: String,
    pub gateway: Ipv4Addr,
    bridge: String,
    addresses: BTreeMap<String, Ipv4Addr>,
    /// What resolves, as Docker's embedded DNS answers: the names and network aliases of the
    /// running services only, and the extra hosts.
    names: Mutex<Names>,
    hosts_file: PathBuf,
    state_dir: PathBuf,
}

#[derive(Default)]
struct Names {
    aliases: BTreeMap<String, Vec<String>>,
    running: BTreeSet<String>,
    extra: Vec<String>,
}

/// Runs `ip` with `args`; a failure names the command and what it printed.
pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!(
            "{e}\nThe stack harness needs root and Linux network namespaces (ip netns, veth, \
             bridge); this machine refused them, so the stack cannot be run here."
        );
    }
}

fn namespace_name(id: &str, service: &str) -> String {
    format!("alys-{id}-{service}")
}

fn is_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A /24 under 10.231.0.0/16 that no interface of the host uses.
fn free_subnet(seed: u32) -> [u8; 3] {
    let used = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    (0..250u32)
        .map(|i| [10, 231, ((seed + i) % 250 + 1) as u8])
        .find(|[a, b, c]| !used.contains(&format!(" {a}.{b}.{c}.")))
        .expect("every 10.231.x.0/24 is in use on this host")
}

impl Network {
    /// Creates the bridge and one namespace per service; `aliases` are the services' other
    /// names on the network, `extra_hosts` resolve to the host side of the bridge, where the
    /// test's own servers (a webhook) listen. Names resolve once their service runs.
    pub fn create(
        services: &[String],
        aliases: &BTreeMap<String, Vec<String>>,
        extra_hosts: &[&str],
        run_dir: &Path,
    ) -> Network {
        remove_stale();
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let id = format!("{:04x}", (pid ^ nanos) & 0xffff);
        let [a, b, c] = free_subnet(pid);
        let gateway = Ipv4Addr::new(a, b, c, 1);
        let state_dir = Path::new(STATE_ROOT).join(&id);
        fs::create_dir_all(&state_dir).unwrap_or_else(|e| {
            panic!(
                "create {}: {e} (the stack harness runs as root)",
                state_dir.display()
            )
        });
        fs::write(state_dir.join("pid"), pid.to_string()).expect("write the run's pid file");

        let mut network = Network {
            bridge: format!("alys{id}b"),
            id,
            gateway,
            addresses: BTreeMap::new(),
            names: Mutex::new(Names {
                aliases: aliases.clone(),
                running: BTreeSet::new(),
                extra: extra_hosts.iter().map(|h| h.to_string()).collect(),
            }),
            hosts_file: run_dir.join("hosts"),
            state_dir,
        };
        ip_ok(&["link", "add", &network.bridge, "type", "bridge"]);
        ip_ok(&[
            "addr",
            "add",
            &format!("{gateway}/24"),
            "dev",
            &network.bridge,
        ]);
        ip_ok(&["link", "set", &network.bridge, "up"]);
        for (n, service) in services.iter().enumerate() {
            let address = Ipv4Addr::new(a, b, c, 10 + n as u8);
            network.add_host(service, address);
        }
        network.write_hosts();
        network
    }

    /// Marks `service` as running or not: its name and aliases resolve only while it runs,
    /// as Docker's DNS answers only for running containers.
    pub fn set_running(&self, service: &str, running: bool) {
        {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if running {
                names.running.insert(service.to_string());
            } else {
                names.running.remove(service);
            }
        }
        self.write_hosts();
    }

    /// Rewrites the hosts file in place: it is bind-mounted into every sandbox, so it keeps
    /// its inode, and resolvers that re-read it (glibc on every lookup, Go when it changes)
    /// see the new names.
    fn write_hosts(&self) {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_name: BTreeMap<&str, Vec<Ipv4Addr>> = BTreeMap::new();
        for service in &names.running {
            let Some(address) = self.addresses.get(service) else {
                continue;
            };
            by_name.entry(service).or_default().push(*address);
            for alias in names.aliases.get(service).into_iter().flatten() {
                by_name.entry(alias).or_default().push(*address);
            }
        }
        let mut hosts =
            String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (name, addresses) in by_name {
            for address in addresses {
                hosts.push_str(&format!("{address}\t{name}\n"));
            }
        }
        for extra in &names.extra {
            hosts.push_str(&format!("{}\t{extra}\n", self.gateway));
        }
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.hosts_file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, hosts.as_bytes()));
        if let Err(e) = written {
            panic!(
                "write the stack's hosts file {}: {e}",
                self.hosts_file.display()
            );
        }
    }

    fn add_host(&mut self, service: &str, address: Ipv4Addr) {
        let ns = namespace_name(&self.id, service);
        let veth = format!("alys{}v{:02}", self.id, self.addresses.len());
        ip_ok(&["netns", "add", &ns]);
        // Recorded before anything else can fail, so Drop removes it.
        self.addresses.insert(service.to_string(), address);
        ip_ok(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip_ok(&["link", "set", &veth, "master", &self.bridge, "up"]);
        ip_ok(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ]);
        ip_ok(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip_ok(&["-n", &ns, "link", "set", "lo", "up"]);
    }

    pub fn namespace(&self, service: &str) -> String {
        assert!(
            self.addresses.contains_key(service),
            "the stack has no service {service}"
        );
        namespace_name(&self.id, service)
    }

    pub fn address(&self, service: &str) -> Ipv4Addr {
        *self
            .addresses
            .get(service)
            .unwrap_or_else(|| panic!("the stack has no service {service}"))
    }

    /// The /etc/hosts every service sees.
    pub fn hosts_file(&self) -> &Path {
        &self.hosts_file
    }
}

/// Kills every process in the namespaces of run `id`, then removes them, their links and
/// the run's state.
fn remove_run(id: &str) {
    let prefix = format!("alys-{id}-");
    let namespaces = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for ns in namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
    {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = ip(&["netns", "del", ns]);
        let _ = fs::remove_dir_all(Path::new("/etc/netns").join(ns));
    }
    // Deleting a namespace deletes its veth ends, and with them their peers; the bridge stays.
    let _ = ip(&["link", "del", &format!("alys{id}b")]);
    let _ = fs::remove_dir_all(Path::new(STATE_ROOT).join(id));
}

/// Removes runs whose owner matches `remove`: namespaces, links, state and run folder.
fn remove_runs(remove: impl Fn(Option<u32>) -> bool) {
    let Ok(entries) = fs::read_dir(STATE_ROOT) else {
        return;
    };
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let owner = fs::read_to_string(entry.path().join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if remove(owner) {
            remove_run(&id);
        }
    }
}

/// Removes what runs whose test process is gone left behind, their logs included.
pub fn remove_stale() {
    remove_runs(|owner| owner.is_none_or(|pid| !is_alive(pid)));
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name
            .strip_prefix("alys-stack-")
            .and_then(|pid| pid.parse::<u32>().ok());
        if owner.is_some_and(|pid| !is_alive(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the runs of this process (at exit, where no destructor runs).
pub fn remove_runs_of_this_process() {
    let me = std::process::id();
    remove_runs(|owner| owner == Some(me));
}

impl Drop for Network {
    fn drop(&mut self) {
        remove_run(&self.id);
        let _ = fs::remove_dir_all(&self.state_dir);
    }
}
