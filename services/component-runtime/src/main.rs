//! `component-runtime`: runs the runtime of components with its HTTP API and drives it with
//! its own load until SIGINT/SIGTERM or `--duration`; `component-runtime catalog` prints the
//! catalogue page.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::sources::actors::RestartPolicy;
use alys_telemetry::{Telemetry, TelemetryGuard};
use clap::{Args, Parser, Subcommand};
use component_runtime::runtime::RuntimeOptions;
use component_runtime::service::{self, Options};
use component_runtime::work::Faults;

#[derive(Parser)]
#[command(
    name = "component-runtime",
    version,
    about = "A runtime of supervised components on alys-telemetry, driving itself over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

#[derive(Subcommand)]
enum Command {
    /// Print the catalogue page (docs/services/component-runtime.md is its output).
    Catalog,
}

/// How the service runs.
#[derive(Args)]
struct RunArgs {
    /// Address of the HTTP API (POST /components/{id}/messages, GET /components).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9300")]
    api: SocketAddr,
    /// Stop by itself after this long (e.g. 30s); default: run until SIGINT or SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Messages per second the driver sends to the API; 0 turns the driver off.
    #[arg(long, default_value_t = 20.0, value_parser = parse_rate)]
    rate: f64,
    /// Chance, per message, that a component crashes (and is restarted).
    #[arg(long, default_value_t = 0.002, value_parser = parse_chance)]
    crash_rate: f64,
    /// Chance, per delivery, that the sink overruns its deadline.
    #[arg(long, default_value_t = 0.005, value_parser = parse_chance)]
    timeout_rate: f64,
    /// Chance, per restart, that the new instance fails to come up.
    #[arg(long, default_value_t = 0.1, value_parser = parse_chance)]
    instantiation_failure_rate: f64,
    /// Restarts the supervisor allows a component within --restart-window; one more
    /// failure and it gives up on the component.
    #[arg(long, default_value_t = 10)]
    max_restarts: u32,
    /// The window of --max-restarts (e.g. 30s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    restart_window: Duration,
    /// Messages each component's mailbox holds.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    mailbox_capacity: u32,
}

/// The telemetry settings a flag overrides (over the file and the environment).
#[derive(Args)]
struct TelemetryFlags {
    /// TOML configuration file of the telemetry pipeline.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Address of the pull endpoint (/metrics, /health, /ready, the trace viewer).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// service.name of the resource.
    #[arg(long)]
    service_name: Option<String>,
    /// OTLP endpoint for all signals.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// grpc or http/protobuf.
    #[arg(long)]
    otlp_protocol: Option<String>,
    /// Do not push OTLP.
    #[arg(long)]
    no_push: bool,
    /// Trace sampler, as OTEL_TRACES_SAMPLER names it.
    #[arg(long)]
    sampler: Option<String>,
    /// Ratio for the traceidratio samplers, 0..1.
    #[arg(long)]
    sampler_ratio: Option<String>,
    /// text or json.
    #[arg(long)]
    log_format: Option<String>,
    /// Bound on the whole stop, in milliseconds.
    #[arg(long, value_name = "MS")]
    shutdown_timeout_ms: Option<String>,
}

impl TelemetryFlags {
    fn layer(&self) -> Layer {
        let mut layer = Layer::new(Origin::Flag);
        for (setting, value) in [
            (settings::LISTEN, &self.listen),
            (settings::SERVICE_NAME, &self.service_name),
            (settings::ENDPOINT, &self.otlp_endpoint),
            (settings::PROTOCOL, &self.otlp_protocol),
            (settings::SAMPLER, &self.sampler),
            (settings::SAMPLER_ARG, &self.sampler_ratio),
            (settings::LOG_FORMAT, &self.log_format),
            (settings::SHUTDOWN_TIMEOUT, &self.shutdown_timeout_ms),
        ] {
            if let Some(value) = value {
                layer = layer.set(setting, value.clone());
            }
        }
        if self.no_push {
            layer = layer.set(settings::PUSH_ENABLED, "false");
        }
        layer
    }

    /// Defaults < file < environment < flags. The service's defaults: its name, a pull port
    /// of its own (the node has 9001), and metrics pushed every 5 s so that they move.
    fn config(&self) -> Result<TelemetryConfig, String> {
        let defaults = Layer::new(Origin::Default)
            .set(settings::SERVICE_NAME, "component-runtime")
            .set(settings::LISTEN, "127.0.0.1:9301")
            .set(settings::METRIC_EXPORT_INTERVAL, "5000");
        let mut layers = vec![defaults];
        if let Some(path) = &self.config {
            layers.push(Layer::from_file(path).map_err(|e| e.to_string())?);
        }
        layers.push(Layer::from_env());
        layers.push(self.layer());
        TelemetryConfig::from_layers(&layers).map_err(|e| e.to_string())
    }
}

fn parse_chance(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a chance from 0 to 1")),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=10_000.0).contains(&r) => Ok(r),
        _ => Err(format!("{text:?} is not a rate from 0 to 10000 per second")),
    }
}

impl RunArgs {
    fn options(&self) -> Options {
        Options {
            api: self.api,
            duration: self.duration,
            rate: self.rate,
            runtime: RuntimeOptions {
                mailbox_capacity: self.mailbox_capacity as usize,
                faults: Faults {
                    crash_rate: self.crash_rate,
                    timeout_rate: self.timeout_rate,
                    instantiation_failure_rate: self.instantiation_failure_rate,
                },
                policy: RestartPolicy {
                    max_restarts: self.max_restarts,
                    within: self.restart_window,
                    ..RuntimeOptions::default().policy
                },
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Catalog) => write_stdout(&component_runtime::catalog::page()),
        None => run(&cli.telemetry, &cli.run),
    }
}

/// Starts the pipeline, runs the service until a stop, and shuts the pipeline down.
fn run(flags: &TelemetryFlags, args: &RunArgs) -> ExitCode {
    let config = match flags.config() {
        Ok(c) => c,
        Err(message) => return fail(&message, 2),
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
        let (code, began) = match service::run(
            &telemetry,
            args.options(),
            alys_telemetry::stop_requested(),
        )
        .await
        {
            Ok(began) => (ExitCode::SUCCESS, began),
            Err(e) => (fail(&e.to_string(), 2), Instant::now()),
        };
        shut_down(telemetry, began).await;
        code
    })
}

async fn shut_down(telemetry: TelemetryGuard, began: Instant) {
    let report = telemetry.shutdown_since(began).await;
    if report.is_clean() {
        eprintln!(
            "component-runtime: shut down in {} ms",
            report.elapsed.as_millis()
        );
    } else {
        eprintln!(
            "component-runtime: shut down in {} ms with problems: traces {:?}, metrics {:?}, logs {:?}",
            report.elapsed.as_millis(),
            report.traces,
            report.metrics,
            report.logs
        );
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write to stdout: {e}"), 1),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("component-runtime: error: {message}");
    ExitCode::from(code)
}
