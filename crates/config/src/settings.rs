//! The table of every setting: its key in the TOML file, its environment variable, its
//! command-line flag and its default. Sources, validation, error messages and the README's
//! settings table all read this one table, so a setting cannot exist in one place only.

/// One configurable setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Dotted key in the TOML file, for example `push.protocol`.
    pub key: &'static str,
    /// Environment variable (the OpenTelemetry standard one where there is one).
    pub env: &'static str,
    /// Command-line flag, where the setting has one.
    pub flag: Option<&'static str>,
    /// The default as a user would write it.
    pub default: &'static str,
    /// The value may hold a credential: it never appears in logs or errors.
    pub secret: bool,
    /// A `key = value` table in the file (headers, resource attributes).
    pub is_map: bool,
    /// One line for the README and `--help`.
    pub help: &'static str,
    /// The accepted range of a number (`min`, `max`), inclusive; `None` for other values.
    pub range: Option<(u64, u64)>,
}

impl Setting {
    /// The same setting, taking whole numbers from `min` to `max` only.
    const fn within(self, min: u64, max: u64) -> Setting {
        Setting {
            range: Some((min, max)),
            ..self
        }
    }
}

const fn setting(
    key: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        flag,
        default,
        secret: false,
        is_map: false,
        help,
        range: None,
    }
}

/// One second in milliseconds, for the ranges below.
const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
/// The largest batch queue: 32 times the specification's default of 2048. The SDK
/// allocates the whole queue up front.
const MAX_QUEUE: u64 = 65_536;

