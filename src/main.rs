//! The `alys-telemetry` command: the demo node and the project's tools.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::demo::{self, DemoOptions, Fault};
use alys_telemetry::governance::server::{GovernanceServer, ServerConfig};
use alys_telemetry::governance::{TlsFiles, Token};
use alys_telemetry::{Telemetry, TelemetryGuard, catalog};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alys-telemetry",
    version,
    about = "OpenTelemetry pipeline for the Alys V2 node"
)]
struct Cli {
    #[command(flatten)]
    telemetry: TelemetryFlags,
    #[command(subcommand)]
    command: Command,
}

/// Flags that override the file and the environment (see `alys-telemetry settings`).
#[derive(Args)]
struct TelemetryFlags {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// service.name of the resource.
    #[arg(long, global = true)]
    service_name: Option<String>,
    /// deployment.environment.name of the resource.
    #[arg(long, global = true)]
    environment: Option<String>,
    /// Address of the pull endpoint (/metrics, /health, /ready).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// Do not serve the pull endpoint.
    #[arg(long, global = true)]
    no_pull: bool,
    /// Do not push OTLP.
    #[arg(long, global = true)]
    no_push: bool,
    /// OTLP endpoint for all signals.
    #[arg(long, global = true, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// grpc or http/protobuf.
    #[arg(long, global = true)]
    otlp_protocol: Option<String>,
    /// Trace sampler, as OTEL_TRACES_SAMPLER names it.
    #[arg(long, global = true)]
    sampler: Option<String>,
    /// Ratio for the traceidratio samplers, 0..1.
    #[arg(long, global = true)]
    sampler_ratio: Option<String>,
    /// text or json.
    #[arg(long, global = true)]
    log_format: Option<String>,
    /// Bound on the flush at shutdown, in milliseconds.
    #[arg(long, global = true, value_name = "MS")]
    shutdown_timeout_ms: Option<String>,
}

impl TelemetryFlags {
    fn layer(&self) -> Layer {
        let mut layer = Layer::new(Origin::Flag);
        let texts = [
            (settings::SERVICE_NAME, &self.service_name),
            (settings::ENVIRONMENT, &self.environment),
            (settings::LISTEN, &self.listen),
            (settings::ENDPOINT, &self.otlp_endpoint),
            (settings::PROTOCOL, &self.otlp_protocol),
            (settings::SAMPLER, &self.sampler),
            (settings::SAMPLER_ARG, &self.sampler_ratio),
            (settings::LOG_FORMAT, &self.log_format),
            (settings::SHUTDOWN_TIMEOUT, &self.shutdown_timeout_ms),
        ];
        for (setting, value) in texts {
            if let Some(v) = value {
                layer = layer.set(setting, v.clone());
            }
        }
        if self.no_pull {
            layer = layer.set(settings::PULL_ENABLED, "false");
        }
        if self.no_push {
            layer = layer.set(settings::PUSH_ENABLED, "false");
        }
        layer
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the simulated Alys node with the full pipeline.
    Demo(DemoArgs),
    /// Print every setting (file key, environment variable, flag, default) as Markdown.
    Settings,
    /// Print the effective configuration (file < environment < flags); header values hidden.
    Config,
    /// Print the metric catalogue (docs/metrics.md is `--format markdown`).
    Catalog(CatalogArgs),
    /// Run a governance node: answers signature requests, pushes federation updates.
    GovernanceServer(GovernanceServerArgs),
    /// Exit 0 when an endpoint answers 200 (container health checks; images carry no curl).
    Probe {
        /// host:port of a pull endpoint.
        address: String,
        /// The path to ask.
        #[arg(default_value = "/ready")]
        path: String,
    },
}

#[derive(Args)]
struct GovernanceServerArgs {
    /// Address of the gRPC stream endpoint.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
    grpc_listen: std::net::SocketAddr,
    /// Time to answer a signature request.
    #[arg(long, value_parser = parse_duration, default_value = "50ms")]
    latency: Duration,
    /// Share of signature requests refused, 0..1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Interval between federation updates.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    federation_interval: Duration,
    /// Drop every stream at this interval (to exercise reconnection).
    #[arg(long, value_parser = parse_duration)]
    drop_every: Option<Duration>,
    #[command(flatten)]
    security: GovernanceSecurity,
}

/// How the governance stream is secured. The token is read from the environment
/// (ALYS_GOVERNANCE_TOKEN), never from a flag, so it does not show in process listings.
#[derive(Args)]
struct GovernanceSecurity {
    /// PEM CA certificate (server: requires client certificates; client: trusts the server).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// PEM certificate.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

impl GovernanceSecurity {
    fn tls(&self) -> Option<TlsFiles> {
        (self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some()).then(|| {
            TlsFiles {
                ca: self.tls_ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            }
        })
    }

