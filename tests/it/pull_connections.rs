//! The pull endpoint's connection limits over real sockets: a client that sends no head is
//! closed after the header-read timeout, a kept-alive connection nobody uses after the idle
//! timeout, and past the cap a new connection replaces the oldest one without a request in
//! progress, so a scraper is answered however many stalled connections are open.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alys_telemetry::exits::connections::{self, ConnectionLimits, ConnectionStats};
use alys_telemetry::exits::pull;
use alys_telemetry::sources::catalog::pipeline::PullCloseReason;
use alys_test_support::{http_get, wait_until};

struct Endpoint {
    addr: SocketAddr,
    stats: Arc<ConnectionStats>,
    _runtime: tokio::runtime::Runtime,
}

fn start(limits: ConnectionLimits) -> Endpoint {
    let (runtime, listener, addr) = crate::server::runtime_and_listener();
    let state = crate::server::empty_state();
    let stats = ConnectionStats::new();
    let serve = connections::serve(
        listener,
        pull::router(state),
        limits,
        stats.clone(),
        std::future::pending(),
    );
    runtime.spawn(serve);
    Endpoint {
        addr,
        stats,
        _runtime: runtime,
    }
}

/// How long until the server closes `conn` (a read returns end of file or a reset).
fn closed_after(mut conn: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    conn.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() < limit => return started.elapsed(),
            Ok(_) => continue,
            _ => panic!("still open after {limit:?}"),
        }
    }
}

#[test]
fn a_client_without_a_head_is_closed_after_the_header_read_timeout() {
    let e = start(ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(30),
        max_connections: 8,
    });
    let silent = TcpStream::connect(e.addr).unwrap();
    let took = closed_after(silent, Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // A head trickled byte by byte counts from the accept too.
    let mut trickle = TcpStream::connect(e.addr).unwrap();
    let started = Instant::now();
    for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" {
        if trickle.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed() + closed_after(trickle, Duration::from_secs(5));
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The client may see the close before the server's task has counted it.
    wait_until("both counted", Duration::from_secs(5), || {
        (e.stats.closed(PullCloseReason::HeaderTimeout) == 2 && e.stats.open() == 0).then_some(())
    });
}

#[test]
fn a_kept_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let e = start(ConnectionLimits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(1_000),
        max_connections: 8,
    });
    let mut conn = TcpStream::connect(e.addr).unwrap();
    conn.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503"));
    // Between requests the head clock does not run: closed by the idle timeout.
    let took = closed_after(conn, Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "{took:?}"
    );
    wait_until("the close counted", Duration::from_secs(5), || {
        (e.stats.closed(PullCloseReason::IdleTimeout) == 1).then_some(())
    });
    assert_eq!(e.stats.closed(PullCloseReason::HeaderTimeout), 0);
}

#[test]
fn past_the_cap_a_scraper_replaces_the_oldest_stalled_connection() {
    let e = start(ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 4,
    });
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(e.addr).unwrap())
        .collect();
    wait_until(
        "the endpoint to hold its cap",
        Duration::from_secs(5),
        || (e.stats.open() == 4 && e.stats.closed(PullCloseReason::Evicted) == 46).then_some(()),
    );
    for _ in 0..10 {
        let started = Instant::now();
        let (code, _, _) = http_get(&format!("http://{}/metrics", e.addr)).unwrap();
        assert_eq!(code, 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert!(e.stats.open() <= 4);
    // The oldest stalled connections were the ones closed.
    let first = stalled.into_iter().next().unwrap();
    closed_after(first, Duration::from_secs(2));
}

#[test]
fn the_open_connections_gauge_never_reads_past_the_cap_while_connections_are_evicted() {
    let e = start(ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 4,
    });
    // Watch the gauge as closely as a thread can while a crowd replaces itself: an evicted
    // connection must be counted out when it leaves the registry, not when its aborted task
    // is next polled.
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (stats, watching) = (e.stats.clone(), watching.clone());
        std::thread::spawn(move || {
            let mut highest = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                highest = highest.max(stats.open());
            }
            highest
        })
    };
    let crowd: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(e.addr).unwrap())
        .collect();
    wait_until("every connection accepted", Duration::from_secs(10), || {
        (e.stats.closed(PullCloseReason::Evicted) == 396).then_some(())
    });
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let highest = watcher.join().unwrap();
    assert!(
        highest <= 4,
        "the gauge read {highest} open with a cap of 4"
    );
    drop(crowd);
}
