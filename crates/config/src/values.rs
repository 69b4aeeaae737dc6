//! Typed setting values and their parsers. A parser returns the reason a value is refused;
//! the caller adds the setting's name and the value.

use std::net::SocketAddr;
use std::time::Duration;

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (tonic).
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
}

/// Aggregation temporality the OTLP metric exporter asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsTemporality {
    Cumulative,
    Delta,
    LowMemory,
}

/// Format of the process's own log lines on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object a line, carrying `trace_id` and `span_id` inside spans.
    Json,
}

/// The trace sampler, as OTEL_TRACES_SAMPLER names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerChoice {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

pub(crate) fn parse_protocol(v: &str) -> Result<OtlpProtocol, String> {
    match v {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Err("http/json is not supported; use grpc or http/protobuf".into()),
        _ => Err("expected grpc or http/protobuf".into()),
    }
}

pub(crate) fn parse_temporality(v: &str) -> Result<MetricsTemporality, String> {
    match v.to_ascii_lowercase().as_str() {
        "cumulative" => Ok(MetricsTemporality::Cumulative),
        "delta" => Ok(MetricsTemporality::Delta),
        "lowmemory" => Ok(MetricsTemporality::LowMemory),
        _ => Err("expected cumulative, delta or lowmemory".into()),
    }
}

pub(crate) fn parse_log_format(v: &str) -> Result<LogFormat, String> {
    match v {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".into()),
    }
}

pub(crate) fn parse_sampler(v: &str, ratio: f64) -> Result<SamplerChoice, String> {
    match v {
        "always_on" => Ok(SamplerChoice::AlwaysOn),
        "always_off" => Ok(SamplerChoice::AlwaysOff),
        "traceidratio" => Ok(SamplerChoice::TraceIdRatio(ratio)),
        "parentbased_always_on" => Ok(SamplerChoice::ParentBasedAlwaysOn),
        "parentbased_always_off" => Ok(SamplerChoice::ParentBasedAlwaysOff),
        "parentbased_traceidratio" => Ok(SamplerChoice::ParentBasedTraceIdRatio(ratio)),
        _ => Err(
            "expected always_on, always_off, traceidratio, parentbased_always_on, \
                  parentbased_always_off or parentbased_traceidratio"
                .into(),
        ),
    }
}

pub(crate) fn parse_ratio(v: &str) -> Result<f64, String> {
    let ratio: f64 = v
        .parse()
        .map_err(|_| "expected a number from 0 to 1".to_string())?;
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err("the ratio must lie between 0 and 1".into())
    }
}

pub(crate) fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// A file path, or nothing when empty (the way to unset a path set in a lower layer).
pub(crate) fn parse_optional_path(v: &str) -> Result<Option<std::path::PathBuf>, String> {
    Ok((!v.is_empty()).then(|| std::path::PathBuf::from(v)))
}

pub(crate) fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| "expected an IP address and port, for example 127.0.0.1:9001".into())
}

/// A whole number within `min..=max`. Out-of-range values are refused, never clamped or
/// wrapped: the SDK allocates queues of the size it is given, and a number past `u64` or a
/// million-fold default has crashed start-up (a panic, or an abort on allocation).
pub(crate) fn parse_count(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let range = || format!("expected a whole number from {min} to {max}");
    // Digits only: `+5` and `5_000` are not what the OpenTelemetry variables allow.
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(range());
    }
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(range()),
    }
}

/// A whole number of milliseconds from 1 to `max_ms`.
pub(crate) fn parse_millis_up_to(v: &str, max_ms: u64) -> Result<Duration, String> {
    parse_count(v, 1, max_ms)
        .map(Duration::from_millis)
        .map_err(|_| format!("expected a whole number of milliseconds from 1 to {max_ms}"))
}

pub(crate) fn parse_nonempty(v: &str) -> Result<String, String> {
    if v.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(v.to_string())
    }
}