pub const SERVICE_NAME: Setting = setting(
    "service.name",
    "OTEL_SERVICE_NAME",
    Some("--service-name"),
    "alys-node",
    "service.name of the resource (wins over service.name in OTEL_RESOURCE_ATTRIBUTES)",
);
pub const ENVIRONMENT: Setting = setting(
    "service.environment",
    "ALYS_TELEMETRY_ENVIRONMENT",
    Some("--environment"),
    "development",
    "deployment.environment.name of the resource",
);
pub const RESOURCE_ATTRIBUTES: Setting = Setting {
    is_map: true,
    ..setting(
        "resource.attributes",
        "OTEL_RESOURCE_ATTRIBUTES",
        None,
        "",
        "extra resource attributes, key1=value1,key2=value2 (percent-encoded values)",
    )
};
pub const SDK_DISABLED: Setting = setting(
    "sdk.disabled",
    "OTEL_SDK_DISABLED",
    None,
    "false",
    "true turns every signal into a no-op; the calling code does not change",
);
pub const PULL_ENABLED: Setting = setting(
    "pull.enabled",
    "ALYS_TELEMETRY_PULL_ENABLED",
    Some("--no-pull"),
    "true",
    "serve /metrics, /health and /ready",
);
pub const LISTEN: Setting = setting(
    "pull.listen",
    "ALYS_TELEMETRY_LISTEN",
    Some("--listen"),
    "127.0.0.1:9001",
    "address of the pull endpoint",
);
pub const PULL_HEADER_READ_TIMEOUT: Setting = setting(
    "pull.header_read_timeout_ms",
    "ALYS_TELEMETRY_PULL_HEADER_READ_TIMEOUT_MS",
    None,
    "5000",
    "a connection must deliver a request's head within this time (from its accept, or from the request's first byte), in milliseconds",
)
.within(1, 10 * MINUTE_MS);
pub const PULL_IDLE_TIMEOUT: Setting = setting(
    "pull.idle_timeout_ms",
    "ALYS_TELEMETRY_PULL_IDLE_TIMEOUT_MS",
    None,
    "60000",
    "a connection on which no byte moves for this long is closed (idle keep-alive, unread responses), in milliseconds",
)
.within(1, HOUR_MS);
pub const PULL_MAX_CONNECTIONS: Setting = setting(
    "pull.max_connections",
    "ALYS_TELEMETRY_PULL_MAX_CONNECTIONS",
    None,
    "64",
    "open connections to the pull endpoint; beyond it a new one replaces the oldest without a request in progress",
)
.within(1, 4096);
pub const WEB_CONFIG_FILE: Setting = setting(
    "pull.web_config_file",
    "ALYS_TELEMETRY_WEB_CONFIG_FILE",
    Some("--web.config.file"),
    "",
    "a web configuration file in the Prometheus exporter-toolkit format (TLS, client certificates, basic auth) for the pull endpoint, reloaded when it changes or on SIGHUP; empty: plain HTTP, no authentication",
);
pub const PUSH_ENABLED: Setting = setting(
    "push.enabled",
    "ALYS_TELEMETRY_PUSH_ENABLED",
    Some("--no-push"),
    "true",
    "push traces, metrics and logs over OTLP",
);
pub const ENDPOINT: Setting = setting(
    "push.endpoint",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    Some("--otlp-endpoint"),
    "http://localhost:4317 (grpc), http://localhost:4318 (http/protobuf)",
    "OTLP endpoint for all signals; http/protobuf appends /v1/traces, /v1/metrics, /v1/logs",
);
pub const TRACES_ENDPOINT: Setting = setting(
    "push.traces_endpoint",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    None,
    "from push.endpoint",
    "OTLP endpoint for traces, used as given",
);
pub const METRICS_ENDPOINT: Setting = setting(
    "push.metrics_endpoint",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    None,
    "from push.endpoint",
    "OTLP endpoint for metrics, used as given",
);
pub const LOGS_ENDPOINT: Setting = setting(
    "push.logs_endpoint",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    None,
    "from push.endpoint",
    "OTLP endpoint for logs, used as given",
);
pub const PROTOCOL: Setting = setting(
    "push.protocol",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    Some("--otlp-protocol"),
    "grpc",
    "grpc or http/protobuf",
);
pub const HEADERS: Setting = Setting {
    secret: true,
    is_map: true,
    ..setting(
        "push.headers",
        "OTEL_EXPORTER_OTLP_HEADERS",
        None,
        "",
        "headers sent with every export, key1=value1,key2=value2 (values are never logged)",
    )
};
pub const TIMEOUT: Setting = setting(
    "push.timeout_ms",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    None,
    "10000",
    "time one export attempt may take (its retries are bounded by push.outage_budget_ms), in milliseconds",
)
.within(1, 10 * MINUTE_MS);
pub const OUTAGE_BUDGET: Setting = setting(
    "push.outage_budget_ms",
    "ALYS_TELEMETRY_PUSH_OUTAGE_BUDGET_MS",
    None,
    "30000",
    "how long a failed export is retried (backoff with jitter, Retry-After honoured) before its batch is dropped and counted, in milliseconds; 0: one attempt",
)
.within(0, 10 * MINUTE_MS);
pub const METRIC_EXPORT_INTERVAL: Setting = setting(
    "push.metric_export_interval_ms",
    "OTEL_METRIC_EXPORT_INTERVAL",
    None,
    "60000 (demo: 5000)",
    "interval between metric exports, in milliseconds",
)
.within(1, 24 * HOUR_MS);
pub const TEMPORALITY: Setting = setting(
    "push.metrics_temporality",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    None,
    "cumulative",
    "cumulative, delta or lowmemory",
);
pub const SAMPLER: Setting = setting(
    "traces.sampler",
    "OTEL_TRACES_SAMPLER",
    Some("--sampler"),
    "parentbased_traceidratio",
    "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio",
);
pub const SAMPLER_ARG: Setting = setting(
    "traces.sampler_arg",
    "OTEL_TRACES_SAMPLER_ARG",
    Some("--sampler-ratio"),
    "1.0",
    "sampling ratio for the traceidratio samplers, 0..1",
);
pub const SPAN_QUEUE: Setting = setting(
    "traces.batch.max_queue_size",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    None,
    "65536",
    "spans waiting for export; a span beyond it is dropped and counted",
)
.within(1, MAX_QUEUE);
pub const SPAN_BATCH: Setting = setting(
    "traces.batch.max_export_batch_size",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    None,
    "2048 (at most the queue size)",
    "spans per export, at most traces.batch.max_queue_size",
)
.within(1, MAX_QUEUE);
pub const SPAN_DELAY: Setting = setting(
    "traces.batch.schedule_delay_ms",
    "OTEL_BSP_SCHEDULE_DELAY",
    None,
    "1000",
    "time between span exports, in milliseconds",
)
.within(1, HOUR_MS);
pub const LOG_QUEUE: Setting = setting(
    "log.batch.max_queue_size",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    None,
    "2048",
    "log records waiting for export; a record beyond it is dropped",
)
.within(1, MAX_QUEUE);
pub const LOG_BATCH: Setting = setting(
    "log.batch.max_export_batch_size",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    None,
    "512 (at most the queue size)",
    "log records per export, at most log.batch.max_queue_size",
)
.within(1, MAX_QUEUE);
pub const LOG_DELAY: Setting = setting(
    "log.batch.schedule_delay_ms",
    "OTEL_BLRP_SCHEDULE_DELAY",
    None,
    "1000",
    "time between log exports, in milliseconds",
)
.within(1, HOUR_MS);
pub const LOG_FORMAT: Setting = setting(
    "log.format",
    "ALYS_TELEMETRY_LOG_FORMAT",
    Some("--log-format"),
    "text",
    "text, or json (one object a line, with trace_id and span_id)",
);
pub const SYSTEM_INTERVAL: Setting = setting(
    "system.interval_ms",
    "ALYS_TELEMETRY_SYSTEM_INTERVAL_MS",
    None,
    "5000",
    "interval of the system resource collector, in milliseconds",
)
.within(1, HOUR_MS);
pub const SYSTEM_ENABLED: Setting = setting(
    "system.enabled",
    "ALYS_TELEMETRY_SYSTEM_ENABLED",
    None,
    "true",
    "collect process and host resources (memory, CPU, threads, descriptors, I/O)",
);
pub const VIEWER_ENABLED: Setting = setting(
    "viewer.enabled",
    "ALYS_TELEMETRY_VIEWER_ENABLED",
    None,
    "true",
    "keep recent traces in the process and serve /, /traces, /api/ beside /metrics",
);
pub const VIEWER_MEMORY: Setting = setting(
    "viewer.memory_bytes",
    "ALYS_TELEMETRY_VIEWER_MEMORY_BYTES",
    None,
    "16777216",
    "memory the kept traces may use, in bytes",
)
// 1 MiB keeps a few traces; past 4 GiB the bound no longer bounds anything on this node.
.within(1 << 20, 1 << 32);
pub const SHUTDOWN_TIMEOUT: Setting = setting(
    "shutdown.timeout_ms",
    "ALYS_TELEMETRY_SHUTDOWN_TIMEOUT_MS",
    Some("--shutdown-timeout-ms"),
    "5000",
    "bound on stopping: the node's own components, then the flush of traces, metrics and logs, in milliseconds",
)
.within(1, 10 * MINUTE_MS);

