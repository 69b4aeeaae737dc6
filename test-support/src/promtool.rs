//! `promtool check metrics`, as the stack tier runs it on an exposition: the node's and each
//! service's tests accept exactly the complaints their contract names, nothing else.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::stack_tool;

/// A complaint accepted because dashboards already query the name: the metric and a piece
/// of promtool's text about it (`should not have "_count" suffix`).
pub type Accepted<'a> = (&'a str, &'a str);

/// Runs `promtool check metrics` on `exposition`: the lines it said that `accepted` does not
/// cover (and a line saying so when it failed without a word), and everything it said.
pub fn promtool_complaints(exposition: &str, accepted: &[Accepted]) -> (Vec<String>, String) {
    let mut promtool = Command::new(stack_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    promtool
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(exposition.as_bytes())
        .expect("the exposition reaches promtool");
    let out = promtool.wait_with_output().expect("promtool ends");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mut unexpected: Vec<String> = said
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !accepted
                .iter()
                .any(|(name, text)| l.starts_with(&format!("{name} ")) && l.contains(text))
        })
        .map(str::to_string)
        .collect();
    if !out.status.success() && said.trim().is_empty() {
        unexpected.push(format!("promtool exited {} without a word", out.status));
    }
    (unexpected, said)
}
