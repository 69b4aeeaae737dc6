//! The `alys-telemetry` command: the demo node and the project's tools.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use alys_node::demo::{self, DemoOptions};
use alys_node::governance_node::GovernanceServer;
use alys_node::terminal::access::NodeTls;
use alys_node::terminal::client::{Timeouts, VIEW_TIMEOUTS};
use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::{StopRequests, Telemetry, TelemetryGuard};
use clap::Parser;

/// The programs' allocator: at ratio 1.0 the node's spans cost about 40 % less with it than
/// with glibc's malloc (docs/performance.md, "The allocator"). A service on the library picks
/// its own; the library sets none.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
use cli::{
    CatalogFormat, Cli, Command, DemoArgs, GovernanceServerArgs, TelemetryFlags, TracesArgs,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Settings => write_stdout(&settings::markdown_table()),
        Command::Config => match load_config(&cli.telemetry, Layer::new(Origin::Default)) {
            Ok(config) => write_stdout(&format!("{config:#?}\n")),
            Err(code) => code,
        },
        Command::Catalog(args) => match args.format {
            CatalogFormat::Markdown => write_stdout(&alys_node::catalogue::markdown()),
            CatalogFormat::Json => write_stdout(&format!("{:#}\n", alys_node::catalogue::json())),
        },
        Command::Demo(args) => run_demo(&cli.telemetry, args),
        Command::GovernanceServer(args) => run_governance_server(&cli.telemetry, args),
        Command::Top { address, access } => {
            let base = match node_address(&cli.telemetry, address, access.tls.any()) {
                Ok(base) => base,
                Err(code) => return code,
            };
            let http = match access.http(&base, VIEW_TIMEOUTS) {
                Ok(http) => http,
                Err(e) => return fail(&format!("top: {e}"), 2),
            };
            match alys_node::terminal::top::run(&base, http) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("top: {e}"), 1),
            }
        }
        Command::Traces(args) => run_traces(&cli.telemetry, args),
        Command::Probe { address, path, tls } => match probe(&address, &path, &tls) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("probe {address}{path}: {e}"), 1),
        },
    }
}

fn load_config(flags: &TelemetryFlags, defaults: Layer) -> Result<TelemetryConfig, ExitCode> {
    let mut layers = vec![defaults];
    if let Some(path) = &flags.config {
        match Layer::from_file(path) {
            Ok(layer) => layers.push(layer),
            Err(e) => return Err(fail(&e.to_string(), 2)),
        }
    }
    layers.push(Layer::from_env());
    layers.push(flags.layer());
    TelemetryConfig::from_layers(&layers).map_err(|e| fail(&e.to_string(), 2))
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly instead of panicking.
fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write to stdout: {e}"), 1),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("alys-telemetry: error: {message}");
    ExitCode::from(code)
}

/// Loads the configuration over `defaults`, starts the pipeline on a multi-thread runtime,
/// runs `body`, and shuts the pipeline down whatever `body` returns. `body` says when the
/// process began to stop: the flush ends within the shutdown timeout of that moment.
fn with_pipeline(
    flags: &TelemetryFlags,
    defaults: Layer,
    body: impl AsyncFnOnce(&TelemetryGuard, &TelemetryConfig, StopRequests) -> (ExitCode, Instant),
) -> ExitCode {
    let config = match load_config(flags, defaults) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the Tokio runtime: {e}"), 1),
    };
    runtime.block_on(async {
        // Before anything starts: a stop during start-up still flushes what was made.
        let stop = match StopRequests::listen() {
            Ok(stop) => stop,
            Err(e) => return fail(&format!("cannot listen for SIGINT and SIGTERM: {e}"), 1),
        };
        let telemetry = match Telemetry::init(&config) {
            Ok(t) => t,
            Err(e) => return fail(&e.to_string(), e.exit_code() as u8),
        };
        let (code, began) = body(&telemetry, &config, stop).await;
        let report = telemetry.shutdown_since(began).await;
        if report.is_clean() {
            eprintln!("alys-telemetry: shut down in {} ms", report.elapsed.as_millis());
        } else {
            eprintln!(
                "alys-telemetry: shut down in {} ms with problems: traces {:?}, metrics {:?}, logs {:?}",
                report.elapsed.as_millis(),
                report.traces,
                report.metrics,
                report.logs
            );
        }
        code
    })
}

fn run_demo(flags: &TelemetryFlags, args: DemoArgs) -> ExitCode {
    // Everything the command line and the environment say is checked before anything
    // starts: a bad value is exit 2 naming it, not an error logged by a running node.
    let governance = match cli::demo_governance(&args) {
        Ok(g) => g,
        Err(message) => return fail(&message, 2),
    };
    // The demo exports metrics every 5 s so a new user sees data move; files, the
    // environment and flags still override it.
    let defaults = Layer::new(Origin::Default).set(settings::METRIC_EXPORT_INTERVAL, "5000");
    with_pipeline(flags, defaults, async move |telemetry, config, mut stop| {
        telemetry.mark_ready();
        let push = config.push.enabled && !config.sdk_disabled;
        let options = DemoOptions {
            // Only printed (the first-run hint): without its user information.
            collector: push.then(|| config.push.traces_endpoint.redacted().into_owned()),
            duration: args.duration,
            block_interval: args.block_interval,
            validators: args.validators,
            fault: args.fault.map(|f| (f, args.fault_duration)),
            governance,
        };
        match demo::run(telemetry, options, stop.recv()).await {
            Ok(began) => (ExitCode::SUCCESS, began),
            Err(e) => (fail(&e.to_string(), 1), Instant::now()),
        }
    })
}

