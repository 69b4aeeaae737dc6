//! `docker compose up`, without Docker: every service of docker-compose.yml (but Grafana and
//! profiled ones) started from its real program at the pinned version, with the command,
//! environment, mounted files and start order that Compose gives it, each in its own network
//! namespace under its compose name and on its compose ports.
//!
//! ```no_run
//! use alys_test_support::stack;
//!
//! // In a test of the node package: env!("CARGO_BIN_EXE_alys-telemetry").
//! let stack = stack::shared("target/debug/alys-telemetry"); // once per test binary
//! let jaeger = stack.url("jaeger", 16686); // http://10.231.x.y:16686
//! assert!(jaeger.starts_with("http://10."));
//! ```
//!
//! Needs root (network namespaces, bind mounts) and bubblewrap; a machine that refuses
//! either fails the test with a message that says so.

pub mod api;
mod compose;
mod images;
pub(crate) mod network;
mod programs;
mod sandbox;
mod stopping;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

pub use compose::{Build, Project, Service, compose_binary, resolve};
pub use programs::{Pin, Programs};
pub use stopping::{STOP_GRACE, Stopped};

use network::Network;
use sandbox::Sandbox;

/// Services the harness cannot run: Grafana's Go module is AGPL and not built here.
pub const NOT_RUN: &[&str] = &["grafana"];

/// Hosts that resolve to the test process (the host side of the stack's bridge).
pub const WEBHOOK_HOST: &str = "alys-webhook";

/// The repository's root (this crate lives in test-support/).
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// How to bring the stack up.
#[derive(Clone)]
pub struct Options {
    /// The compose file, relative to the repository (docker-compose.yml, or the gateway
    /// topology of deploy/compose/).
    pub compose_file: PathBuf,
    /// The `alys-telemetry` binary, which the image `alys-telemetry:local` carries (a test
    /// of the node package has it as `env!("CARGO_BIN_EXE_alys-telemetry")`).
    pub node_binary: PathBuf,
    /// Environment for Compose's interpolation (`${VAR}` and pass-through variables).
    pub env: Vec<(String, String)>,
}

struct Running {
    child: Child,
    started: Instant,
}

/// One service: what Compose resolved for it, its sandbox, and its process when running.
struct Member {
    spec: Service,
    sandbox: Arc<Sandbox>,
    running: Option<Running>,
}

/// A running stack. Dropping it stops every service and removes its network.
pub struct Stack {
    pub project: Project,
    pub programs: Programs,
    order: Vec<String>,
    members: Mutex<BTreeMap<String, Member>>,
    spawner: Spawner,
    repo: PathBuf,
    compose_file: PathBuf,
    // Declared last: the processes are gone before their network and files.
    network: Network,
    run_dir: PathBuf,
    /// Tests that stop services take it for writing; the others for reading.
    faults: RwLock<()>,
}

impl Stack {
    /// Starts every service in dependency order, waiting for each dependency's condition
    /// (started or healthy) as Compose does.
    pub fn up(options: &Options) -> Stack {
        let repo = repo();
        let env: Vec<(&str, &str)> = options
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let compose_file = repo.join(&options.compose_file);
        let project = compose::resolve(&compose_file, &env);
        let programs = Programs::load(&repo).with_node_binary(&options.node_binary);
        let selected: Vec<String> = project
            .services
            .iter()
            .filter(|(name, s)| s.profiles.is_empty() && !NOT_RUN.contains(&name.as_str()))
            .map(|(name, _)| name.clone())
            .collect();
        let order = project.start_order(&selected);
        let run_dir = std::env::temp_dir().join(format!("alys-stack-{}", std::process::id()));
        let _ = fs::remove_dir_all(&run_dir);
        fs::create_dir_all(run_dir.join("logs")).expect("create the stack's run dir");
        let aliases = order
            .iter()
            .map(|name| (name.clone(), project.services[name].aliases()))
            .collect();
        let network = Network::create(&order, &aliases, &[WEBHOOK_HOST], &run_dir);
        let members = order
            .iter()
            .map(|name| {
                let spec = project.services[name].clone();
                let sandbox = sandbox_of(&spec, &programs, &repo, &network, name, &run_dir);
                let member = Member {
                    spec,
                    sandbox: Arc::new(sandbox),
                    running: None,
                };
                (name.clone(), member)
            })
            .collect();
        let stack = Stack {
            project,
            programs,
            order: order.clone(),
            members: Mutex::new(members),
            spawner: Spawner::new(),
            repo,
            compose_file,
            network,
            run_dir,
            faults: RwLock::new(()),
        };
        for name in &order {
            let dependencies = stack.members()[name].spec.depends_on.clone();
            for (dependency, how) in &dependencies {
                stack.wait_for_condition(dependency, &how.condition);
            }
            stack.start(name);
        }
        stack
    }

