//! The pull endpoint secured by a web configuration file (exporter-toolkit format), asked by
//! the real `curl`: TLS with basic auth, a bearer token from a file, mutual TLS whose failed
//! handshakes disturb no other scraper, metrics and viewer with credentials apart, probes
//! open, reloads that take a new password and keep the last good file when the new one is
//! broken, and a bad file at start-up refused by name. No secret in any log line or answer.

mod harness;

use std::net::TcpStream;
use std::time::Duration;

use alys_test_support::{TempDir, wait_until};
use harness::*;

fn basic_tls_config() -> String {
    format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
         basic_auth_users:\n  prom: {PROM_HASH}\n"
    )
}

fn prom() -> String {
    format!("prom:{PROM_PASSWORD}")
}

#[test]
fn over_tls_the_right_user_scrapes_and_curl_without_credentials_gets_401() {
    let node = start(certificates("secured-basic"), &basic_tls_config());
    // The real curl, no credentials.
    let bare = node.curl("/metrics", &[]).unwrap();
    assert_eq!(bare.code, 401, "{bare:?}");
    let challenge = bare.head.to_lowercase();
    assert!(
        challenge.contains("www-authenticate: basic realm=\"alys-telemetry metrics\""),
        "{bare:?}"
    );
    let wrong = node.curl("/metrics", &["-u", "prom:guess"]).unwrap();
    assert_eq!(wrong.code, 401, "{wrong:?}");
    let stranger = node.curl("/metrics", &["-u", &format!("eve:{PROM_PASSWORD}")]);
    assert_eq!(stranger.unwrap().code, 401);

    let body = node.metrics();
    assert!(body.contains("alys_telemetry_pull_connections"), "{body}");
    // Each refusal counted by its reason (the scrape that reads them was let in).
    assert_eq!(node.denied("missing_credentials"), 1.0);
    assert_eq!(node.denied("wrong_credentials"), 2.0);

    // Probes need no credentials, and are served over TLS too.
    for probe in ["/health", "/ready"] {
        let reply = node.curl(probe, &[]).unwrap();
        assert_eq!(reply.code, 200, "{probe}: {reply:?}");
    }
    // Plain HTTP on the TLS port is a failed handshake, counted.
    let plain = curl(&node.dir, node.addr, false, "/metrics", &[]);
    assert!(plain.is_err() || plain.is_ok_and(|r| r.code != 200));
    wait_until(
        "the failed handshake counted",
        Duration::from_secs(10),
        || (node.denied("tls_handshake") >= 1.0).then_some(()),
    );

    let answers = format!("{bare:?}{wrong:?}");
    assert_no_secret("the 401s", &answers, &node.dir, &[]);
    assert!(node.logs.text().contains("pull endpoint refused a request"));
    assert_no_secret("the log", &node.logs.text(), &node.dir, &[]);
}

#[test]
fn a_bearer_token_from_a_file_opens_metrics() {
    let dir = TempDir::new("secured-bearer");
    std::fs::write(dir.join("metrics.token"), "tok-5f2a9c\n").unwrap();
    let node = start(dir, "bearer_token_file: metrics.token\n");
    let right = node
        .curl("/metrics", &["-H", "Authorization: Bearer tok-5f2a9c"])
        .unwrap();
    assert_eq!(right.code, 200, "{right:?}");
    let wrong = node
        .curl("/metrics", &["-H", "Authorization: Bearer tok-5f2a9d"])
        .unwrap();
    assert_eq!(wrong.code, 401);
    assert!(
        wrong
            .head
            .to_lowercase()
            .contains("www-authenticate: bearer realm=\"alys-telemetry metrics\""),
        "{wrong:?}"
    );
    // The token is no password.
    let as_basic = node.curl("/metrics", &["-u", "x:tok-5f2a9c"]).unwrap();
    assert_eq!(as_basic.code, 401);
    assert_no_secret("the log", &node.logs.text(), &node.dir, &["tok-5f2a9"]);
}

