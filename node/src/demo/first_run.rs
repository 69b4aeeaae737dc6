//! The first run: with no collector to push to, the demo says once where the node shows
//! itself instead (its pages, `top`, `traces`), rather than logging a connection error per
//! signal every 30 seconds. Once an export succeeds, failures are logged as usual again; with
//! `RUST_LOG` set, the user asked for details, and they are logged throughout.

use std::net::SocketAddr;
use std::time::Duration;

use alys_telemetry::pipeline::TelemetryGuard;
use alys_telemetry::sources::catalog::pipeline::Signal;

/// What the hint says, for `pull` (the pull endpoint's address, if it runs) and `collector`.
pub fn hint(collector: &str, pull: Option<SocketAddr>) -> String {
    let mut text = format!(
        "alys-telemetry: no collector answers at {collector}; nothing is pushed, and the node keeps working.\n"
    );
    match pull {
        Some(addr) => {
            let addr = reachable(addr);
            text.push_str(&format!(
                "  See it without one:\n\
                 \x20   traces and health in a browser   http://{addr}/\n\
                 \x20   in this terminal                 alys-telemetry top {addr}\n\
                 \x20   traces as waterfalls             alys-telemetry traces {addr}\n"
            ));
        }
        None => text.push_str(
            "  Turn the pull endpoint on (it is off: --no-pull) to see it without one.\n",
        ),
    }
    text.push_str(
        "  Failures are counted in alys_telemetry_export_failures_total; start a collector, or pass --no-push.\n",
    );
    text
}

/// An unspecified listen address (0.0.0.0) is reached on loopback.
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

/// Watches the exports: prints the hint once if they fail before any succeeded, and hands
/// failure logging back to the pipeline after the first success.
pub async fn watch(telemetry: &TelemetryGuard, collector: String) {
    let stats = telemetry.export_stats().clone();
    let asked_for_logs = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    stats.set_log_failures(asked_for_logs);
    let pull = telemetry.local_addr();
    let mut hinted = false;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticker.tick().await;
        let signals = Signal::ALL.iter().map(|&s| stats.signal(s));
        let (succeeded, failed) = signals.fold((false, false), |(ok, failed), s| {
            (ok || s.last_success().is_some(), failed || s.failures() > 0)
        });
        if succeeded {
            stats.set_log_failures(true);
            return;
        }
        if failed && !hinted {
            hinted = true;
            eprint!("{}", hint(&collector, pull));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_the_page_and_the_terminal_views() {
        let text = hint(
            "http://localhost:4317",
            Some("0.0.0.0:9001".parse().unwrap()),
        );
        assert!(text.contains("http://localhost:4317"));
        assert!(text.contains("http://127.0.0.1:9001/"));
        assert!(text.contains("alys-telemetry top 127.0.0.1:9001"));
        assert!(hint("x", None).contains("--no-pull"));
    }
}