    /// `docker compose up -d <service>` after a change of the environment Compose
    /// interpolates from: the service is re-resolved with `env`, stopped and started again.
    pub fn recreate(&self, service: &str, env: &[(&str, &str)]) {
        let project = compose::resolve(&self.compose_file, env);
        let spec = project
            .services
            .get(service)
            .unwrap_or_else(|| panic!("{} has no service {service}", self.compose_file.display()))
            .clone();
        let sandbox = sandbox_of(
            &spec,
            &self.programs,
            &self.repo,
            &self.network,
            service,
            &self.run_dir,
        );
        self.stop(service);
        if let Some(member) = self.members().get_mut(service) {
            member.spec = spec;
            member.sandbox = Arc::new(sandbox);
        }
        self.start(service);
    }

    /// The address of `service` from the test process.
    pub fn address(&self, service: &str) -> Ipv4Addr {
        self.network.address(service)
    }

    /// `http://<address of service>:<port>`.
    pub fn url(&self, service: &str, port: u16) -> String {
        format!("http://{}:{port}", self.address(service))
    }

    /// Prometheus's HTTP API on `service` (`prometheus`, or a tier's own), at its compose port.
    pub fn prometheus_api(&self, service: &str) -> api::PrometheusApi {
        api::PrometheusApi {
            base: self.url(service, 9090),
        }
    }

    /// Jaeger's query API at its compose name and port.
    pub fn jaeger_api(&self) -> api::JaegerApi {
        api::JaegerApi {
            base: self.url("jaeger", 16686),
        }
    }

    /// Alertmanager's API at its compose name and port.
    pub fn alertmanager_api(&self) -> api::AlertmanagerApi {
        api::AlertmanagerApi {
            base: self.url("alertmanager", 9093),
        }
    }

