//! The demo node as a test subject: started from the real binary with a clean environment,
//! on an ephemeral loopback port, and waited for until `/ready` answers.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{Exposition, Proc, free_port, http_get, wait_until};

pub const BIN: &str = env!("CARGO_BIN_EXE_alys-telemetry");

pub struct Demo {
    pub proc: Proc,
    pub port: u16,
}

impl Demo {
    /// Starts `alys-telemetry demo ARGS` with `env` (and no OTEL_/ALYS_TELEMETRY_/ALYS_DEMO_ or
    /// RUST_LOG variable of the test's own environment), listening on a free port.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Demo {
        Demo::launch(&[], free_port(), args, env)
    }

    /// As [`start`](Self::start), on `port` (to bring a node back where it was).
    pub fn start_on(port: u16, args: &[&str], env: &[(&str, &str)]) -> Demo {
        Demo::launch(&[], port, args, env)
    }

    /// As [`start`](Self::start), the binary run by `wrapper` (a command that ends by
    /// executing its arguments, such as `prlimit --nofile=256 --`), so that the demo keeps
    /// the wrapper's process id.
    pub fn start_under(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Demo {
        Demo::launch(wrapper, free_port(), args, env)
    }

    fn launch(wrapper: &[&str], port: u16, args: &[&str], env: &[(&str, &str)]) -> Demo {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(BIN);
                cmd
            }
            None => Command::new(BIN),
        };
        for (key, _) in std::env::vars() {
            if key.starts_with("OTEL_")
                || key.starts_with("ALYS_TELEMETRY_")
                || key.starts_with("ALYS_DEMO_")
                || key == "RUST_LOG"
            {
                cmd.env_remove(key);
            }
        }
        cmd.arg("demo")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().copied());
        let proc = Proc::spawn(cmd, "demo");
        let demo = Demo { proc, port };
        if !args.contains(&"--no-pull") {
            wait_until("the demo's /ready", Duration::from_secs(30), || {
                http_get(&demo.url("/ready"))
                    .ok()
                    .filter(|(code, _, _)| *code == 200)
            });
        }
        demo
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn metrics(&self) -> String {
        match http_get(&self.url("/metrics")) {
            Ok((200, body, _)) => body,
            other => panic!("/metrics answered {other:?}"),
        }
    }

    /// `/metrics`, parsed.
    pub fn exposition(&self) -> Exposition {
        alys_test_support::exposition::parse_exposition(&self.metrics())
    }

    /// Sum of all samples of `name` carrying every `labels` pair (exact label matching).
    pub fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.exposition().sum(name, labels)
    }

    /// Sends `sig` and returns how long the process took to exit.
    pub fn stop(&mut self, sig: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        self.proc.signal(sig);
        let status = self.proc.wait_exit(limit);
        let took = started.elapsed();
        assert!(
            status.is_some(),
            "the demo did not exit within {limit:?} of SIG{sig}\nstderr:\n{}",
            self.proc.stderr()
        );
        took
    }
}