#[test]
fn mutual_tls_refuses_clients_without_a_good_certificate_and_keeps_serving_the_others() {
    let dir = certificates("secured-mtls");
    let stranger = certificates("secured-mtls-stranger");
    let yaml = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
                client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n";
    let node = start(dir, yaml);
    let client = [
        "--cert",
        &node.dir.join("client.pem").display().to_string(),
        "--key",
        &node.dir.join("client.key").display().to_string(),
    ]
    .map(String::from);
    let client: Vec<&str> = client.iter().map(String::as_str).collect();
    assert_eq!(node.curl("/metrics", &client).unwrap().code, 200);

    let stalled = std::thread::scope(|s| {
        // Stalled connections (no ClientHello) and clients without a certificate, or with
        // one of another CA, while a good client scrapes.
        let bad = s.spawn(|| {
            let stalled: Vec<TcpStream> = (0..8)
                .map(|_| TcpStream::connect(node.addr).unwrap())
                .collect();
            let other = [
                "--cert",
                &stranger.join("client.pem").display().to_string(),
                "--key",
                &stranger.join("client.key").display().to_string(),
            ]
            .map(String::from);
            let other: Vec<&str> = other.iter().map(String::as_str).collect();
            for _ in 0..10 {
                assert!(node.curl("/metrics", &[]).is_err(), "no client certificate");
                assert!(node.curl("/metrics", &other).is_err(), "another CA's");
            }
            stalled
        });
        for _ in 0..20 {
            let reply = node.curl("/metrics", &client).expect("the good client");
            assert_eq!(reply.code, 200);
        }
        bad.join().unwrap()
    });
    let sample = |name: &str, reason: &str| {
        let body = node.curl("/metrics", &client).ok()?.body;
        alys_test_support::sample_sum(&body, name, &[("reason", reason)])
    };
    // The stalled handshakes are closed by the header-read timeout (2 s here), still open
    // on the client's side.
    wait_until(
        "the stalled handshakes closed",
        Duration::from_secs(10),
        || {
            let closed = sample(
                "alys_telemetry_pull_connections_closed_total",
                "header_timeout",
            )?;
            (closed >= 8.0).then_some(())
        },
    );
    // Each refused client counted once: ten without a certificate, ten of another CA.
    let failed = sample("alys_telemetry_pull_access_denied_total", "tls_handshake");
    assert_eq!(failed, Some(20.0));
    drop(stalled);
}

#[test]
fn metrics_and_the_viewer_take_credentials_apart() {
    let yaml = format!(
        "basic_auth_users:\n  prom: {PROM_HASH}\n\
         viewer:\n  basic_auth_users:\n    operator: {OPERATOR_HASH}\n"
    );
    let node = start(TempDir::new("secured-viewer"), &yaml);
    let operator = format!("operator:{OPERATOR_PASSWORD}");
    assert_eq!(node.curl("/metrics", &["-u", &prom()]).unwrap().code, 200);
    let traces = node.curl("/api/traces", &["-u", &prom()]).unwrap();
    assert_eq!(traces.code, 401, "{traces:?}");
    assert!(
        traces
            .head
            .to_lowercase()
            .contains("basic realm=\"alys-telemetry viewer\""),
        "{traces:?}"
    );
    let traces = node.curl("/api/traces", &["-u", &operator]).unwrap();
    assert_eq!(traces.code, 200, "{traces:?}");
    assert!(traces.body.trim_start().starts_with('{'), "{traces:?}");
    assert_eq!(node.curl("/", &["-u", &operator]).unwrap().code, 200);
    assert_eq!(node.curl("/metrics", &["-u", &operator]).unwrap().code, 401);
    for probe in ["/health", "/ready"] {
        assert_eq!(node.curl(probe, &[]).unwrap().code, 200, "{probe}");
    }
}

