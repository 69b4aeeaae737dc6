//! A terminal program under tmux: a detached session of a fixed size runs the command; the
//! test types with `send-keys` and reads the screen with `capture-pane`. The session is killed
//! when the handle drops.

use std::process::Command;
use std::time::Duration;

use super::{find_binary, wait_until};

pub struct Tmux {
    name: String,
}

impl Tmux {
    /// Runs `shell_command` (through sh) in a new session of `width` x `height`.
    pub fn start(shell_command: &str, width: u16, height: u16) -> Tmux {
        let name = format!("alys-test-{}-{}", std::process::id(), fastrand::u32(..));
        let status = Command::new(find_binary("tmux"))
            .args(["new-session", "-d", "-s", &name])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(shell_command)
            .status()
            .expect("tmux runs (scripts/install-test-deps.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { name }
    }

    /// The visible screen, as text.
    pub fn screen(&self) -> String {
        let out = Command::new(find_binary("tmux"))
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new(find_binary("tmux"))
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    /// Waits until the screen satisfies `check`; returns that screen.
    #[track_caller]
    pub fn wait_for(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(what, timeout, || {
                let screen = self.screen();
                last = screen.clone();
                check(&screen).then_some(screen)
            })
        }));
        match found {
            Ok(screen) => screen,
            Err(_) => panic!("timed out after {timeout:?} waiting for {what}; the screen:\n{last}"),
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(find_binary("tmux"))
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}
