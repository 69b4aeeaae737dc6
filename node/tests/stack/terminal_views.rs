//! `top` and `traces` in a real terminal (tmux) against a running demo: the screens show the
//! actors and a trace's waterfall with its critical path, update, survive the node stopping
//! and coming back, and `q` gives the terminal back. `traces` also reads the real Jaeger's
//! query API, and the node's /api/ output is taken by Jaeger's OTLP/HTTP JSON receiver.

use std::time::Duration;

use crate::support::jaeger::Jaeger;
use crate::support::node::{BIN, Demo};
use crate::support::tmux::Tmux;
use crate::support::{free_port, http_get, wait_until};
use opentelemetry_proto::tonic::trace::v1::TracesData;

const WAIT: Duration = Duration::from_secs(30);

/// Runs `args` of the binary in tmux; after it exits, the shell prints its exit code and the
/// terminal's modes (raw mode would show `-icanon`).
fn run_in_tmux(args: &str) -> Tmux {
    Tmux::start(
        &format!("'{BIN}' {args}; echo EXIT=$?; stty -a; sleep 600"),
        160,
        45,
    )
}

fn assert_restored(screen: &str, ui_text: &str) {
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains(" icanon") && !screen.contains("-icanon"),
        "raw mode left on:\n{screen}"
    );
    assert!(
        screen.contains(" echo ") && !screen.contains("-echo "),
        "echo left off:\n{screen}"
    );
    assert!(
        !screen.contains(ui_text),
        "the alternate screen was not left:\n{screen}"
    );
}