/// Every setting, in the order the README lists them.
pub const ALL: &[Setting] = &[
    SERVICE_NAME,
    ENVIRONMENT,
    RESOURCE_ATTRIBUTES,
    SDK_DISABLED,
    PULL_ENABLED,
    LISTEN,
    PULL_HEADER_READ_TIMEOUT,
    PULL_IDLE_TIMEOUT,
    PULL_MAX_CONNECTIONS,
    WEB_CONFIG_FILE,
    PUSH_ENABLED,
    ENDPOINT,
    TRACES_ENDPOINT,
    METRICS_ENDPOINT,
    LOGS_ENDPOINT,
    PROTOCOL,
    HEADERS,
    TIMEOUT,
    OUTAGE_BUDGET,
    METRIC_EXPORT_INTERVAL,
    TEMPORALITY,
    SAMPLER,
    SAMPLER_ARG,
    SPAN_QUEUE,
    SPAN_BATCH,
    SPAN_DELAY,
    LOG_FORMAT,
    LOG_QUEUE,
    LOG_BATCH,
    LOG_DELAY,
    SYSTEM_ENABLED,
    SYSTEM_INTERVAL,
    VIEWER_ENABLED,
    VIEWER_MEMORY,
    SHUTDOWN_TIMEOUT,
];

/// The settings table in Markdown, as the README shows it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| file key | environment variable | flag | default | meaning |\n|---|---|---|---|---|\n",
    );
    for s in ALL {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            s.key,
            s.env,
            s.flag.map(|f| format!("`{f}`")).unwrap_or_default(),
            if s.default.is_empty() {
                String::new()
            } else {
                format!("`{}`", s.default)
            },
            match s.range {
                Some((min, max)) => format!("{} ({min} to {max})", s.help),
                None => s.help.to_string(),
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_env_vars_and_flags_are_unique() {
        let keys: HashSet<_> = ALL.iter().map(|s| s.key).collect();
        let envs: HashSet<_> = ALL.iter().map(|s| s.env).collect();
        let flags: Vec<_> = ALL.iter().filter_map(|s| s.flag).collect();
        assert_eq!(keys.len(), ALL.len());
        assert_eq!(envs.len(), ALL.len());
        assert_eq!(flags.iter().collect::<HashSet<_>>().len(), flags.len());
    }

    #[test]
    fn own_variables_use_the_project_prefix() {
        for s in ALL {
            assert!(
                s.env.starts_with("OTEL_") || s.env.starts_with("ALYS_TELEMETRY_"),
                "{} has neither the OTEL_ nor the ALYS_TELEMETRY_ prefix",
                s.env
            );
        }
    }
}

#[cfg(test)]
mod readme {
    #[test]
    fn the_readme_lists_every_setting_as_the_table_says() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("<!-- settings:begin -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- settings:end -->").next())
            .expect("README has the settings markers");
        assert_eq!(
            table,
            super::markdown_table(),
            "README is stale: paste `alys-telemetry settings` between the markers"
        );
    }
}
