//! Variables the OpenTelemetry SDK, the OTLP exporters and `tracing-subscriber` read by
//! themselves, beside the settings table: each is checked here, by our rules, before any of
//! them is built. The SDK's own parsing ignores what it cannot read and takes any number it
//! can (a queue of 2^64 - 1 spans panicked at start-up; 10^12 aborted on allocation), so a
//! value it would misuse must stop start-up with its name instead.
//!
//! Where a value matters we also pass it to the builders ourselves (the batch processors'
//! queue, batch and delay are settings: [`super::settings::SPAN_QUEUE`] and the rest); the
//! variables here are read by the SDK, so only their values are held to a range.

use super::values;

/// How one variable's value is checked; `Err` is the reason it is refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// A whole number in `min..=max`.
    Count(u64, u64),
    /// `true` or `false`.
    Bool,
    /// An OTLP protocol, as `OTEL_EXPORTER_OTLP_PROTOCOL` takes it.
    Protocol,
    /// `none`: this build has no compression codec (the exporter refuses the others).
    Compression,
    /// A `key=value,…` header list; values are never shown.
    Headers,
    /// A `tracing-subscriber` filter, as `RUST_LOG` takes it.
    LogFilter,
}

/// A variable read outside the settings table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SdkVariable {
    pub name: &'static str,
    pub check: Check,
}

impl SdkVariable {
    /// Whether its value may hold a credential (never shown in an error).
    pub fn secret(&self) -> bool {
        matches!(self.check, Check::Headers)
    }

    /// The reason `value` is refused, if it is.
    pub fn refuse(&self, value: &str) -> Option<String> {
        let value = value.trim();
        let checked = match self.check {
            Check::Count(min, max) => values::parse_count(value, min, max).map(drop),
            Check::Bool => values::parse_bool(value).map(drop),
            Check::Protocol => values::parse_protocol(value).map(drop),
            Check::Compression => match value.to_ascii_lowercase().as_str() {
                "none" => Ok(()),
                _ => Err("expected none: this build compresses no export".into()),
            },
            Check::Headers => values::parse_key_value_list(value).and_then(|pairs| {
                pairs
                    .iter()
                    .try_for_each(|(k, v)| values::parse_header(k, v))
            }),
            Check::LogFilter => tracing_subscriber::EnvFilter::builder()
                .parse(value)
                .map(drop)
                .map_err(|e| format!("not a log filter: {e}")),
        };
        checked.err()
    }
}

const fn var(name: &'static str, check: Check) -> SdkVariable {
    SdkVariable { name, check }
}

/// Milliseconds, as the SDK's timeouts take them: 1 ms to 10 min.
const MILLIS: Check = Check::Count(1, 600_000);
/// Span limits: the SDK takes any `u32`; 0 (keep none) to 65536.
const LIMIT: Check = Check::Count(0, 65_536);

/// Every variable the SDK, the exporters or the subscriber read that is not a setting.
/// Per-signal exporter variables that our settings override (`…_TRACES_TIMEOUT`,
/// `…_TRACES_PROTOCOL`) are checked too: a bad value is an error, not silently ignored.
pub(crate) const SDK_VARIABLES: &[SdkVariable] = &[
    // The batch span and log processors (read when they are built; unused by the
    // thread-based processors we run, whose exports push.timeout_ms bounds).
    var("OTEL_BSP_EXPORT_TIMEOUT", MILLIS),
    var("OTEL_BSP_MAX_CONCURRENT_EXPORTS", Check::Count(1, 64)),
    var("OTEL_BLRP_EXPORT_TIMEOUT", MILLIS),
    // Span limits (read by the tracer provider's builder).
    var("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", LIMIT),
    var("OTEL_SPAN_EVENT_COUNT_LIMIT", LIMIT),
    var("OTEL_SPAN_LINK_COUNT_LIMIT", LIMIT),
    // The OTLP exporters.
    var("OTEL_EXPORTER_OTLP_INSECURE", Check::Bool),
    var("OTEL_EXPORTER_OTLP_TRACES_INSECURE", Check::Bool),
    var("OTEL_EXPORTER_OTLP_METRICS_INSECURE", Check::Bool),
    var("OTEL_EXPORTER_OTLP_LOGS_INSECURE", Check::Bool),
    var("OTEL_EXPORTER_OTLP_COMPRESSION", Check::Compression),
    var("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", Check::Compression),
    var("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", Check::Compression),
    var("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", Check::Compression),
    var("OTEL_EXPORTER_OTLP_TRACES_HEADERS", Check::Headers),
    var("OTEL_EXPORTER_OTLP_METRICS_HEADERS", Check::Headers),
    var("OTEL_EXPORTER_OTLP_LOGS_HEADERS", Check::Headers),
    var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", MILLIS),
    var("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", MILLIS),
    var("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", MILLIS),
    var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Check::Protocol),
    var("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", Check::Protocol),
    var("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", Check::Protocol),
    // The subscriber's filter.
    var("RUST_LOG", Check::LogFilter),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings;

    fn find(name: &str) -> SdkVariable {
        *SDK_VARIABLES.iter().find(|v| v.name == name).unwrap()
    }

    #[test]
    fn no_variable_is_both_a_setting_and_checked_here() {
        for v in SDK_VARIABLES {
            assert!(
                settings::ALL.iter().all(|s| s.env != v.name),
                "{} is a setting",
                v.name
            );
        }
    }

    #[test]
    fn values_the_sdk_would_misuse_are_refused() {
        let limit = find("OTEL_SPAN_EVENT_COUNT_LIMIT");
        assert_eq!(limit.refuse("128"), None);
        assert!(limit.refuse("18446744073709551615").is_some());
        assert!(limit.refuse("4294967295").is_some());
        assert!(find("OTEL_BSP_EXPORT_TIMEOUT").refuse("0").is_some());
        assert!(find("OTEL_EXPORTER_OTLP_INSECURE").refuse("yes").is_some());
        assert_eq!(find("OTEL_EXPORTER_OTLP_COMPRESSION").refuse("None"), None);
        assert!(
            find("OTEL_EXPORTER_OTLP_COMPRESSION")
                .refuse("gzip")
                .is_some()
        );
        assert!(
            find("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
                .refuse("a=b,c")
                .is_some()
        );
        assert!(find("OTEL_EXPORTER_OTLP_TRACES_HEADERS").secret());
        assert_eq!(find("RUST_LOG").refuse("info,alys_node=debug"), None);
        assert!(find("RUST_LOG").refuse("info,[{").is_some());
    }
}
