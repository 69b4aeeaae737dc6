//! `TelemetryConfig`: defaults < TOML file < environment < command-line flags.
//!
//! Every source yields a [`Layer`] of raw values; [`TelemetryConfig::from_layers`] folds them
//! (the last layer to set a value wins) and validates each value once, naming it the way its
//! source spells it.
//!
//! ```
//! use alys_telemetry_config::{Layer, Origin, TelemetryConfig, settings};
//!
//! let env = Layer::from_env_with(|var| (var == "OTEL_TRACES_SAMPLER").then(|| "always_on".into()));
//! let flags = Layer::new(Origin::Flag).set(settings::LISTEN, "127.0.0.1:0");
//! let config = TelemetryConfig::from_layers(&[env, flags]).unwrap();
//! assert_eq!(config.pull.listen.port(), 0);
//! ```

mod error;
mod resolve;
mod sdk_env;
pub mod settings;
mod sources;
mod url;
mod values;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::ConfigError;
pub use settings::Setting;
pub use sources::{Layer, Origin, RawValue};
pub use url::{EndpointUrl, redact_userinfo};
pub use values::{LogFormat, MetricsTemporality, OtlpProtocol, SamplerChoice};

use resolve::Resolver;

/// The whole configuration of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Explicit service.name; `None` leaves it to OTEL_RESOURCE_ATTRIBUTES, then `alys-node`.
    pub service_name: Option<String>,
    /// deployment.environment.name; `None` leaves it to OTEL_RESOURCE_ATTRIBUTES, then `development`.
    pub environment: Option<String>,
    /// Extra resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// OTEL_SDK_DISABLED: every signal is a no-op.
    pub sdk_disabled: bool,
    pub pull: PullConfig,
    pub push: PushConfig,
    pub sampler: SamplerChoice,
    /// The batch span processor (the OTEL_BSP_* variables).
    pub span_batch: ExportBatch,
    pub log_format: LogFormat,
    /// The batch log processor (the OTEL_BLRP_* variables).
    pub log_batch: ExportBatch,
    pub system: SystemConfig,
    pub viewer: ViewerConfig,
    /// Bound on a stop: the node's components, then the final flush.
    pub shutdown_timeout: Duration,
}

/// The in-process trace viewer (the store beside the exporters, and its pages).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerConfig {
    pub enabled: bool,
    /// Bound on the memory of the kept traces, in bytes.
    pub memory_bytes: usize,
}

/// A batch processor's queue: what waits for export, how much goes per export, how often.
/// Passed to the SDK's builders explicitly, so the SDK's own reading of the variables
/// never decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportBatch {
    pub max_queue_size: usize,
    /// At most `max_queue_size`.
    pub max_export_batch_size: usize,
    pub schedule_delay: Duration,
}

impl ExportBatch {
    /// The span batch processor's defaults, sized for message rate. The specification's
    /// queue of 2048 holds 40 ms of a node ending 50,000 spans a second (ratio 1.0 at message
    /// rate) and dropped about a third of them in `benches/system`; 65,536 hold more than a
    /// second (about 1 KB a span when full), batches of 2,048 every second cost fewer round
    /// trips (docs/performance.md).
    pub const SPANS: ExportBatch = ExportBatch {
        max_queue_size: 65_536,
        max_export_batch_size: 2_048,
        schedule_delay: Duration::from_secs(1),
    };
    /// The log record batch processor's defaults: the specification's.
    pub const LOGS: ExportBatch = ExportBatch {
        max_queue_size: 2_048,
        max_export_batch_size: 512,
        schedule_delay: Duration::from_secs(1),
    };
}

/// The system resource collector.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemConfig {
    pub enabled: bool,
    pub interval: Duration,
}

/// The Prometheus pull endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PullConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// A request's head must arrive within this (from the accept, or its first byte).
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections at most; a new one replaces the oldest without a request in progress.
    pub max_connections: usize,
    /// The exporter-toolkit web configuration (TLS, authentication), if any.
    pub web_config_file: Option<std::path::PathBuf>,
}

/// The OTLP push exit.
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    pub enabled: bool,
    pub protocol: OtlpProtocol,
    pub traces_endpoint: EndpointUrl,
    pub metrics_endpoint: EndpointUrl,
    pub logs_endpoint: EndpointUrl,
    pub headers: Headers,
    /// Time one export attempt may take.
    pub timeout: Duration,
    /// How long a failed export is retried before its batch is dropped (zero: never).
    pub outage_budget: Duration,
    pub metric_export_interval: Duration,
    pub temporality: MetricsTemporality,
}

/// Export headers. They often carry tokens, so `Debug` shows only their names.
#[derive(Clone, PartialEq, Default)]
pub struct Headers(pub(crate) Vec<(String, String)>);

impl Headers {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, "<redacted>")))
            .finish()
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        // The defaults are valid by construction; a failure here is a bug in `settings`.
        Self::from_layers(&[]).expect("built-in defaults are valid")
    }
}