    fn token() -> Option<Token> {
        std::env::var("ALYS_GOVERNANCE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(Token::new)
    }
}

#[derive(Args)]
struct CatalogArgs {
    #[arg(long, value_enum, default_value = "markdown")]
    format: CatalogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CatalogFormat {
    Markdown,
    Json,
}

#[derive(Args)]
struct DemoArgs {
    /// Stop after this long (for example 30s, 5m); runs until SIGINT/SIGTERM otherwise.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Time between produced blocks.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    block_interval: Duration,
    /// Number of validators taking turns.
    #[arg(long, default_value_t = 3)]
    validators: usize,
    /// Inject a fault from the start, so the matching alert fires.
    #[arg(long, value_enum)]
    fault: Option<Fault>,
    /// How long the fault lasts (then the alert resolves); default: until stopped.
    #[arg(long, value_parser = parse_duration, requires = "fault")]
    fault_duration: Option<Duration>,
    /// An external governance node to stream to; default: an embedded one.
    #[arg(long, value_name = "URL")]
    governance_endpoint: Option<String>,
    #[command(flatten)]
    governance: GovernanceSecurity,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 30s or 5m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("`{text}`: the unit must be ms, s, m or h")),
    };
    if d.is_zero() {
        return Err(format!("`{text}` must be greater than zero"));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Settings => write_stdout(&settings::markdown_table()),
        Command::Config => match load_config(&cli.telemetry, Layer::new(Origin::Default)) {
            Ok(config) => write_stdout(&format!("{config:#?}\n")),
            Err(code) => code,
        },
        Command::Catalog(args) => match args.format {
            CatalogFormat::Markdown => write_stdout(&catalog::docs::markdown()),
            CatalogFormat::Json => write_stdout(&format!("{:#}\n", catalog::docs::json())),
        },
        Command::Demo(args) => run_demo(&cli.telemetry, args),
        Command::GovernanceServer(args) => run_governance_server(&cli.telemetry, args),
        Command::Probe { address, path } => match probe(&address, &path) {
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
/// runs `body`, and shuts the pipeline down (bounded) whatever `body` returns.
fn with_pipeline(
    flags: &TelemetryFlags,
    defaults: Layer,
    body: impl AsyncFnOnce(&TelemetryGuard) -> ExitCode,
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
        let telemetry = match Telemetry::init(&config) {
            Ok(t) => t,
            Err(e) => return fail(&e.to_string(), e.exit_code() as u8),
        };
        let code = body(&telemetry).await;
        let report = telemetry.shutdown().await;
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
    // The demo exports metrics every 5 s so a new user sees data move; files, the
    // environment and flags still override it.
    let defaults = Layer::new(Origin::Default).set(settings::METRIC_EXPORT_INTERVAL, "5000");
    with_pipeline(flags, defaults, async move |telemetry| {
        telemetry.mark_ready();
        let options = DemoOptions {
            duration: args.duration,
            block_interval: args.block_interval,
            validators: args.validators,
            fault: args.fault.map(|f| (f, args.fault_duration)),
            governance: demo::Governance {
                endpoint: args.governance_endpoint.clone(),
                token: GovernanceSecurity::token(),
                tls: args.governance.tls(),
            },
        };
        demo::run(telemetry, options, stop_signal()).await;
        ExitCode::SUCCESS
    })
}

fn run_governance_server(flags: &TelemetryFlags, args: GovernanceServerArgs) -> ExitCode {
    let defaults = Layer::new(Origin::Default)
        .set(settings::SERVICE_NAME, "alys-governance")
        .set(settings::METRIC_EXPORT_INTERVAL, "5000");
    with_pipeline(flags, defaults, async move |telemetry| {
        let server_config = ServerConfig {
            listen: args.grpc_listen,
            token: GovernanceSecurity::token(),
            tls: args.security.tls(),
            latency: args.latency,
            error_rate: args.error_rate,
            federation_interval: Some(args.federation_interval),
            drop_every: args.drop_every,
        };
        let server = match GovernanceServer::start(server_config, &telemetry.meter()).await {
            Ok(s) => s,
            Err(e) => return fail(&e, 2),
        };
        telemetry.mark_ready();
        tracing::info!(endpoint = server.endpoint(), "governance node listening");
        stop_signal().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// A minimal HTTP/1.0 GET, enough to ask our own endpoint whether it is ready.
fn probe(address: &str, path: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let limit = Duration::from_secs(2);
    let addr = address
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the address resolves to nothing")?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, limit).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = conn.read(&mut head).map_err(|e| e.to_string())?;
    let status = String::from_utf8_lossy(&head[..n]);
    if status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(status.lines().next().unwrap_or("no answer").to_string())
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
