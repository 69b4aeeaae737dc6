//! The command line: subcommands and the flags that override the file and the environment.

use std::path::PathBuf;
use std::time::Duration;

use alys_node::demo::{Fault, Governance};
use alys_node::governance_node::{ServerConfig, ServerError};
use alys_node::terminal::access::{NodeAccess, NodeTls};
use alys_telemetry::config::{Layer, Origin, settings};
use alys_telemetry::sources::governance::client::{StartError, StreamConfig};
use alys_telemetry::sources::governance::{TlsError, TlsFiles, Token};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alys-telemetry",
    version,
    about = "OpenTelemetry pipeline for the Alys V2 node"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) telemetry: TelemetryFlags,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags that override the file and the environment (see `alys-telemetry settings`).
#[derive(Args)]
pub(crate) struct TelemetryFlags {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// service.name of the resource.
    #[arg(long, global = true)]
    pub(crate) service_name: Option<String>,
    /// deployment.environment.name of the resource.
    #[arg(long, global = true)]
    pub(crate) environment: Option<String>,
    /// Address of the pull endpoint (/metrics, /health, /ready).
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Do not serve the pull endpoint.
    #[arg(long, global = true)]
    pub(crate) no_pull: bool,
    /// Do not push OTLP.
    #[arg(long, global = true)]
    pub(crate) no_push: bool,
    /// OTLP endpoint for all signals.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
    /// grpc or http/protobuf.
    #[arg(long, global = true)]
    pub(crate) otlp_protocol: Option<String>,
    /// Trace sampler, as OTEL_TRACES_SAMPLER names it.
    #[arg(long, global = true)]
    pub(crate) sampler: Option<String>,
    /// Ratio for the traceidratio samplers, 0..1.
    #[arg(long, global = true)]
    pub(crate) sampler_ratio: Option<String>,
    /// text or json.
    #[arg(long, global = true)]
    pub(crate) log_format: Option<String>,
    /// Bound on the flush at shutdown, in milliseconds.
    #[arg(long, global = true, value_name = "MS")]
    pub(crate) shutdown_timeout_ms: Option<String>,
    /// Web configuration of the pull endpoint (TLS, authentication), in the Prometheus
    /// exporter-toolkit format: the flag every Prometheus exporter takes.
    #[arg(long = "web.config.file", global = true, value_name = "FILE")]
    pub(crate) web_config_file: Option<String>,
}

impl TelemetryFlags {
    pub(crate) fn layer(&self) -> Layer {
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
            (settings::WEB_CONFIG_FILE, &self.web_config_file),
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
pub(crate) enum Command {
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
    /// A running node at a glance in the terminal: health, actors, chain, governance, exports.
    Top {
        /// host:port (http://) or https://host:port of the node's pull endpoint; default: this
        /// configuration's pull.listen.
        address: Option<String>,
        #[command(flatten)]
        access: NodeAccess,
    },
    /// Browse traces in the terminal (waterfalls with the critical path), or export them.
    Traces(TracesArgs),
    /// Exit 0 when an endpoint answers 200 (container health checks; images carry no curl).
    Probe {
        /// host:port (http://) or https://host:port of a pull endpoint.
        address: String,
        /// The path to ask (/health and /ready never ask for credentials).
        #[arg(default_value = "/ready")]
        path: String,
        #[command(flatten)]
        tls: NodeTls,
    },
}

#[derive(Args)]
pub(crate) struct TracesArgs {
    /// host:port (http://) or https://host:port of the node's pull endpoint; default: this
    /// configuration's pull.listen.
    pub(crate) address: Option<String>,
    /// Read a Jaeger query service (its /api/v3 OTLP JSON API) instead of a node.
    #[arg(long, value_name = "URL", conflicts_with = "address")]
    pub(crate) jaeger: Option<String>,
    /// With --jaeger: how far back to look.
    #[arg(long, value_parser = parse_duration, default_value = "1h", requires = "jaeger")]
    pub(crate) lookback: Duration,
    /// Open this trace (or, with --json, print it).
    #[arg(long, value_name = "TRACE_ID")]
    pub(crate) trace: Option<String>,
    /// recent, slowest or failed.
    #[arg(long, value_parser = ["recent", "slowest", "failed"], default_value = "recent")]
    pub(crate) view: String,
    /// Only traces whose root span has this name.
    #[arg(long)]
    pub(crate) operation: Option<String>,
    /// Only traces of this service.
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// Only traces at least this long (250ms, 1.5s).
    #[arg(long, value_parser = parse_duration_with_unit)]
    pub(crate) min_duration: Option<Duration>,
    /// Only traces with an error span.
    #[arg(long)]
    pub(crate) errors: bool,
    /// Only traces with this text in a span name or attribute value.
    #[arg(long)]
    pub(crate) search: Option<String>,
    /// At most this many traces.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub(crate) limit: u16,
    /// Print the traces (or --trace) as OTLP JSON on stdout instead of opening the viewer.
    #[arg(long)]
    pub(crate) json: bool,
    /// TLS and credentials for a secured node (or --jaeger URL).
    #[command(flatten)]
    pub(crate) access: NodeAccess,
}

/// A duration that names its unit (`250ms`, `1.5s`), as the viewer's filters take it.
fn parse_duration_with_unit(text: &str) -> Result<Duration, String> {
    alys_telemetry::exits::viewer::query::parse_duration(text)
}

#[derive(Args)]
pub(crate) struct GovernanceServerArgs {
    /// Address of the gRPC stream endpoint.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
    pub(crate) grpc_listen: std::net::SocketAddr,
    /// Time to answer a signature request.
    #[arg(long, value_parser = parse_duration, default_value = "50ms")]
    pub(crate) latency: Duration,
    /// Share of signature requests refused, 0..1.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) error_rate: f64,
    /// Interval between federation updates.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) federation_interval: Duration,
    /// Drop every stream at this interval (to exercise reconnection).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) drop_every: Option<Duration>,
    /// Append every node message taken to this file before acknowledging it; read at start,
    /// so re-sent messages are recognised across restarts.
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) security: GovernanceSecurity,
}

/// How the governance stream is secured. The token is read from the environment
/// (ALYS_GOVERNANCE_TOKEN), never from a flag, so it does not show in process listings.
#[derive(Args)]
pub(crate) struct GovernanceSecurity {
    /// PEM CA certificate (server: requires client certificates; client: trusts the server).
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// PEM certificate.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_key: Option<PathBuf>,
}

/// The flag that names the file a TLS error is about.
fn tls_flag(e: &TlsError) -> &'static str {
    match e {
        TlsError::Read {
            what: "CA certificate",
            ..
        } => "--tls-ca",
        TlsError::Read {
            what: "certificate",
            ..
        } => "--tls-cert",
        TlsError::Read { what: "key", .. } => "--tls-key",
        _ => "--tls-cert and --tls-key",
    }
}

