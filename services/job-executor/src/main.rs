//! `job-executor`: the executor with its HTTP API, its driver, and the telemetry pipeline
//! (`/metrics`, `/health`, `/ready` and the trace viewer on the pull endpoint; OTLP push).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::exits::pull;
use alys_telemetry::health::CheckResult;
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::tasks::TaskMonitor;
use alys_telemetry::{Telemetry, TelemetryGuard, stop_requested};
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use job_executor::actions::Simulation;
use job_executor::driver::{self, DriverConfig};
use job_executor::metrics::TaskKind;
use job_executor::{Executor, ExecutorConfig, api};

/// An event-processing job executor: events in over HTTP, matched to actions, through a
/// bounded queue to workers, retried with backoff, dead-lettered, cached and checkpointed.
/// Telemetry settings also come from the environment (OTEL_*, ALYS_TELEMETRY_*).
#[derive(Debug, Parser)]
#[command(name = "job-executor", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address of the HTTP API (POST /events, GET /jobs/{id}, GET /deadletters, ...).
    #[arg(long, default_value = "127.0.0.1:9400", value_name = "ADDR")]
    listen: SocketAddr,
    /// Address of the pull endpoint: /metrics, /health, /ready, the trace viewer
    /// [default: 127.0.0.1:9401, or ALYS_TELEMETRY_LISTEN].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Do not push OTLP (the pull endpoint still serves).
    #[arg(long)]
    no_push: bool,
    /// TOML file of telemetry settings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Workers taking jobs off the queue.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Jobs the queue holds; beyond it, events wait briefly, then get 503.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    queue_capacity: u32,
    /// Retries after a job's first attempt before it is dead-lettered.
    #[arg(long, default_value_t = 3)]
    max_retries: u32,
    /// Wait before the first retry; it doubles up to --retry-backoff-max.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    retry_backoff: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    retry_backoff_max: Duration,
    /// An action still running after this is stopped and counted as timed out.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    action_timeout: Duration,
    /// How long an action's result is reused for the same input.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    cache_ttl: Duration,
    /// Checkpoint file [default: job-executor/checkpoint.json in the temp dir].
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Keep no checkpoint: nothing survives a restart.
    #[arg(long, conflicts_with = "checkpoint")]
    no_checkpoint: bool,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    checkpoint_interval: Duration,
    /// Multiplies every simulated action's latency.
    #[arg(long, default_value_t = 1.0)]
    latency_scale: f64,
    /// Do not send the service's own traffic.
    #[arg(long)]
    no_driver: bool,
    /// Between two of the driver's events.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    driver_interval: Duration,
    /// Stop after this long (default: at SIGINT or SIGTERM).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the metric catalogue page (docs/services/job-executor.md) and exit.
    Catalog,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Catalog) = cli.command {
        print!("{}", job_executor::catalog::page());
        return ExitCode::SUCCESS;
    }
    let config = match telemetry_config(&cli) {
        Ok(config) => config,
        Err(message) => return fail(&message, 2),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the Tokio runtime: {e}"), 1),
    };
    runtime.block_on(async {
        let telemetry = match Telemetry::init(&config) {
            Ok(telemetry) => telemetry,
            Err(e) => return fail(&e.to_string(), e.exit_code() as u8),
        };
        let (code, began) = run(&cli, &telemetry).await;
        let report = telemetry.shutdown_since(began).await;
        if !report.is_clean() {
            eprintln!(
                "job-executor: telemetry shut down with problems: traces {:?}, metrics {:?}, logs {:?}",
                report.traces, report.metrics, report.logs
            );
        }
        code
    })
}

/// The telemetry settings: the service's defaults, the file, the environment, the flags.
fn telemetry_config(cli: &Cli) -> Result<TelemetryConfig, String> {
    let mut layers = vec![
        Layer::new(Origin::Default)
            .set(settings::SERVICE_NAME, "job-executor")
            .set(settings::LISTEN, "127.0.0.1:9401")
            .set(settings::METRIC_EXPORT_INTERVAL, "5000"),
    ];
    if let Some(path) = &cli.config {
        layers.push(Layer::from_file(path).map_err(|e| e.to_string())?);
    }
    layers.push(Layer::from_env());
    let mut flags = Layer::new(Origin::Flag);
    if let Some(listen) = &cli.metrics_listen {
        flags = flags.set(settings::LISTEN, listen.clone());
    }
    if cli.no_push {
        flags = flags.set(settings::PUSH_ENABLED, "false");
    }
    layers.push(flags);
    TelemetryConfig::from_layers(&layers).map_err(|e| e.to_string())
}