fn run_governance_server(flags: &TelemetryFlags, args: GovernanceServerArgs) -> ExitCode {
    let server_config = match cli::server_config(&args) {
        Ok(c) => c,
        Err(message) => return fail(&message, 2),
    };
    let defaults = Layer::new(Origin::Default)
        .set(settings::SERVICE_NAME, "alys-governance")
        .set(settings::METRIC_EXPORT_INTERVAL, "5000");
    with_pipeline(flags, defaults, async move |telemetry, _, mut stop| {
        let server = match GovernanceServer::start(server_config, &telemetry.meter()).await {
            Ok(s) => s,
            Err(e) => return (fail(&e.to_string(), 2), Instant::now()),
        };
        telemetry.mark_ready();
        tracing::info!(endpoint = server.endpoint(), "governance node listening");
        let request = stop.recv().await;
        tracing::info!(%request, "governance node stopping");
        let began = Instant::now();
        telemetry.mark_stopping();
        // Its open streams get a quarter of the stop; the flush gets the rest.
        let bound = telemetry.shutdown_timeout() / 4;
        if tokio::time::timeout(bound, server.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the governance node's streams did not close in time");
        }
        (ExitCode::SUCCESS, began)
    })
}

/// The node the terminal views read: `address`, or the configuration's pull address (an
/// unspecified address such as 0.0.0.0 is reached on loopback), `https://` when `tls` (a TLS
/// flag is given).
fn node_address(
    flags: &TelemetryFlags,
    address: Option<String>,
    tls: bool,
) -> Result<String, ExitCode> {
    use alys_node::terminal::client::base_url;
    if let Some(address) = address {
        return Ok(base_url(&address));
    }
    let config = load_config(flags, Layer::new(Origin::Default))?;
    let mut listen = config.pull.listen;
    if listen.ip().is_unspecified() {
        listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if tls { "https://" } else { "" };
    Ok(base_url(&format!("{scheme}{listen}")))
}

fn run_traces(flags: &TelemetryFlags, args: TracesArgs) -> ExitCode {
    use alys_node::terminal::client::{Filter, Source, base_url};
    use alys_node::terminal::traces;
    let source = match &args.jaeger {
        Some(url) => Source::Jaeger {
            base: base_url(url),
            lookback: args.lookback,
        },
        None => match node_address(flags, args.address.clone(), args.access.tls.any()) {
            Ok(base) => Source::Node(base),
            Err(code) => return code,
        },
    };
    let base = match &source {
        Source::Node(base) | Source::Jaeger { base, .. } => base,
    };
    let http = match args.access.http(base, VIEW_TIMEOUTS) {
        Ok(http) => http,
        Err(e) => return fail(&format!("traces: {e}"), 2),
    };
    let filter = Filter {
        view: args.view.clone(),
        operation: args.operation.clone(),
        service: args.service.clone(),
        min_duration: args.min_duration,
        errors_only: args.errors,
        search: args.search.clone(),
        limit: usize::from(args.limit),
    };
    let result = if args.json {
        match traces::export_json(&source, &filter, args.trace.as_deref(), &http) {
            Ok(json) => return write_stdout(&json),
            Err(e) => Err(e),
        }
    } else {
        traces::run(source, filter, args.trace.clone(), http)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("traces: {e}"), 1),
    }
}

/// Whether `path` of the endpoint at `address` answers 200: over TLS (the client of `top`
/// and `traces`, without credentials: /health and /ready ask for none) for an `https://`
/// address; otherwise a minimal HTTP/1.0 GET, enough to ask our own endpoint.
fn probe(address: &str, path: &str, tls: &NodeTls) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let limit = Duration::from_secs(2);
    let address = address.trim().trim_end_matches('/');
    if address.starts_with("https://") || tls.any() {
        let timeouts = Timeouts {
            connect: limit,
            total: limit,
        };
        let http = tls.http(address, timeouts)?;
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        return http
            .get(&format!("{address}{path}"))
            .map(|_| ())
            .map_err(String::from);
    }
    let address = address.strip_prefix("http://").unwrap_or(address);
    let addr = address
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the address resolves to nothing")?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, limit).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    // A TLS endpoint answers plain HTTP with an alert and closes: the write or the read may
    // fail, or the answer is not HTTP.
    let not_http = |why: String| {
        format!(
            "{why} (if the endpoint serves TLS, a web config with tls_server_config, probe \
             https://HOST:PORT with --ca-file)"
        )
    };
    let closed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::UnexpectedEof => not_http(e.to_string()),
        _ => e.to_string(),
    };
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(closed)?;
    let mut head = [0u8; 64];
    let n = conn.read(&mut head).map_err(closed)?;
    let status = String::from_utf8_lossy(&head[..n]);
    if status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200") {
        Ok(())
    } else if n == 0 {
        Err(not_http("the connection closed without an answer".into()))
    } else if !status.starts_with("HTTP/") {
        Err(not_http("the answer is not HTTP".into()))
    } else {
        Err(status.lines().next().unwrap_or("no answer").to_string())
    }
}