/// The demo's governance stream from the command line and the environment, checked before
/// anything starts: an endpoint the StreamActor cannot use, a TLS file that cannot be read,
/// a token that is not UTF-8 are each an error naming the flag or the variable.
pub(crate) fn demo_governance(args: &DemoArgs) -> Result<Governance, String> {
    let token = GovernanceSecurity::token()?;
    let tls = args.governance.tls();
    match &args.governance_endpoint {
        Some(endpoint) => {
            let mut config = StreamConfig::new(endpoint.clone());
            config.tls = tls.clone();
            config.check().map_err(|e| match &e {
                StartError::Tls(tls) => format!("invalid {}: {e}", tls_flag(tls)),
                _ => format!("invalid --governance-endpoint: {e}"),
            })?;
        }
        None => {
            if let Some(tls) = &tls {
                tls.client("localhost")
                    .map_err(|e| format!("invalid {}: {e}", tls_flag(&e)))?;
            }
        }
    }
    Ok(Governance {
        endpoint: args.governance_endpoint.clone(),
        token,
        tls,
    })
}

/// The governance node's settings from the command line, checked before anything starts.
pub(crate) fn server_config(args: &GovernanceServerArgs) -> Result<ServerConfig, String> {
    let config = ServerConfig {
        listen: args.grpc_listen,
        token: GovernanceSecurity::token()?,
        tls: args.security.tls(),
        latency: args.latency,
        error_rate: args.error_rate,
        federation_interval: Some(args.federation_interval),
        drop_every: args.drop_every,
        journal: args.journal.clone(),
    };
    config.check().map_err(|e| match &e {
        ServerError::Invalid { setting, .. } => {
            format!("invalid --{}: {e}", setting.replace('_', "-"))
        }
        ServerError::Tls(tls) => format!("invalid {}: {e}", tls_flag(tls)),
        _ => e.to_string(),
    })?;
    Ok(config)
}

impl GovernanceSecurity {
    pub(crate) fn tls(&self) -> Option<TlsFiles> {
        (self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some()).then(|| {
            TlsFiles {
                ca: self.tls_ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            }
        })
    }

    /// ALYS_GOVERNANCE_TOKEN; a value that is not UTF-8 is an error (never shown).
    pub(crate) fn token() -> Result<Option<Token>, String> {
        match std::env::var("ALYS_GOVERNANCE_TOKEN") {
            Ok(t) if !t.is_empty() => Ok(Some(Token::new(t))),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(
                "invalid ALYS_GOVERNANCE_TOKEN (value hidden, it may hold a credential): \
                 the value is not valid UTF-8"
                    .into(),
            ),
        }
    }
}

#[derive(Args)]
pub(crate) struct CatalogArgs {
    #[arg(long, value_enum, default_value = "markdown")]
    pub(crate) format: CatalogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum CatalogFormat {
    Markdown,
    Json,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Stop after this long (for example 30s, 5m); runs until SIGINT/SIGTERM otherwise.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// Time between produced blocks.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub(crate) block_interval: Duration,
    /// Number of validators taking turns.
    #[arg(long, default_value_t = 3)]
    pub(crate) validators: usize,
    /// Inject a fault from the start, so the matching alert fires.
    #[arg(long, value_enum, env = "ALYS_DEMO_FAULT")]
    pub(crate) fault: Option<Fault>,
    /// How long the fault lasts (then the alert resolves); default: until stopped.
    #[arg(long, value_parser = parse_duration, requires = "fault", env = "ALYS_DEMO_FAULT_DURATION")]
    pub(crate) fault_duration: Option<Duration>,
    /// An external governance node to stream to; default: an embedded one.
    #[arg(long, value_name = "URL")]
    pub(crate) governance_endpoint: Option<String>,
    #[command(flatten)]
    pub(crate) governance: GovernanceSecurity,
}

/// A duration as humantime reads it (`500ms`, `30s`, `5m`, `1h 30m`); a bare number is
/// seconds, as it always was here. Zero is refused: every duration flag is a period or a
/// bound, and zero would spin or stop at once.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let d = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("`{text}`: {e}"))?
    } else {
        humantime::parse_duration(text)
            .map_err(|e| format!("`{text}` is not a duration such as 500ms, 30s or 5m: {e}"))?
    };
    if d.is_zero() {
        return Err(format!("`{text}` must be greater than zero"));
    }
    Ok(d)
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
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
