//! The first run without a collector: the demo says once where to look instead (its page,
//! `top`, `traces`) and does not repeat connection errors, while the failures are counted.
//! With RUST_LOG set the user asked for details, and the failures are logged.

use std::time::Duration;

use crate::support::node::Demo;
use crate::support::{free_port, wait_until};

/// Fast exports, so that failures pile up within seconds.
const FAST: [(&str, &str); 2] = [
    ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
    ("OTEL_BSP_SCHEDULE_DELAY", "100"),
];

fn nobody() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

fn wait_for_failures(demo: &Demo, at_least: f64) {
    wait_until("failed exports", Duration::from_secs(30), || {
        let failures = demo.metric_sum("alys_telemetry_export_failures_total", &[])?;
        (failures >= at_least).then_some(())
    });
}

/// Lines of the demo's output that report a failed export (not the hint).
fn error_lines(demo: &Demo) -> Vec<String> {
    let out = format!("{}\n{}", demo.proc.stdout(), demo.proc.stderr());
    out.lines()
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("export failed") || l.contains("connection refused")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn without_a_collector_the_demo_says_once_where_to_look_and_repeats_no_errors() {
    let mut demo = Demo::start(&["--otlp-endpoint", &nobody()], &FAST);
    wait_until("the hint", Duration::from_secs(20), || {
        demo.proc
            .stderr()
            .contains("no collector answers")
            .then_some(())
    });
    // Many failed exports later, still one hint and no error lines.
    wait_for_failures(&demo, 12.0);
    let stderr = demo.proc.stderr();
    assert_eq!(
        stderr.matches("no collector answers").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("http://{}/", demo.target())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("alys-telemetry top {}", demo.target())),
        "{stderr}"
    );
    assert!(
        stderr.contains("alys_telemetry_export_failures_total"),
        "{stderr}"
    );
    assert_eq!(error_lines(&demo), Vec::<String>::new());
    demo.stop("TERM", Duration::from_secs(15));
}

#[test]
fn with_rust_log_set_the_failures_are_logged() {
    let env = [FAST[0], FAST[1], ("RUST_LOG", "info")];
    let mut demo = Demo::start(&["--otlp-endpoint", &nobody()], &env);
    wait_for_failures(&demo, 3.0);
    wait_until("a logged export failure", Duration::from_secs(20), || {
        (!error_lines(&demo).is_empty()).then_some(())
    });
    demo.stop("TERM", Duration::from_secs(15));
}