    /// Polls `f` until it returns `Some`, failing with `what` and every service's log tail
    /// after `timeout`.
    #[track_caller]
    pub fn eventually<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        match crate::poll(timeout, &mut f) {
            Some(v) => v,
            None => panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.all_logs(25)
            ),
        }
    }

    /// The test process's address on the stack's network: servers a test starts there are
    /// reachable from the services as [`WEBHOOK_HOST`].
    pub fn gateway(&self) -> Ipv4Addr {
        self.network.gateway
    }

    /// The names of the services this stack runs, in start order.
    pub fn services(&self) -> Vec<String> {
        self.order.clone()
    }

    fn members(&self) -> MutexGuard<'_, BTreeMap<String, Member>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn member<T>(&self, service: &str, f: impl FnOnce(&mut Member) -> T) -> T {
        let mut members = self.members();
        let member = members
            .get_mut(service)
            .unwrap_or_else(|| panic!("the stack does not run {service}"));
        f(member)
    }

    /// Starts `service` as `docker compose start` would (no wait for health).
    pub fn start(&self, service: &str) {
        let (sandbox, spec) = self.member(service, |m| (m.sandbox.clone(), m.spec.clone()));
        let argv = sandbox.service_argv(&spec);
        let log = self.log_file(service);
        writeln_log(
            &log,
            &format!("--- harness: starting {service}: {}", argv.join(" ")),
        );
        let mut cmd = sandbox.command(&argv);
        cmd.stdin(Stdio::null())
            .stdout(append(&log))
            .stderr(append(&log));
        self.network.set_running(service, true);
        let child = self.spawner.spawn(cmd, service);
        self.member(service, |m| {
            m.running = Some(Running {
                child,
                started: Instant::now(),
            })
        });
    }

    /// Kills `service` as `docker kill` would: SIGKILL, no chance to flush anything.
    pub fn kill(&self, service: &str) {
        let Some(mut running) = self.member(service, |m| m.running.take()) else {
            return;
        };
        stopping::kill(&mut running.child);
        self.network.set_running(service, false);
        writeln_log(
            &self.log_file(service),
            &format!("--- harness: killed {service}"),
        );
    }

    /// Stops `service` as `docker compose stop` would: SIGTERM to the program, SIGKILL after
    /// the grace period. Returns once the program is gone, and says how it went.
    pub fn stop(&self, service: &str) -> Stopped {
        let Some(mut running) = self.member(service, |m| m.running.take()) else {
            return Stopped::NotRunning;
        };
        let stopped = stopping::stop(&mut running.child);
        self.network.set_running(service, false);
        writeln_log(
            &self.log_file(service),
            &format!("--- harness: stopped {service}: {stopped:?}"),
        );
        stopped
    }

    /// Fails with the service's log when it is not running (it crashed or never started).
    pub fn assert_running(&self, service: &str) {
        let exited = self.member(service, |m| match m.running.as_mut() {
            Some(r) => Ok(r.child.try_wait().ok().flatten()),
            None => Err(()),
        });
        match exited {
            Err(()) => panic!("{service} is not started"),
            Ok(Some(status)) => panic!(
                "{service} exited ({status}):\n{}",
                self.log_tail(service, 60)
            ),
            Ok(None) => {}
        }
    }

    /// How long `service` has been running.
    pub fn uptime(&self, service: &str) -> Option<Duration> {
        self.member(service, |m| m.running.as_ref().map(|r| r.started.elapsed()))
    }

    /// Runs `argv` in `service`'s sandbox (as `docker compose exec` would) and returns
    /// whether it succeeded, within `timeout`.
    pub fn exec(&self, service: &str, argv: &[String], timeout: Duration) -> bool {
        let sandbox = self.member(service, |m| m.sandbox.clone());
        let mut cmd = sandbox.command(argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// Whether `service`'s compose healthcheck passes now.
    pub fn is_healthy(&self, service: &str) -> bool {
        let check = self
            .member(service, |m| m.spec.healthcheck.clone())
            .filter(|h| !h.disable)
            .unwrap_or_else(|| panic!("{service} has no healthcheck in docker-compose.yml"));
        let argv: Vec<String> = match check.test.split_first() {
            Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => panic!(
                "{service}: healthcheck test {:?} is not supported",
                check.test
            ),
        };
        self.exec(service, &argv, check.timeout())
    }

    /// Waits for `service` to be up as `docker compose up --wait` would: healthy where it has
    /// a health check, running otherwise.
    pub fn wait_until_up(&self, service: &str) {
        let has_check = self.member(service, |m| {
            m.spec.healthcheck.as_ref().is_some_and(|h| !h.disable)
        });
        let condition = if has_check {
            "service_healthy"
        } else {
            "service_started"
        };
        self.wait_for_condition(service, condition);
    }

    /// Waits for `service` to meet a depends_on `condition`.
    pub fn wait_for_condition(&self, service: &str, condition: &str) {
        match condition {
            "service_started" => self.assert_running(service),
            "service_healthy" => {
                let check = self
                    .member(service, |m| m.spec.healthcheck.clone())
                    .unwrap_or_else(|| {
                        panic!("{service} is depended on as healthy but has no healthcheck")
                    });
                let deadline = Instant::now() + check.give_up_after();
                // Polled more often than compose's interval: it only makes the start faster.
                while !self.is_healthy(service) {
                    self.assert_running(service);
                    assert!(
                        Instant::now() < deadline,
                        "{service} did not become healthy within {:?}:\n{}",
                        check.give_up_after(),
                        self.log_tail(service, 60)
                    );
                    thread::sleep(Duration::from_millis(250));
                }
            }
            other => panic!("depends_on condition {other} is not supported by the harness"),
        }
    }

    fn log_file(&self, service: &str) -> PathBuf {
        self.run_dir.join("logs").join(format!("{service}.log"))
    }

    /// Everything `service` printed, over all its starts.
    pub fn logs(&self, service: &str) -> String {
        fs::read_to_string(self.log_file(service)).unwrap_or_default()
    }

    pub fn log_tail(&self, service: &str, lines: usize) -> String {
        let logs = self.logs(service);
        let all: Vec<&str> = logs.lines().collect();
        format!(
            "--- {service} (last {lines} lines) ---\n{}",
            all[all.len().saturating_sub(lines)..].join("\n")
        )
    }

    /// Tails of every service's log, for a failure message.
    pub fn all_logs(&self, lines: usize) -> String {
        self.services()
            .iter()
            .map(|s| self.log_tail(s, lines))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Shared access: the stack stays as docker-compose.yml describes it while held.
    pub fn shared_access(&self) -> RwLockReadGuard<'_, ()> {
        self.faults.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Exclusive access, for a test that stops or recreates services: what it changes
    /// through the returned [`Faults`] is undone when it is dropped, also when the test fails,
    /// so the tests after it find the stack as docker-compose.yml describes it.
    pub fn faults(&self) -> Faults<'_> {
        Faults {
            _exclusive: self.faults.write().unwrap_or_else(|p| p.into_inner()),
            stack: self,
            undo: Vec::new(),
        }
    }

    fn is_running(&self, service: &str) -> bool {
        self.member(service, |m| {
            m.running
                .as_mut()
                .is_some_and(|r| r.child.try_wait().ok().flatten().is_none())
        })
    }

    fn teardown(&self) {
        for name in self.order.iter().rev() {
            if let Some(mut r) = self.member(name, |m| m.running.take()) {
                let _ = r.child.kill();
                let _ = r.child.wait();
            }
        }
    }
}

/// What a test did to the stack, undone on drop.
enum Undo {
    Start(String),
    Recreate(String),
}

/// Exclusive access to a stack for a test that stops or recreates services.
pub struct Faults<'a> {
    _exclusive: RwLockWriteGuard<'a, ()>,
    stack: &'a Stack,
    undo: Vec<Undo>,
}