fn executor_config(cli: &Cli) -> ExecutorConfig {
    let checkpoint = (!cli.no_checkpoint).then(|| {
        cli.checkpoint
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("job-executor/checkpoint.json"))
    });
    ExecutorConfig {
        workers: cli.workers,
        queue_capacity: cli.queue_capacity as usize,
        max_retries: cli.max_retries,
        backoff: Backoff::new(cli.retry_backoff, cli.retry_backoff_max).with_jitter(0.2),
        action_timeout: cli.action_timeout,
        cache_ttl: cli.cache_ttl,
        checkpoint_path: checkpoint,
        checkpoint_interval: cli.checkpoint_interval,
        simulation: Simulation {
            latency_scale: cli.latency_scale,
            random_faults: true,
        },
        ..ExecutorConfig::default()
    }
}

/// Runs until a stop signal or the duration; returns the exit code and when stopping began.
async fn run(cli: &Cli, telemetry: &TelemetryGuard) -> (ExitCode, Instant) {
    let meter = telemetry.meter();
    let tasks = TaskMonitor::<TaskKind>::new(&meter);
    let config = executor_config(cli);
    let grace = config.action_timeout + Duration::from_millis(500);
    let executor = Executor::new(config.clone(), &meter, tasks.clone());
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            return (
                fail(&format!("cannot listen on {}: {e}", cli.listen), 2),
                Instant::now(),
            );
        }
    };
    let api_addr = listener.local_addr().unwrap_or(cli.listen);
    let recovered = executor.recover();
    executor.start();
    register_health(telemetry, &executor);

    let (stop, stopped) = watch::channel(false);
    let when_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let server = tasks.spawn(
        TaskKind::Server,
        pull::serve(
            listener,
            api::router(executor.clone(), &meter),
            when_stopped(),
        ),
    );
    telemetry.mark_ready();
    let pull = telemetry
        .local_addr()
        .map_or("off".to_string(), |a| format!("http://{a}/metrics"));
    eprintln!(
        "job-executor: API on http://{api_addr}, metrics on {pull}, checkpoint {} ({})",
        config
            .checkpoint_path
            .as_ref()
            .map_or("off".to_string(), |p| p.display().to_string()),
        recovered.as_str()
    );
    let driver = (!cli.no_driver).then(|| {
        let config = DriverConfig {
            interval: cli.driver_interval,
            ..DriverConfig::new(format!("http://{}", loopback(api_addr)))
        };
        tasks.spawn(TaskKind::Driver, driver::run(config, when_stopped()))
    });

    match cli.duration {
        Some(duration) => tokio::select! {
            request = stop_requested() => tracing::info!(%request, "job executor stopping"),
            () = tokio::time::sleep(duration) => tracing::info!("job executor reached the end of --duration"),
        },
        None => {
            let request = stop_requested().await;
            tracing::info!(%request, "job executor stopping");
        }
    }
    let began = Instant::now();
    telemetry.mark_stopping();
    stop.send_replace(true);
    if let Some(driver) = driver {
        let _ = driver.await;
    }
    let _ = tokio::time::timeout(grace, server).await;
    executor.shutdown(grace).await;
    (ExitCode::SUCCESS, began)
}

/// `/health` reports the queue: degraded when it is nearly full.
fn register_health(telemetry: &TelemetryGuard, executor: &Executor) {
    let executor = executor.clone();
    telemetry
        .health()
        .register("job_queue", Duration::from_secs(1), move || {
            let (depth, capacity) = executor.queue_fill();
            async move {
                let detail = format!("{depth} of {capacity} queued");
                if depth * 10 >= capacity * 9 {
                    CheckResult::degraded(detail)
                } else {
                    CheckResult::healthy(detail)
                }
            }
        });
}

/// `addr`, reached on loopback when it is unspecified (0.0.0.0).
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("job-executor: error: {message}");
    ExitCode::from(code)
}