#[test]
fn a_reload_takes_a_new_password_and_a_broken_file_keeps_the_last_good_one() {
    let dir = certificates("secured-reload");
    let node = start(dir, &basic_tls_config());
    let new = format!("prom:{NEW_PASSWORD}");
    assert_eq!(node.curl("/metrics", &["-u", &prom()]).unwrap().code, 200);
    node.write("web.yml", &basic_tls_config().replace(PROM_HASH, NEW_HASH));
    wait_until("the new password", Duration::from_secs(15), || {
        let new = node.curl("/metrics", &["-u", &new]).ok()?.code;
        let old = node.curl("/metrics", &["-u", &prom()]).ok()?.code;
        (new == 200 && old == 401).then_some(())
    });
    wait_until("the reload logged", Duration::from_secs(5), || {
        node.logs
            .text()
            .contains("web config reloaded")
            .then_some(())
    });

    // Broken: a hash that is no bcrypt hash. The last good file stays.
    let broken = basic_tls_config().replace(PROM_HASH, "$2y$10$not-a-hash-but-a-secretish-value");
    node.write("web.yml", &broken);
    wait_until("the failed reload logged", Duration::from_secs(15), || {
        let logs = node.logs.text();
        logs.contains("keeping the last good web configuration")
            .then_some(logs)
    });
    assert_eq!(node.curl("/metrics", &["-u", &new]).unwrap().code, 200);
    assert_eq!(node.curl("/metrics", &["-u", &prom()]).unwrap().code, 401);
    let logs = node.logs.text();
    assert!(
        logs.contains("basic_auth_users.prom: not a bcrypt hash"),
        "{logs}"
    );
    assert!(
        logs.contains(&node.dir.join("web.yml").display().to_string()),
        "{logs}"
    );
    assert_no_secret("the log", &logs, &node.dir, &["secretish"]);
    // Counted: one reload applied, one failed (once, though the broken file is retried).
    let reloads = |result: &str| {
        let body = node.curl("/metrics", &["-u", &new]).ok()?.body;
        alys_test_support::sample_sum(
            &body,
            "alys_telemetry_pull_web_config_reloads_total",
            &[("result", result)],
        )
    };
    assert_eq!(reloads("applied"), Some(1.0));
    assert_eq!(reloads("failed"), Some(1.0));
}

#[test]
fn a_changed_token_file_is_read_again() {
    let dir = TempDir::new("secured-token-reload");
    std::fs::write(dir.join("token"), "first-token\n").unwrap();
    let node = start(dir, "bearer_token_file: token\n");
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    assert_eq!(
        node.curl("/metrics", &["-H", &bearer("first-token")])
            .unwrap()
            .code,
        200
    );
    node.write("token", "second-token\n");
    wait_until("the new token", Duration::from_secs(15), || {
        let second = node
            .curl("/metrics", &["-H", &bearer("second-token")])
            .ok()?;
        let first = node
            .curl("/metrics", &["-H", &bearer("first-token")])
            .ok()?;
        (second.code == 200 && first.code == 401).then_some(())
    });
}

#[test]
fn a_bad_file_at_start_up_is_an_error_naming_the_file_and_the_problem() {
    let cases = [
        (
            "basic_auth_users:\n  prom: $2y$10$hidden-secretish\n".to_string(),
            "basic_auth_users.prom: not a bcrypt hash",
        ),
        ("basic_auth_userz: {}\n".to_string(), "unknown field `basic_auth_userz`"),
        (
            "tls_server_config:\n  cert_file: absent.pem\n  key_file: absent.key\n".to_string(),
            "tls_server_config.cert_file: cannot read",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n".to_string(),
            "rustls verifies every client certificate",
        ),
    ];
    for (yaml, problem) in cases {
        let dir = certificates("secured-bad");
        let file = dir.join("web.yml");
        let Err((e, logs)) = try_start(dir, &yaml) else {
            panic!("started with:\n{yaml}");
        };
        let message = e.to_string();
        assert_eq!(e.exit_code(), 2, "{message}");
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains(problem), "{message}");
        assert!(
            message.contains("ALYS_TELEMETRY_WEB_CONFIG_FILE"),
            "{message}"
        );
        assert!(!message.contains("secretish"), "{message}");
        assert!(!logs.text().contains("secretish"));
    }
}
