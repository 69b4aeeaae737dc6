//! The pull exit against a real Prometheus: it scrapes the demo every second, sees the target
//! up, and watches a demo counter grow. `promtool check metrics` finds nothing to complain about.

use crate::support;

use std::time::Duration;

use crate::support::node::Demo;
use crate::support::{Prometheus, wait_until};

fn sum_of(result: &[serde_json::Value]) -> f64 {
    result
        .iter()
        .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn prometheus_scrapes_the_demo_and_sees_counters_grow() {
    let mut demo = Demo::start(&["--no-push", "--block-interval", "300ms"], &[]);
    let prometheus = Prometheus::start(&[demo.target()]);

    let up = prometheus.wait_for_data("up{job=\"alys\"} == 1", Duration::from_secs(30));
    assert_eq!(up.len(), 1, "{up:?}");

    let query = "sum(alys_actor_messages_total)";
    let first = sum_of(&prometheus.wait_for_data(query, Duration::from_secs(30)));
    let later = wait_until(
        "the message counter to grow",
        Duration::from_secs(30),
        || {
            let now = sum_of(&prometheus.query(query).ok()?);
            (now > first).then_some(now)
        },
    );
    assert!(later > first);

    // Histograms arrive whole: a quantile over rate() of the buckets has data.
    let q = "histogram_quantile(0.95, sum by (le, validator) \
             (rate(alys_block_production_duration_seconds_bucket[1m])))";
    let quantiles = prometheus.wait_for_data(q, Duration::from_secs(30));
    assert!(!quantiles.is_empty());

    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn promtool_finds_no_problem_in_the_exposition() {
    let mut demo = Demo::start(&["--no-push", "--block-interval", "200ms"], &[]);
    // Wait until every family the demo records has samples.
    wait_until("block production samples", Duration::from_secs(20), || {
        demo.metric_sum("alys_block_production_duration_seconds_count", &[])
    });
    let exposition = demo.metrics();
    // These names are a contract that existing Alys alerts use (LowPeerCount,
    // ActorSystemUnhealthy); promtool's lint dislikes a gauge ending in `_count` and exits 3
    // for it. Exactly these complaints are accepted, nothing else.
    let count = "should not have \"_count\" suffix";
    let contract = [
        ("alys_peer_count", count),
        ("alys_actor_healthy_count", count),
        ("alys_actor_total_count", count),
    ];
    let (unexpected, said) = support::promtool_complaints(&exposition, &contract);
    assert!(unexpected.is_empty(), "promtool: {said}");
    demo.stop("INT", Duration::from_secs(10));
}

/// The Prometheus user's password and its bcrypt hash (cost 10, made with libxcrypt as
/// `htpasswd -B` makes them).
const PASSWORD: &str = "prom-pass-7";
const HASH: &str = "$2y$10$tRZgEmgFG/..XcfoCgeGIOAfCtw8xxXBLk6l4R01D9axaN7dD0zbS";

/// README.md's scrape configuration for a secured node, between its markers, without the
/// code fence: what the test runs is what the README shows.
fn readme_scrape_over_tls() -> String {
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("read README.md");
    let (_, rest) = text
        .split_once("<!-- scrape-over-tls:begin -->")
        .expect("README.md has the scrape-over-tls:begin marker");
    let (block, _) = rest
        .split_once("<!-- scrape-over-tls:end -->")
        .expect("README.md has the scrape-over-tls:end marker");
    let yaml = block
        .trim()
        .strip_prefix("```yaml")
        .and_then(|b| b.strip_suffix("```"))
        .expect("a ```yaml block between the markers");
    yaml.trim_start_matches('\n').to_string()
}

/// `alys-telemetry demo` secured by `dir/web.yml` (TLS and basic auth), ready.
fn secured_demo(dir: &std::path::Path, port: u16) -> support::Proc {
    let mut cmd = std::process::Command::new(support::node::BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.starts_with("ALYS_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.arg("demo")
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-push"])
        .args(["--block-interval", "300ms"])
        .arg("--web.config.file")
        .arg(dir.join("web.yml"));
    let demo = support::Proc::spawn(cmd, "demo-secured");
    wait_until(
        "the demo's /ready over TLS",
        Duration::from_secs(30),
        || {
            let out = std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg("--cacert")
                .arg(dir.join("ca.pem"))
                .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
                .arg(format!("https://localhost:{port}/ready"))
                .output()
                .ok()?;
            (out.stdout == b"200").then_some(())
        },
    );
    demo
}

#[test]
fn prometheus_scrapes_the_node_over_tls_with_basic_auth() {
    let dir = support::TempDir::new("prometheus-tls");
    support::tls::make_certificates(&dir.path).unwrap();
    let web = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
         basic_auth_users:\n  prometheus: {HASH}\n"
    );
    std::fs::write(dir.join("web.yml"), web).unwrap();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let port = support::free_port();
    let _demo = secured_demo(&dir.path, port);

    // The README's block, its placeholders pointed at this test's files and node.
    let mut scrape = readme_scrape_over_tls();
    let ca = dir.join("ca.pem").display().to_string();
    let password = dir.join("password").display().to_string();
    let target = format!("\"127.0.0.1:{port}\"");
    for (placeholder, value) in [
        ("/etc/prometheus/alys/ca.pem", ca.as_str()),
        ("/etc/prometheus/alys/password", password.as_str()),
        // The test certificate is for localhost.
        ("server_name: alys-node", "server_name: localhost"),
        ("\"alys-node:9001\"", target.as_str()),
    ] {
        assert!(
            scrape.contains(placeholder),
            "README's block lost {placeholder:?}:\n{scrape}"
        );
        scrape = scrape.replace(placeholder, value);
    }
    let yaml = format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{scrape}");
    let prometheus = Prometheus::start_yaml(&yaml);

    let up = prometheus.wait_for_data("up{job=\"alys-node\"} == 1", Duration::from_secs(30));
    assert_eq!(up.len(), 1, "{up:?}");
    let messages = prometheus.wait_for_data(
        "sum(alys_actor_messages_total) > 0",
        Duration::from_secs(30),
    );
    assert!(sum_of(&messages) > 0.0);
    // Prometheus never needed a second try: no refusal on the node.
    let denied = prometheus
        .query("sum(alys_telemetry_pull_access_denied_total)")
        .unwrap();
    assert_eq!(sum_of(&denied), 0.0, "{denied:?}");
}