impl TelemetryConfig {
    /// The usual stack: defaults, then the file (if any), then the process environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut layers = Vec::new();
        if let Some(path) = file {
            layers.push(Layer::from_file(path)?);
        }
        layers.push(Layer::from_env());
        Self::from_layers(&layers)
    }

    /// Folds `layers` over the defaults, later layers winning, and validates the result.
    /// A value a layer refused as it was read (not UTF-8, or an SDK variable out of range)
    /// is reported first.
    pub fn from_layers(layers: &[Layer]) -> Result<Self, ConfigError> {
        if let Some(refused) = layers.iter().flat_map(|l| &l.refused).next() {
            return Err(ConfigError::Invalid {
                name: refused.name.clone(),
                value: refused.value.clone(),
                reason: refused.reason.clone(),
            });
        }
        let r = Resolver::new(layers);
        let protocol: OtlpProtocol = r.text(settings::PROTOCOL, "grpc", values::parse_protocol)?;
        let ratio = r.text(settings::SAMPLER_ARG, "1.0", values::parse_ratio)?;
        let sampler = r.text(settings::SAMPLER, "parentbased_traceidratio", |v| {
            values::parse_sampler(v, ratio)
        })?;
        Ok(TelemetryConfig {
            service_name: r.text_opt(settings::SERVICE_NAME, values::parse_nonempty)?,
            environment: r.text_opt(settings::ENVIRONMENT, values::parse_nonempty)?,
            resource_attributes: r.map(settings::RESOURCE_ATTRIBUTES, values::parse_attribute)?,
            sdk_disabled: r.text(settings::SDK_DISABLED, "false", values::parse_bool)?,
            pull: PullConfig {
                enabled: r.text(settings::PULL_ENABLED, "true", values::parse_bool)?,
                listen: r.text(settings::LISTEN, "127.0.0.1:9001", values::parse_addr)?,
                header_read_timeout: r.millis(settings::PULL_HEADER_READ_TIMEOUT, 5_000)?,
                idle_timeout: r.millis(settings::PULL_IDLE_TIMEOUT, 60_000)?,
                max_connections: r.count(settings::PULL_MAX_CONNECTIONS, 64)? as usize,
                web_config_file: r
                    .text_opt(settings::WEB_CONFIG_FILE, values::parse_optional_path)?
                    .flatten(),
            },
            push: push(&r, protocol)?,
            sampler,
            span_batch: r.batch(
                [
                    settings::SPAN_QUEUE,
                    settings::SPAN_BATCH,
                    settings::SPAN_DELAY,
                ],
                ExportBatch::SPANS,
            )?,
            log_format: r.text(settings::LOG_FORMAT, "text", values::parse_log_format)?,
            log_batch: r.batch(
                [
                    settings::LOG_QUEUE,
                    settings::LOG_BATCH,
                    settings::LOG_DELAY,
                ],
                ExportBatch::LOGS,
            )?,
            system: SystemConfig {
                enabled: r.text(settings::SYSTEM_ENABLED, "true", values::parse_bool)?,
                interval: r.millis(settings::SYSTEM_INTERVAL, 5_000)?,
            },
            viewer: ViewerConfig {
                enabled: r.text(settings::VIEWER_ENABLED, "true", values::parse_bool)?,
                memory_bytes: r.count(settings::VIEWER_MEMORY, 16 << 20)? as usize,
            },
            shutdown_timeout: r.millis(settings::SHUTDOWN_TIMEOUT, 5_000)?,
        })
    }
}

/// The OTLP push settings.
fn push(r: &Resolver<'_>, protocol: OtlpProtocol) -> Result<PushConfig, ConfigError> {
    let base = r.text_opt(settings::ENDPOINT, values::parse_endpoint)?;
    let signal_endpoint = |s: Setting, path: &str| -> Result<EndpointUrl, ConfigError> {
        Ok(EndpointUrl::new(
            match r.text_opt(s, values::parse_endpoint)? {
                Some(explicit) => explicit,
                None => values::signal_endpoint(base.as_deref(), protocol, path),
            },
        ))
    };
    Ok(PushConfig {
        enabled: r.text(settings::PUSH_ENABLED, "true", values::parse_bool)?,
        protocol,
        traces_endpoint: signal_endpoint(settings::TRACES_ENDPOINT, "traces")?,
        metrics_endpoint: signal_endpoint(settings::METRICS_ENDPOINT, "metrics")?,
        logs_endpoint: signal_endpoint(settings::LOGS_ENDPOINT, "logs")?,
        headers: Headers(r.map(settings::HEADERS, values::parse_header)?),
        timeout: r.millis(settings::TIMEOUT, 10_000)?,
        outage_budget: r.millis(settings::OUTAGE_BUDGET, 30_000)?,
        metric_export_interval: r.millis(settings::METRIC_EXPORT_INTERVAL, 60_000)?,
        temporality: r.text(
            settings::TEMPORALITY,
            "cumulative",
            values::parse_temporality,
        )?,
    })
}

#[cfg(test)]
mod tests;
