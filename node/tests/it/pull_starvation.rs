//! Slow clients cannot starve the pull endpoint: the demo runs with a low open-files limit,
//! hundreds of connections that never finish a request are opened against it (and keep
//! coming), and a scraper is still answered promptly, with the governance stream connected.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::node::Demo;
use crate::support::{http_get, wait_until};

/// The demo's open-files limit: far below the connections thrown at it.
const NOFILE: &str = "--nofile=256:256";
const STALLED: usize = 400;

/// Opens a connection that sends a partial head (every third) or nothing, and keeps it.
/// Bounded: a listener whose backlog is full makes a plain connect wait for minutes.
fn stall(target: &SocketAddr, n: usize) -> Option<TcpStream> {
    let mut conn = TcpStream::connect_timeout(target, Duration::from_millis(500)).ok()?;
    if n.is_multiple_of(3) {
        let _ = conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
    }
    Some(conn)
}

#[test]
fn hundreds_of_stalled_connections_do_not_stop_a_scraper() {
    let demo = Demo::start_under(
        &["prlimit", NOFILE, "--"],
        &["--no-push", "--block-interval", "200ms"],
        &[],
    );
    let target: SocketAddr = demo.target().parse().unwrap();
    let mut held: Vec<TcpStream> = (0..STALLED).filter_map(|n| stall(&target, n)).collect();

    // More keep coming while the scraper works.
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut more = Vec::new();
            let mut n = 0;
            while flooding.load(Ordering::Relaxed) {
                more.extend(stall(&target, n));
                n += 1;
                if more.len() > 300 {
                    more.drain(..100);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for _ in 0..20 {
        let started = Instant::now();
        let answer = http_get(&demo.url("/metrics"));
        let took = started.elapsed();
        let (code, body, _) = answer.unwrap_or_else(|e| panic!("the scraper got no answer: {e}"));
        assert_eq!(code, 200, "{body}");
        assert!(took < Duration::from_secs(2), "a scrape took {took:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The governance stream (whose reconnects need descriptors too) stays connected.
    wait_until(
        "the governance stream connected",
        Duration::from_secs(15),
        || (demo.metric_sum("alys_governance_connection_status", &[]) == Some(1.0)).then_some(()),
    );
    let e = demo.exposition();
    let open = e.sum("alys_telemetry_pull_connections", &[]).unwrap();
    assert!(open <= 64.0, "{open} connections open past the cap");
    let evicted = e
        .sum(
            "alys_telemetry_pull_connections_closed_total",
            &[("reason", "evicted")],
        )
        .unwrap();
    assert!(evicted >= (STALLED - 64) as f64, "evicted {evicted}");
    flooding.store(false, Ordering::Relaxed);
    flood.join().unwrap();
    held.clear();
}