/// An OTLP endpoint: an absolute http or https URL with a host.
pub(crate) fn parse_endpoint(v: &str) -> Result<String, String> {
    let uri: http::Uri = v
        .parse()
        .map_err(|_| "expected a URL such as http://collector:4317".to_string())?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err("the URL must start with http:// or https://".into()),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(v.trim_end_matches('/').to_string()),
        _ => Err("the URL has no host".into()),
    }
}

/// The endpoint of one signal when only the base endpoint (or nothing) is given. For
/// http/protobuf the specification appends `/v1/<signal>`; gRPC uses the base as it is.
pub(crate) fn signal_endpoint(base: Option<&str>, protocol: OtlpProtocol, signal: &str) -> String {
    match protocol {
        OtlpProtocol::Grpc => base.unwrap_or("http://localhost:4317").to_string(),
        OtlpProtocol::HttpProtobuf => {
            format!("{}/v1/{signal}", base.unwrap_or("http://localhost:4318"))
        }
    }
}

pub(crate) fn parse_attribute(key: &str, _value: &str) -> Result<(), String> {
    if key.is_empty() {
        Err("an attribute has an empty key".into())
    } else {
        Ok(())
    }
}

pub(crate) fn parse_header(key: &str, value: &str) -> Result<(), String> {
    http::HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| format!("`{key}` is not a valid header name"))?;
    http::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header `{key}` has characters a header cannot carry"))?;
    Ok(())
}

/// Parses `k1=v1,k2=v2` with percent-encoded values, as the OTEL_*_HEADERS and
/// OTEL_RESOURCE_ATTRIBUTES variables are written. Reasons never quote a value.
pub(crate) fn parse_key_value_list(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("entry {} has no `=`", i + 1));
        };
        let key = percent_decode(k.trim()).ok_or(format!("entry {} has a bad %-escape", i + 1))?;
        let value =
            percent_decode(v.trim()).ok_or(format!("entry {} has a bad %-escape", i + 1))?;
        out.push((key, value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_lists_are_percent_decoded() {
        assert_eq!(
            parse_key_value_list("a=b%20c, d = e%2Cf ,").unwrap(),
            vec![("a".into(), "b c".into()), ("d".into(), "e,f".into())]
        );
        assert_eq!(
            parse_key_value_list("a=b,c").unwrap_err(),
            "entry 2 has no `=`"
        );
        assert!(parse_key_value_list("a=%zz").is_err());
    }

    #[test]
    fn endpoints_need_scheme_and_host() {
        assert_eq!(parse_endpoint("http://c:4317/").unwrap(), "http://c:4317");
        assert!(parse_endpoint("c:4317").is_err());
        assert!(parse_endpoint("ftp://c:4317").is_err());
        assert!(parse_endpoint("not a url").is_err());
    }

    #[test]
    fn http_protobuf_appends_the_signal_path() {
        assert_eq!(
            signal_endpoint(Some("http://c:4318"), OtlpProtocol::HttpProtobuf, "traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            signal_endpoint(None, OtlpProtocol::Grpc, "traces"),
            "http://localhost:4317"
        );
    }

    #[test]
    fn counts_and_durations_are_bounded_not_wrapped() {
        assert_eq!(parse_count("2048", 1, 65_536), Ok(2048));
        for bad in [
            "0",
            "65537",
            "1000000000000",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "+5",
            "5_000",
            "",
            "1e3",
        ] {
            let err = parse_count(bad, 1, 65_536).unwrap_err();
            assert!(err.contains("from 1 to 65536"), "{bad}: {err}");
        }
        assert_eq!(
            parse_millis_up_to("250", 1_000),
            Ok(Duration::from_millis(250))
        );
        assert!(parse_millis_up_to("0", 1_000).is_err());
        assert!(parse_millis_up_to("18446744073709551615", 1_000).is_err());
    }

    #[test]
    fn ratio_bounds() {
        assert_eq!(parse_ratio("0").unwrap(), 0.0);
        assert_eq!(parse_ratio("1").unwrap(), 1.0);
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("NaN").is_err());
    }
}
