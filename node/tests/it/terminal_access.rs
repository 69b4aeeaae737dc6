//! The node's own clients of a secured pull endpoint (README, "Securing the node's port"):
//! `traces`, `top` and `probe`, the real binary, against the demo served over TLS with basic
//! auth for /metrics and other credentials for the viewer, or with mutual TLS and a bearer
//! token. With the CA and the credentials they read the node; without credentials they exit
//! non-zero naming the flags to pass; a wrong password is refused and never printed; `probe`
//! asks /ready over TLS. `top` is a full-screen view: its refusals come before it takes the
//! terminal and are tested here; the screen itself, over TLS, through tmux with the stack tier
//! (feature `stack-tests`), as node/tests/stack/terminal_views.rs tests it in plain HTTP.

mod harness;

use harness::*;

#[test]
fn traces_reads_a_node_over_tls_with_the_viewers_credentials_and_names_the_flags_when_refused() {
    let node = SecuredNode::start(&basic_auth_config());
    let https = node.https();
    let ca = node.file("ca.pem");
    let viewer_pw = node.file("viewer.pw");

    // The right CA and the viewer's credentials: the node's traces, as OTLP JSON.
    let read = [
        "traces",
        &https,
        "--json",
        "--limit",
        "5",
        "--ca-file",
        &ca,
        "--user",
        "operator",
        "--password-file",
        &viewer_pw,
    ];
    let mut last = String::new();
    let found = poll(WAIT, || {
        let out = node.run(&read, &[]);
        last = text(&out);
        spans(&out)
    });
    assert!(found.is_some(), "no traces over TLS:\n{last}");
    // The password from the environment instead of a file.
    let from_env = node.run(
        &read[..read.len() - 2],
        &[("ALYS_TELEMETRY_PULL_PASSWORD", VIEWER_PASSWORD)],
    );
    assert!(spans(&from_env).is_some(), "{}", text(&from_env));

    // No credentials: exit 1, the flags named.
    let bare = node.run(&["traces", &https, "--json", "--ca-file", &ca], &[]);
    assert_eq!(bare.status.code(), Some(1), "{}", text(&bare));
    let e = stderr(&bare);
    assert!(
        e.contains("401") && e.contains("--user") && e.contains("--password-file"),
        "{e}"
    );
    assert!(bare.stdout.is_empty(), "{}", text(&bare));

    // A wrong password, and /metrics' credentials on the viewer: refused, never printed.
    let wrong_pw = node.file("wrong.pw");
    let metrics_pw = node.file("metrics.pw");
    for (user, file) in [("operator", &wrong_pw), ("prometheus", &metrics_pw)] {
        let out = node.run(
            &[
                "traces",
                &https,
                "--json",
                "--ca-file",
                &ca,
                "--user",
                user,
                "--password-file",
                file,
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let e = stderr(&out);
        assert!(
            e.contains("401") && e.contains(&format!("refused user \"{user}\"")),
            "{e}"
        );
        assert_no_secret(&text(&out));
    }
    let env_wrong = node.run(
        &[
            "traces",
            &https,
            "--json",
            "--ca-file",
            &ca,
            "--user",
            "operator",
        ],
        &[("ALYS_TELEMETRY_PULL_PASSWORD", WRONG_PASSWORD)],
    );
    assert_eq!(env_wrong.status.code(), Some(1), "{}", text(&env_wrong));
    assert!(
        stderr(&env_wrong).contains("ALYS_TELEMETRY_PULL_PASSWORD"),
        "{}",
        text(&env_wrong)
    );
    assert_no_secret(&text(&env_wrong));

    // --user without a password: refused before asking, exit 2.
    let no_pw = node.run(
        &[
            "traces",
            &https,
            "--json",
            "--ca-file",
            &ca,
            "--user",
            "operator",
        ],
        &[],
    );
    assert_eq!(no_pw.status.code(), Some(2), "{}", text(&no_pw));
    assert!(
        stderr(&no_pw).contains("--password-file"),
        "{}",
        text(&no_pw)
    );

    // Without the CA the handshake fails, and the message says what to pass.
    let no_ca = node.run(
        &[
            "traces",
            &https,
            "--json",
            "--user",
            "operator",
            "--password-file",
            &viewer_pw,
        ],
        &[],
    );
    assert_eq!(no_ca.status.code(), Some(1), "{}", text(&no_ca));
    let e = stderr(&no_ca);
    assert!(
        e.contains("UnknownIssuer") && e.contains("--ca-file"),
        "{e}"
    );
    // Plain HTTP to the TLS port, and --ca-file with a plain address.
    let plain = node.run(
        &["traces", &format!("127.0.0.1:{}", node.port), "--json"],
        &[],
    );
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain));
    assert!(stderr(&plain).contains("https://"), "{}", text(&plain));
    let mixed = node.run(
        &[
            "traces",
            &format!("127.0.0.1:{}", node.port),
            "--json",
            "--ca-file",
            &ca,
        ],
        &[],
    );
    assert_eq!(mixed.status.code(), Some(2), "{}", text(&mixed));
    assert!(stderr(&mixed).contains("https://"), "{}", text(&mixed));

    assert_no_secret(&node.output());
}

