//! The process: it stops on SIGTERM and at the end of its run, flushing on the way out;
//! a bad flag stops it before anything starts; `catalog` prints the committed page.

use std::process::Command;
use std::time::Duration;

use alys_test_support::Proc;

use crate::support::{BIN, Service};

#[test]
fn it_stops_on_sigterm() {
    let mut service = Service::quiet(&[]);
    service.send("source", r#"{"payload": "sensor=s1 t=1"}"#);
    let status = service.stop("TERM");
    assert!(status.success(), "{status}");
    assert!(
        service
            .proc
            .stderr()
            .contains("component-runtime: shut down in")
    );
}

#[test]
fn it_stops_at_the_end_of_its_run_and_drives_itself_until_then() {
    let mut service = Service::start(&["--no-push", "--rate", "50", "--duration", "3s"], &[]);
    let status = service
        .proc
        .wait_exit(Duration::from_secs(20))
        .expect("an exit after its run");
    assert!(status.success(), "{status}");
    let out = service.proc.stdout();
    assert!(out.contains("reached the end of its run"), "{out}");
}

#[test]
fn a_bad_flag_is_refused_by_name() {
    let mut cmd = Command::new(BIN);
    cmd.args(["--crash-rate", "2"]);
    let mut proc = Proc::spawn(cmd, "component-runtime");
    let status = proc.wait_exit(Duration::from_secs(10)).expect("an exit");
    assert_eq!(status.code(), Some(2));
    assert!(proc.stderr().contains("--crash-rate"), "{}", proc.stderr());
}

#[test]
fn catalog_prints_the_committed_page() {
    let out = Command::new(BIN)
        .arg("catalog")
        .output()
        .expect("run catalog");
    assert!(out.status.success());
    let committed = include_str!("../../../../docs/services/component-runtime.md");
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}
