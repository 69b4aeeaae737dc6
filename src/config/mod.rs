//! `TelemetryConfig`: defaults < TOML file < environment < command-line flags.
//!
//! Every source yields a [`Layer`] of raw values; [`TelemetryConfig::from_layers`] folds them
//! (the last layer to set a value wins) and validates each value once, naming it the way its
//! source spells it.
//!
//! ```
//! use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
//!
//! let env = Layer::from_env_with(|var| (var == "OTEL_TRACES_SAMPLER").then(|| "always_on".into()));
//! let flags = Layer::new(Origin::Flag).set(settings::LISTEN, "127.0.0.1:0");
//! let config = TelemetryConfig::from_layers(&[env, flags]).unwrap();
//! assert_eq!(config.pull.listen.port(), 0);
//! ```

mod error;
pub mod settings;
mod sources;
mod values;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::ConfigError;
pub use settings::Setting;
pub use sources::{Layer, Origin, RawValue};
pub use values::{LogFormat, MetricsTemporality, OtlpProtocol, SamplerChoice};

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
    pub log_format: LogFormat,
    pub system: SystemConfig,
    pub viewer: ViewerConfig,
    pub shutdown_timeout: Duration,
}

/// The in-process trace viewer (the store beside the exporters, and its pages).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerConfig {
    pub enabled: bool,
    /// Bound on the memory of the kept traces, in bytes.
    pub memory_bytes: usize,
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
}

/// The OTLP push exit.
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    pub enabled: bool,
    pub protocol: OtlpProtocol,
    pub traces_endpoint: String,
    pub metrics_endpoint: String,
    pub logs_endpoint: String,
    pub headers: Headers,
    pub timeout: Duration,
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
    pub fn from_layers(layers: &[Layer]) -> Result<Self, ConfigError> {
        let mut chosen: HashMap<&'static str, (&Origin, &RawValue)> = HashMap::new();
        for layer in layers {
            for (setting, value) in &layer.values {
                chosen.insert(setting.key, (&layer.origin, value));
            }
        }
        let r = Resolver { chosen };

        let protocol: OtlpProtocol = r.text(settings::PROTOCOL, "grpc", values::parse_protocol)?;
        let base = r.text_opt(settings::ENDPOINT, values::parse_endpoint)?;
        let signal_endpoint = |s: Setting, path: &str| -> Result<String, ConfigError> {
            Ok(match r.text_opt(s, values::parse_endpoint)? {
                Some(explicit) => explicit,
                None => values::signal_endpoint(base.as_deref(), protocol, path),
            })
        };
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
            },
            push: PushConfig {
                enabled: r.text(settings::PUSH_ENABLED, "true", values::parse_bool)?,
                protocol,
                traces_endpoint: signal_endpoint(settings::TRACES_ENDPOINT, "traces")?,
                metrics_endpoint: signal_endpoint(settings::METRICS_ENDPOINT, "metrics")?,
                logs_endpoint: signal_endpoint(settings::LOGS_ENDPOINT, "logs")?,
                headers: Headers(r.map(settings::HEADERS, values::parse_header)?),
                timeout: r.text(settings::TIMEOUT, "10000", values::parse_millis)?,
                metric_export_interval: r.text(
                    settings::METRIC_EXPORT_INTERVAL,
                    "60000",
                    values::parse_millis,
                )?,
                temporality: r.text(
                    settings::TEMPORALITY,
                    "cumulative",
                    values::parse_temporality,
                )?,
            },
            sampler,
            log_format: r.text(settings::LOG_FORMAT, "text", values::parse_log_format)?,
            system: SystemConfig {
                enabled: r.text(settings::SYSTEM_ENABLED, "true", values::parse_bool)?,
                interval: r.text(settings::SYSTEM_INTERVAL, "5000", values::parse_millis)?,
            },
            viewer: ViewerConfig {
                enabled: r.text(settings::VIEWER_ENABLED, "true", values::parse_bool)?,
                memory_bytes: r.text(settings::VIEWER_MEMORY, "16777216", values::parse_memory)?,
            },
            shutdown_timeout: r.text(settings::SHUTDOWN_TIMEOUT, "5000", values::parse_millis)?,
        })
    }
}

struct Resolver<'a> {
    chosen: HashMap<&'static str, (&'a Origin, &'a RawValue)>,
}

impl Resolver<'_> {
    fn invalid(origin: &Origin, s: Setting, value: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            name: origin.name_of(&s),
            value: (!s.secret).then(|| value.to_string()),
            reason,
        }
    }

    fn text_opt<T>(
        &self,
        s: Setting,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.chosen.get(s.key) {
            None => Ok(None),
            Some((origin, RawValue::Text(v))) => parse(v.trim())
                .map(Some)
                .map_err(|reason| Self::invalid(origin, s, v, reason)),
            Some((origin, RawValue::Map(_))) => Err(Self::invalid(
                origin,
                s,
                "<table>",
                "expected a single value, not a table".into(),
            )),
        }
    }

    fn text<T>(
        &self,
        s: Setting,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.text_opt(s, &parse)? {
            Some(v) => Ok(v),
            None => {
                parse(default).map_err(|reason| Self::invalid(&Origin::Default, s, default, reason))
            }
        }
    }

    /// A `k=v,k=v` list (percent-encoded, as the OpenTelemetry variables are) or a file table.
    fn map(
        &self,
        s: Setting,
        check: impl Fn(&str, &str) -> Result<(), String>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let Some((origin, raw)) = self.chosen.get(s.key) else {
            return Ok(Vec::new());
        };
        let pairs = match raw {
            RawValue::Map(pairs) => pairs.clone(),
            RawValue::Text(text) => values::parse_key_value_list(text)
                .map_err(|reason| Self::invalid(origin, s, text, reason))?,
        };
        for (k, v) in &pairs {
            check(k, v).map_err(|reason| {
                let shown = if s.secret {
                    String::new()
                } else {
                    format!("{k}={v}")
                };
                Self::invalid(origin, s, &shown, reason)
            })?;
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests;
