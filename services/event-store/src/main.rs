//! `event-store`: starts the telemetry pipeline, the store and its API, and drives it with a
//! simulated client until SIGINT, SIGTERM or the end of `--duration`.
//! `event-store catalog` prints the metric catalogue page (docs/services/event-store.md).

mod driver;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use alys_telemetry::{Telemetry, TelemetryConfig};
use clap::{Parser, Subcommand};
use event_store::{StoreConfig, catalog};
use tokio::sync::watch;

/// An in-memory event store (a simulation of AllSource) on alys-telemetry. The telemetry
/// pipeline is configured as any on the library: OTEL_* and ALYS_TELEMETRY_* variables
/// (ALYS_TELEMETRY_LISTEN for /metrics, OTEL_EXPORTER_OTLP_ENDPOINT for the push).
#[derive(Debug, Parser)]
#[command(name = "event-store")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address of the store's API.
    #[arg(long, default_value = "127.0.0.1:3900")]
    listen: SocketAddr,
    /// Stop after this long (e.g. `30s`, `5m`); without it, run until SIGINT or SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Time between two rounds of the simulated client.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    driver_interval: Duration,
    /// Run no simulated client: the API only serves what others send.
    #[arg(long)]
    no_driver: bool,
    /// Most events the store holds; beyond it ingest is refused (507).
    #[arg(long, default_value_t = 1_000_000)]
    max_events: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the metric catalogue page (markdown).
    Catalog,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Catalog) = cli.command {
        print!("{}", catalog::page());
        return ExitCode::SUCCESS;
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => {
            eprintln!("event-store: cannot start the runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let mut config = match TelemetryConfig::load(None) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("event-store: {error}");
            return ExitCode::from(2);
        }
    };
    // The library's default names the node; this is another service.
    config
        .service_name
        .get_or_insert_with(|| "event-store".to_string());
    let telemetry = match Telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("event-store: {error}");
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1));
        }
    };
    let store_config = StoreConfig {
        max_events: cli.max_events,
        ..StoreConfig::default()
    };
    let running = match event_store::start(cli.listen, store_config, &telemetry.meter()).await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "the event store cannot start");
            telemetry.shutdown().await;
            return ExitCode::from(2);
        }
    };
    telemetry.mark_ready();
    let (stop_driver, driver_stop) = watch::channel(false);
    let driver = (!cli.no_driver)
        .then(|| tokio::spawn(driver::run(running.addr, cli.driver_interval, driver_stop)));

    let reason = stopped(cli.duration).await;
    tracing::info!(reason, "event store stopping");
    telemetry.mark_stopping();
    let _ = stop_driver.send(true);
    if let Some(driver) = driver {
        let _ = driver.await;
    }
    let mut code = ExitCode::SUCCESS;
    if let Err(error) = running.stop().await {
        tracing::error!(%error, "the event store did not stop cleanly");
        code = ExitCode::FAILURE;
    }
    let report = telemetry.shutdown().await;
    if !report.is_clean() {
        code = ExitCode::FAILURE;
    }
    code
}

/// Waits for SIGINT, SIGTERM or the end of `duration`; says which.
async fn stopped(duration: Option<Duration>) -> &'static str {
    let end = async {
        match duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        request = alys_telemetry::stop_requested() => request.name(),
        () = end => "the end of --duration",
    }
}