#[test]
fn top_refuses_at_start_naming_the_flags_before_taking_the_terminal() {
    let node = SecuredNode::start(&basic_auth_config());
    let https = node.https();
    let ca = node.file("ca.pem");

    let bare = node.run(&["top", &https, "--ca-file", &ca], &[]);
    assert_eq!(bare.status.code(), Some(1), "{}", text(&bare));
    let e = stderr(&bare);
    assert!(
        e.contains("/metrics: 401") && e.contains("--user") && e.contains("--password-file"),
        "{e}"
    );

    let wrong = node.run(
        &[
            "top",
            &https,
            "--ca-file",
            &ca,
            "--user",
            "prometheus",
            "--password-file",
            &node.file("wrong.pw"),
        ],
        &[],
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        stderr(&wrong).contains("refused user \"prometheus\""),
        "{}",
        text(&wrong)
    );
    assert_no_secret(&text(&wrong));

    let no_ca = node.run(&["top", &https], &[]);
    assert_eq!(no_ca.status.code(), Some(1), "{}", text(&no_ca));
    assert!(stderr(&no_ca).contains("--ca-file"), "{}", text(&no_ca));
    assert_no_secret(&node.output());
}

#[test]
fn probe_asks_ready_over_tls_with_the_ca_and_fails_without_it() {
    let node = SecuredNode::start(&basic_auth_config());
    let https = node.https();
    let ca = node.file("ca.pem");

    for path in ["/ready", "/health"] {
        let ok = node.run(&["probe", &https, path, "--ca-file", &ca], &[]);
        assert!(ok.status.success(), "{path}: {}", text(&ok));
    }
    let no_ca = node.run(&["probe", &https, "/ready"], &[]);
    assert_eq!(no_ca.status.code(), Some(1), "{}", text(&no_ca));
    assert!(stderr(&no_ca).contains("--ca-file"), "{}", text(&no_ca));
    // The plain probe at a TLS port says so.
    let plain = node.run(&["probe", &format!("127.0.0.1:{}", node.port)], &[]);
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain));
    assert!(stderr(&plain).contains("https://"), "{}", text(&plain));
    // probe sends no credentials: /metrics stays closed to it.
    let metrics = node.run(&["probe", &https, "/metrics", "--ca-file", &ca], &[]);
    assert_eq!(metrics.status.code(), Some(1), "{}", text(&metrics));
    assert!(stderr(&metrics).contains("401"), "{}", text(&metrics));
}

#[test]
fn mutual_tls_with_a_bearer_token_reads_and_a_missing_client_certificate_is_named() {
    let node = SecuredNode::start(&mutual_tls_config());
    let https = node.https();
    let (ca, cert, key, token) = (
        node.file("ca.pem"),
        node.file("client.pem"),
        node.file("client.key"),
        node.file("token"),
    );
    let mtls = [
        "--ca-file",
        ca.as_str(),
        "--client-cert",
        cert.as_str(),
        "--client-key",
        key.as_str(),
    ];

    let read: Vec<&str> = ["traces", &https, "--json", "--limit", "5"]
        .into_iter()
        .chain(mtls)
        .chain(["--bearer-token-file", token.as_str()])
        .collect();
    let mut last = String::new();
    let found = poll(WAIT, || {
        let out = node.run(&read, &[]);
        last = text(&out);
        spans(&out)
    });
    assert!(found.is_some(), "no traces over mutual TLS:\n{last}");

    // The token missing: the bearer flag named.
    let no_token: Vec<&str> = ["traces", &https, "--json"]
        .into_iter()
        .chain(mtls)
        .collect();
    let out = node.run(&no_token, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("--bearer-token-file"),
        "{}",
        text(&out)
    );

    // The client certificate missing: probe and traces say to pass it.
    let probe = node.run(&["probe", &https, "/ready", "--ca-file", &ca], &[]);
    assert_eq!(probe.status.code(), Some(1), "{}", text(&probe));
    assert!(stderr(&probe).contains("--client-cert"), "{}", text(&probe));
    let probe: Vec<&str> = ["probe", &https, "/ready"]
        .into_iter()
        .chain(mtls)
        .collect();
    let out = node.run(&probe, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let no_cert = node.run(
        &[
            "traces",
            &https,
            "--json",
            "--ca-file",
            &ca,
            "--bearer-token-file",
            &token,
        ],
        &[],
    );
    assert_eq!(no_cert.status.code(), Some(1), "{}", text(&no_cert));
    assert!(
        stderr(&no_cert).contains("--client-cert"),
        "{}",
        text(&no_cert)
    );
    assert_no_secret(&text(&no_cert));
    assert_no_secret(&node.output());
}

/// `top` over TLS with /metrics' credentials, in a real terminal: the node's actors, and the
/// health panel's note that the viewer asks for its own credentials; `q` exits 0.
#[cfg(feature = "stack-tests")]
#[test]
fn top_shows_a_secured_node_in_a_terminal() {
    use crate::support::node::BIN;
    use crate::support::tmux::Tmux;
    let node = SecuredNode::start(&basic_auth_config());
    let top = Tmux::start(
        &format!(
            "'{BIN}' top {} --ca-file '{}' --user prometheus --password-file '{}'; \
             echo EXIT=$?; sleep 600",
            node.https(),
            node.file("ca.pem"),
            node.file("metrics.pw")
        ),
        200,
        45,
    );
    top.wait_for("top's actors over TLS", WAIT, |s| {
        ["connected", "Actors", "engine", "storage", "Exports"]
            .iter()
            .all(|t| s.contains(t))
            && s.contains("/api/health answered 401")
            && !s.contains("disconnected")
    });
    top.keys(&["q"]);
    let after = top.wait_for("top to exit", WAIT, |s| s.contains("EXIT="));
    assert!(after.contains("EXIT=0"), "{after}");
    assert_no_secret(&after);
}