impl Faults<'_> {
    /// `docker compose stop <service>`, started again when the test ends.
    pub fn stop(&mut self, service: &str) -> Stopped {
        let stopped = self.stack.stop(service);
        self.undo.push(Undo::Start(service.to_string()));
        stopped
    }

    /// `docker kill <service>`, started again when the test ends.
    pub fn kill(&mut self, service: &str) {
        self.stack.kill(service);
        self.undo.push(Undo::Start(service.to_string()));
    }

    /// `docker compose start <service>`.
    pub fn start(&mut self, service: &str) {
        self.stack.start(service);
        self.undo
            .retain(|u| !matches!(u, Undo::Start(s) if s == service));
    }

    /// `VAR=… docker compose up -d <service>`; with no variables, the service as shipped.
    /// A service recreated with variables is recreated as shipped when the test ends.
    pub fn recreate(&mut self, service: &str, env: &[(&str, &str)]) {
        self.stack.recreate(service, env);
        self.undo
            .retain(|u| !matches!(u, Undo::Recreate(s) if s == service));
        if !env.is_empty() {
            self.undo.push(Undo::Recreate(service.to_string()));
        }
    }
}

impl Drop for Faults<'_> {
    fn drop(&mut self) {
        let mut restored = Vec::new();
        for undo in self.undo.drain(..).rev() {
            match undo {
                Undo::Start(service) => {
                    if !self.stack.is_running(&service) {
                        self.stack.start(&service);
                    }
                    restored.push(service);
                }
                Undo::Recreate(service) => {
                    self.stack.recreate(&service, &[]);
                    restored.push(service);
                }
            }
        }
        // The next test finds them as `docker compose up` leaves them: healthy where they
        // have a health check. A failure here is reported, not raised: the test that made
        // the change may already be failing.
        for service in restored {
            let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.stack.wait_until_up(&service)
            }));
            if check.is_err() {
                eprintln!("{service} did not come back after the test that stopped it");
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.teardown();
        if thread::panicking() {
            eprintln!("stack logs kept in {}", self.run_dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// The sandbox of `service` as `spec` describes it.
fn sandbox_of(
    spec: &Service,
    programs: &Programs,
    repo: &Path,
    network: &Network,
    service: &str,
    run_dir: &Path,
) -> Sandbox {
    let image = images::lookup(&spec.image, programs, repo);
    Sandbox::new(
        spec,
        image,
        network.namespace(service),
        network.hosts_file(),
        &run_dir.join("volumes"),
    )
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn writeln_log(path: &Path, line: &str) {
    use std::io::Write;
    let _ = writeln!(append(path), "{line}");
}

/// Starts processes from one thread that lives as long as the test process: bwrap's
/// --die-with-parent kills a service when the thread that started it ends, which must be
/// the end of the run, not the end of the test that happened to start the stack.
struct Spawner {
    requests: Mutex<mpsc::Sender<(std::process::Command, mpsc::Sender<std::io::Result<Child>>)>>,
}

impl Spawner {
    fn new() -> Spawner {
        let (tx, rx) =
            mpsc::channel::<(std::process::Command, mpsc::Sender<std::io::Result<Child>>)>();
        thread::Builder::new()
            .name("stack-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // Parked for the rest of the run once the stack is gone, so that nothing it
                // started outlives its thread early.
                loop {
                    thread::park();
                }
            })
            .expect("start the spawner thread");
        Spawner {
            requests: Mutex::new(tx),
        }
    }

    fn spawn(&self, cmd: std::process::Command, what: &str) -> Child {
        let (reply_tx, reply_rx) = mpsc::channel();
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((cmd, reply_tx))
            .expect("the spawner thread runs");
        match reply_rx.recv().expect("the spawner thread answers") {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot start {what}: {e}; the stack harness needs `ip` (iproute2), `bwrap` \
                 (bubblewrap) and `setpriv` (util-linux): run scripts/install-test-deps.sh"
            ),
        }
    }
}

/// The stack of this test binary: started by the first test that asks, stopped when the
/// test binary exits (and, should the binary be killed, removed by the next run).
pub fn shared(node_binary: &str) -> &'static Stack {
    shared_from(Path::new("docker-compose.yml"), node_binary)
}

/// [`shared`] for another compose file of the repository (one per test binary).
pub fn shared_from(compose_file: &Path, node_binary: &str) -> &'static Stack {
    static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();
    static TEARDOWN: OnceLock<()> = OnceLock::new();
    TEARDOWN.get_or_init(|| {
        extern "C" fn at_exit() {
            if let Some(Ok(stack)) = STACK.get() {
                stack.teardown();
                // No destructor runs at exit: remove the namespaces here.
                network::remove_runs_of_this_process();
            }
        }
        // SAFETY: registers a plain function without arguments, run once at exit.
        unsafe {
            libc::atexit(at_exit);
        }
    });
    // A stack that failed to start fails every test that needs it with the same message,
    // instead of each one trying again.
    let started = STACK.get_or_init(|| {
        let options = Options {
            compose_file: compose_file.to_path_buf(),
            node_binary: PathBuf::from(node_binary),
            env: Vec::new(),
        };
        std::panic::catch_unwind(|| Stack::up(&options)).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the stack did not start".to_string())
        })
    });
    match started {
        Ok(stack) => stack,
        Err(message) => panic!("the stack did not start: {message}"),
    }
}