fn reads(screen: &str) -> Option<u64> {
    screen
        .split(" reads")
        .next()?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[test]
fn top_shows_the_node_updates_survives_a_restart_and_q_restores_the_terminal() {
    let port = free_port();
    let mut demo = Demo::start_on(port, &["--no-push"], &[]);
    let top = run_in_tmux(&format!("top 127.0.0.1:{port}"));
    let first = top.wait_for("top's actors", WAIT, |s| {
        [
            "Actors",
            "engine",
            "storage",
            "network",
            "bridge",
            "connected",
            "Health",
            "chain",
            "Governance stream",
            "Exports",
        ]
        .iter()
        .all(|t| s.contains(t))
            && reads(s).is_some()
    });
    let n = reads(&first).unwrap();
    top.wait_for("a refresh", WAIT, |s| reads(s).is_some_and(|m| m > n));

    demo.stop("TERM", Duration::from_secs(15));
    top.wait_for("disconnected, retrying", WAIT, |s| {
        s.contains("disconnected, retrying")
    });
    let _back = Demo::start_on(port, &["--no-push"], &[]);
    top.wait_for("connected again", WAIT, |s| {
        s.contains("connected") && !s.contains("disconnected")
    });

    top.keys(&["q"]);
    let after = top.wait_for("top to exit", WAIT, |s| {
        s.contains("EXIT=") && s.contains("icanon")
    });
    assert_restored(&after, "Governance stream");
}

/// The id of a settled chain.produce_block trace of four spans at `base`'s API.
fn block_trace(demo: &Demo) -> String {
    wait_until("a settled block trace", WAIT, || {
        let (_, body, _) =
            http_get(&demo.url("/api/traces?operation=chain.produce_block&limit=20")).ok()?;
        let data: TracesData = serde_json::from_str(&body).ok()?;
        data.resource_spans.iter().find_map(|rs| {
            let spans = &rs.scope_spans.first()?.spans;
            (spans.len() == 4).then(|| hex(&spans[0].trace_id))
        })
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The four hops are on screen, in order, each marked critical.
fn assert_waterfall(screen: &str) {
    let hops = [
        "chain.produce_block",
        "engine.execute_block",
        "storage.store_block",
        "network.broadcast_block",
    ];
    let lines: Vec<&str> = screen.lines().collect();
    let at: Vec<usize> = hops
        .iter()
        .map(|hop| {
            lines
                .iter()
                .position(|l| l.contains(&format!("◆ alys-node {hop}")))
                .unwrap_or_else(|| panic!("{hop} is not on the critical path:\n{screen}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "hops out of order {at:?}:\n{screen}"
    );
    assert!(screen.contains('█'), "no critical segment drawn:\n{screen}");
}

#[test]
fn traces_lists_opens_a_waterfall_survives_a_restart_and_exports_otlp_json() {
    let port = free_port();
    let mut demo = Demo::start_on(port, &["--no-push"], &[]);
    let id = block_trace(&demo);

    let out = std::process::Command::new(BIN)
        .args([
            "traces",
            &format!("127.0.0.1:{port}"),
            "--json",
            "--trace",
            &id,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data: TracesData = serde_json::from_slice(&out.stdout).expect("--json prints OTLP JSON");
    assert_eq!(data.resource_spans[0].scope_spans[0].spans.len(), 4);

    let view = run_in_tmux(&format!(
        "traces 127.0.0.1:{port} --operation chain.produce_block"
    ));
    view.wait_for("the list", WAIT, |s| {
        s.contains("chain.produce_block") && s.contains("traces from node")
    });
    view.keys(&["Enter"]);
    let screen = view.wait_for("the waterfall", WAIT, |s| {
        s.contains("◆ critical path") && s.contains("network.broadcast_block")
    });
    assert_waterfall(&screen);
    view.keys(&["Escape"]);
    view.keys(&["/", "e", "n", "g", "i", "n", "e", "Enter"]);
    view.wait_for("the search", WAIT, |s| {
        s.contains("search \"engine\"") && s.contains("chain.produce_block")
    });

    demo.stop("TERM", Duration::from_secs(15));
    view.wait_for("disconnected, retrying", WAIT, |s| {
        s.contains("disconnected, retrying")
    });
    let _back = Demo::start_on(port, &["--no-push"], &[]);
    view.wait_for("the list again", WAIT, |s| {
        !s.contains("disconnected") && s.contains("traces from node")
    });

    view.keys(&["q"]);
    let after = view.wait_for("traces to exit", WAIT, |s| {
        s.contains("EXIT=") && s.contains("icanon")
    });
    assert_restored(&after, "traces from node");
}

#[test]
fn traces_reads_the_real_jaeger_and_jaeger_takes_the_nodes_otlp_json() {
    let jaeger = Jaeger::start();
    let query = format!("http://127.0.0.1:{}", jaeger.query);
    let _pushing = Demo::start(
        &[
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{}", jaeger.otlp_grpc),
        ],
        &[],
    );
    let exported = wait_until(
        "block traces in Jaeger, read by `traces --jaeger --json`",
        WAIT,
        || {
            let out = std::process::Command::new(BIN)
                .args([
                    "traces",
                    "--jaeger",
                    &query,
                    "--json",
                    "--operation",
                    "chain.produce_block",
                    "--limit",
                    "5",
                ])
                .output()
                .ok()?;
            let data: TracesData = serde_json::from_slice(&out.stdout).ok()?;
            let spans: usize = data
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            (spans >= 4).then_some(data)
        },
    );
    assert!(
        exported
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .any(|s| s.name == "engine.execute_block")
    );

    let view = run_in_tmux(&format!(
        "traces --jaeger {query} --operation chain.produce_block"
    ));
    view.wait_for("Jaeger's list", WAIT, |s| {
        s.contains("traces from Jaeger") && s.contains("chain.produce_block")
    });
    view.keys(&["Enter"]);
    let screen = view.wait_for("a waterfall from Jaeger", WAIT, |s| {
        s.contains("◆ critical path") && s.contains("network.broadcast_block")
    });
    assert_waterfall(&screen);
    view.keys(&["q"]);
    assert_restored(
        &view.wait_for("traces to exit", WAIT, |s| {
            s.contains("EXIT=") && s.contains("icanon")
        }),
        "traces from Jaeger",
    );

    // An independent OTLP JSON reader: Jaeger's OTLP/HTTP receiver takes what /api/ serves.
    let quiet = Demo::start(&["--no-push"], &[]);
    let id = block_trace(&quiet);
    let (_, body, _) = http_get(&quiet.url(&format!("/api/traces/{id}"))).unwrap();
    let response = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/traces", jaeger.otlp_http))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().unwrap_or_default()
    );
    let stored = wait_until("the posted trace in Jaeger", WAIT, || {
        let (code, body, _) = http_get(&jaeger.url(&format!("/api/v3/traces/{id}"))).ok()?;
        (code == 200 && body.contains("network.broadcast_block")).then_some(body)
    });
    let value: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let data: TracesData = serde_json::from_value(value["result"].clone()).unwrap();
    let names: Vec<String> = data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}
