//! End to end: the demo with an injected fault makes the matching alert fire in a real
//! Prometheus loaded with our rules, pass through a real Alertmanager with our config, and
//! reach a webhook within 30 s; when the fault ends, the alert resolves.

use crate::support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::node::Demo;
use crate::support::{
    Proc, Prometheus, TempDir, Webhook, free_port, http_get, pull_config, wait_until,
};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Our Alertmanager config, with its webhook receivers pointed at the test's webhook.
fn start_alertmanager(webhook: &Webhook, dir: &TempDir) -> (Proc, u16) {
    let ours = std::fs::read_to_string(repo().join("alerts/alertmanager.yml")).unwrap();
    let config = ours.replace("http://alys-webhook:5001/alerts", &webhook.url());
    assert_ne!(
        config, ours,
        "the shipped config has no webhook to point at the test"
    );
    let path = dir.path.join("alertmanager.yml");
    std::fs::write(&path, config).unwrap();
    let port = free_port();
    let mut cmd = std::process::Command::new(support::stack_tool("alertmanager"));
    cmd.arg(format!("--config.file={}", path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path.join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let proc = Proc::spawn(cmd, "alertmanager");
    wait_until("Alertmanager ready", Duration::from_secs(20), || {
        matches!(
            http_get(&format!("http://127.0.0.1:{port}/-/ready")),
            Ok((200, _, _))
        )
        .then_some(())
    });
    (proc, port)
}

fn rule_files() -> Vec<PathBuf> {
    std::fs::read_dir(repo().join("alerts/rules"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect()
}

#[test]
fn a_fault_fires_its_alert_to_the_webhook_within_30_s_and_resolves() {
    let webhook = Webhook::start();
    let dir = TempDir::new("alerting");
    let (alertmanager, am_port) = start_alertmanager(&webhook, &dir);
    // Long enough that the condition holds through Prometheus's start-up, the rule's
    // `for: 10s` and delivery, however slowly this machine starts things.
    let fault_for = Duration::from_secs(45);
    let mut demo = Demo::start(
        &[
            "--no-push",
            "--block-interval",
            "200ms",
            "--fault",
            "sync-failed",
            "--fault-duration",
            "45s",
        ],
        &[],
    );
    let prometheus =
        Prometheus::start_yaml(&pull_config(&demo.target(), &rule_files(), Some(am_port)));

    // The clock starts when Prometheus first sees the failed state: the condition.
    wait_until(
        "Prometheus to see the failed sync",
        Duration::from_secs(30),
        || {
            prometheus
                .query("alys_sync_state == 5")
                .ok()
                .filter(|r| !r.is_empty())
        },
    );
    let condition = Instant::now();
    let deadline = condition + Duration::from_secs(60);
    let fired = loop {
        if let Some(n) = webhook
            .notifications("SyncFailed", "firing")
            .into_iter()
            .next()
        {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "SyncFailed never reached the webhook.\nwebhook got: {:?}\nalertmanager:\n{}\nprometheus alerts: {:?}",
            webhook.received.lock().unwrap(),
            alertmanager.output_tail(30),
            prometheus.query("ALERTS{alertname=\"SyncFailed\"}")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = condition.elapsed();
    // The Alys operators' delivery target: within 30 s of the condition (the rule's 10 s
    // included).
    assert!(
        took <= Duration::from_secs(30),
        "delivered {took:?} after the condition"
    );
    let alert = fired["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "SyncFailed")
        .unwrap();
    assert_eq!(alert["labels"]["severity"], "critical");
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("/SyncFailed.md")
    );

    // The fault ends by itself; the alert resolves and says so.
    wait_until(
        "SyncFailed resolved at the webhook",
        fault_for + Duration::from_secs(90),
        || {
            webhook
                .notifications("SyncFailed", "resolved")
                .into_iter()
                .next()
        },
    );
    demo.stop("TERM", Duration::from_secs(10));
}
