use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Layer {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Layer::from_env_with(move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

fn file(text: &str) -> Layer {
    Layer::from_toml(text, Path::new("alys.toml")).unwrap()
}

#[test]
fn defaults_match_the_settings_table() {
    let c = TelemetryConfig::default();
    assert_eq!(c.pull.listen.to_string(), "127.0.0.1:9001");
    assert!(c.pull.enabled && c.push.enabled && !c.sdk_disabled);
    assert_eq!(c.push.protocol, OtlpProtocol::Grpc);
    assert_eq!(c.push.traces_endpoint, "http://localhost:4317");
    assert_eq!(c.push.timeout, Duration::from_secs(10));
    assert_eq!(c.push.metric_export_interval, Duration::from_secs(60));
    assert_eq!(c.push.temporality, MetricsTemporality::Cumulative);
    assert_eq!(c.sampler, SamplerChoice::ParentBasedTraceIdRatio(1.0));
    assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let f = file(
        "[pull]\nlisten = \"127.0.0.1:1111\"\n[traces]\nsampler = \"always_off\"\n[log]\nformat = \"json\"\n",
    );
    let e = env(&[
        ("ALYS_TELEMETRY_LISTEN", "127.0.0.1:2222"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
    ]);
    let flags = Layer::new(Origin::Flag).set(settings::LISTEN, "127.0.0.1:3333");

    let c = TelemetryConfig::from_layers(std::slice::from_ref(&f)).unwrap();
    assert_eq!(c.pull.listen.port(), 1111);
    let c = TelemetryConfig::from_layers(&[f.clone(), e.clone()]).unwrap();
    assert_eq!(c.pull.listen.port(), 2222);
    assert_eq!(c.sampler, SamplerChoice::AlwaysOn);
    assert_eq!(
        c.log_format,
        LogFormat::Json,
        "the file still applies where env is silent"
    );
    let c = TelemetryConfig::from_layers(&[f, e, flags]).unwrap();
    assert_eq!(c.pull.listen.port(), 3333);
}

#[test]
fn signal_endpoints_follow_the_specification() {
    let c = TelemetryConfig::from_layers(&[env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://logs:9999/custom",
        ),
    ])])
    .unwrap();
    assert_eq!(c.push.traces_endpoint, "http://collector:4318/v1/traces");
    assert_eq!(c.push.metrics_endpoint, "http://collector:4318/v1/metrics");
    assert_eq!(c.push.logs_endpoint, "http://logs:9999/custom");
}

#[test]
fn each_invalid_value_names_its_key_and_value() {
    let cases = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "::nonsense"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sideways",
        ),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("ALYS_TELEMETRY_LISTEN", "localhost"),
        ("ALYS_TELEMETRY_LOG_FORMAT", "xml"),
        ("ALYS_TELEMETRY_SHUTDOWN_TIMEOUT_MS", "-1"),
    ];
    for (var, value) in cases {
        let err = TelemetryConfig::from_layers(&[env(&[(var, value)])])
            .expect_err(var)
            .to_string();
        assert!(err.contains(var), "{var}: {err}");
        assert!(err.contains(value), "{var}: {err}");
    }
}

#[test]
fn file_values_are_named_by_their_file_key() {
    let err = TelemetryConfig::from_layers(&[file("[push]\nprotocol = \"smoke\"\n")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("push.protocol in alys.toml"), "{err}");
    assert!(err.contains("smoke"), "{err}");
}

#[test]
fn header_values_never_appear_in_errors_or_debug() {
    let secret = "s3cr3t-token-value";
    let c = TelemetryConfig::from_layers(&[env(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        &format!("authorization=Bearer%20{secret}"),
    )])])
    .unwrap();
    assert_eq!(
        c.push.headers.iter().collect::<Vec<_>>(),
        vec![("authorization", format!("Bearer {secret}").as_str())]
    );
    assert!(!format!("{c:?}").contains(secret));

    // A malformed list and a bad header name: the message names the variable, not the token.
    for bad in [
        format!("authorization{secret}"),
        format!("bad name={secret}"),
    ] {
        let err = TelemetryConfig::from_layers(&[env(&[("OTEL_EXPORTER_OTLP_HEADERS", &bad)])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{err}");
        assert!(!err.contains(secret), "{err}");
    }
}

#[test]
fn resource_attributes_come_from_env_or_file_table() {
    let c = TelemetryConfig::from_layers(&[env(&[(
        "OTEL_RESOURCE_ATTRIBUTES",
        "team=chain,region=eu%2Dwest",
    )])])
    .unwrap();
    assert_eq!(
        c.resource_attributes,
        vec![
            ("team".into(), "chain".into()),
            ("region".into(), "eu-west".into())
        ]
    );
    let c =
        TelemetryConfig::from_layers(&[file("[resource.attributes]\nteam = \"sync\"\n")]).unwrap();
    assert_eq!(c.resource_attributes, vec![("team".into(), "sync".into())]);
}

#[test]
fn numbers_the_sdk_would_crash_on_are_refused_naming_the_variable() {
    for var in [
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BLRP_SCHEDULE_DELAY",
        "OTEL_BSP_EXPORT_TIMEOUT",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "ALYS_TELEMETRY_SHUTDOWN_TIMEOUT_MS",
        "ALYS_TELEMETRY_PULL_MAX_CONNECTIONS",
    ] {
        for value in ["18446744073709551615", "1000000000000", "-1"] {
            let err = TelemetryConfig::from_layers(&[env(&[(var, value)])])
                .expect_err(var)
                .to_string();
            assert!(err.contains(var) && err.contains(value), "{var}: {err}");
            assert!(err.contains(" to "), "the range is named: {err}");
        }
    }
}

#[test]
fn batch_settings_are_passed_as_given_and_a_batch_past_its_queue_is_refused() {
    let c = TelemetryConfig::default();
    assert_eq!(
        (
            c.span_batch.max_queue_size,
            c.span_batch.max_export_batch_size,
            c.span_batch.schedule_delay
        ),
        (65_536, 2_048, Duration::from_secs(1)),
        "sized for message rate"
    );
    assert_eq!(c.log_batch, ExportBatch::LOGS);
    // The settings table (README, `alys-telemetry settings`) shows the same defaults.
    for (setting, default) in [
        (settings::SPAN_QUEUE, ExportBatch::SPANS.max_queue_size),
        (
            settings::SPAN_DELAY,
            ExportBatch::SPANS.schedule_delay.as_millis() as usize,
        ),
        (settings::LOG_QUEUE, ExportBatch::LOGS.max_queue_size),
        (
            settings::LOG_DELAY,
            ExportBatch::LOGS.schedule_delay.as_millis() as usize,
        ),
    ] {
        assert_eq!(setting.default, default.to_string(), "{}", setting.key);
    }
    for (setting, default) in [
        (
            settings::SPAN_BATCH,
            ExportBatch::SPANS.max_export_batch_size,
        ),
        (settings::LOG_BATCH, ExportBatch::LOGS.max_export_batch_size),
    ] {
        assert!(
            setting.default.starts_with(&format!("{default} ")),
            "{}",
            setting.key
        );
    }
    assert_eq!(c.log_batch.schedule_delay, Duration::from_secs(1));
    let c = TelemetryConfig::from_layers(&[env(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "250"),
    ])])
    .unwrap();
    assert_eq!(c.span_batch.max_queue_size, 100);
    assert_eq!(
        c.span_batch.max_export_batch_size, 100,
        "the default follows the queue"
    );
    assert_eq!(c.log_batch.schedule_delay, Duration::from_millis(250));
    let err = TelemetryConfig::from_layers(&[file(
        "[traces.batch]\nmax_queue_size = 10\nmax_export_batch_size = 11\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("traces.batch.max_export_batch_size in alys.toml") && err.contains("(10)"),
        "{err}"
    );
}

#[test]
fn sdk_variables_and_non_utf8_values_stop_the_load_by_name() {
    let err = TelemetryConfig::from_layers(&[env(&[("OTEL_SPAN_LINK_COUNT_LIMIT", "lots")])])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_SPAN_LINK_COUNT_LIMIT") && err.contains("lots"),
        "{err}"
    );
    let layer = Layer::from_env_os_with(|name| {
        (name == "OTEL_TRACES_SAMPLER")
            .then(|| std::os::unix::ffi::OsStringExt::from_vec(b"always_on\xff".to_vec()))
    });
    let err = TelemetryConfig::from_layers(&[layer])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_TRACES_SAMPLER") && err.contains("UTF-8"),
        "{err}"
    );
}

#[test]
fn url_credentials_appear_in_no_debug_output_or_error() {
    let c = TelemetryConfig::from_layers(&[env(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://user:pa55w0rd@collector:4317",
    )])])
    .unwrap();
    assert_eq!(
        c.push.traces_endpoint,
        "http://user:pa55w0rd@collector:4317"
    );
    let shown = format!("{c:?} {c:#?} {}", c.push.metrics_endpoint);
    assert!(!shown.contains("pa55w0rd") && shown.contains("<redacted>@collector:4317"));
    for bad in [
        "ftp://user:pa55w0rd@collector",
        "user:pa55w0rd@collector:4317",
    ] {
        let err = TelemetryConfig::from_layers(&[env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", bad)])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
        assert!(!err.contains("pa55w0rd"), "{err}");
    }
}

/// Property tests: whatever the environment or the file says, loading either succeeds with
/// values inside their ranges or names what it refuses; it never panics.
mod properties {
    use super::*;
    use crate::sdk_env::SDK_VARIABLES;
    use proptest::prelude::*;

    /// Every variable the environment layer reads.
    fn names() -> Vec<&'static str> {
        settings::ALL
            .iter()
            .map(|s| s.env)
            .chain(SDK_VARIABLES.iter().map(|v| v.name))
            .collect()
    }

    /// Values near what the parsers expect, and far from it.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9]{1,25}",
            "-?[0-9]{1,20}(\\.[0-9]{0,3})?",
            Just("18446744073709551615".to_string()),
            Just("1000000000000".to_string()),
            "(http|https|ftp|unix)://([a-z]{1,5}(:[a-z0-9]{0,5})?@)?[a-z0-9.]{0,12}(:[0-9]{1,6})?(/[a-z]{0,5})?",
            "[a-z_]{1,12}(=[a-z%0-9]{0,8})?(,[a-z_]{0,8}=[a-zA-Z%0-9 ]{0,8}){0,3}",
            "(true|false|grpc|http/protobuf|always_on|traceidratio|json|text|delta)",
        ]
    }

    fn check_ranges(c: &TelemetryConfig) {
        for batch in [c.span_batch, c.log_batch] {
            assert!(batch.max_export_batch_size <= batch.max_queue_size);
            assert!((1..=65_536).contains(&batch.max_queue_size));
            assert!(!batch.schedule_delay.is_zero());
        }
        assert!(!c.shutdown_timeout.is_zero() && c.shutdown_timeout <= Duration::from_secs(600));
        assert!(!c.push.timeout.is_zero() && !c.push.metric_export_interval.is_zero());
        assert!((1..=4096).contains(&c.pull.max_connections));
        assert!((1 << 20..=1 << 32).contains(&c.viewer.memory_bytes));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn any_environment_loads_in_range_or_names_what_it_refuses(
            set in proptest::collection::vec((0..names().len(), value()), 0..6)
        ) {
            let names = names();
            let pairs: Vec<(&str, String)> =
                set.iter().map(|(i, v)| (names[*i], v.clone())).collect();
            let borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            match TelemetryConfig::from_layers(&[env(&borrowed)]) {
                Ok(c) => check_ranges(&c),
                Err(e) => {
                    let e = e.to_string();
                    prop_assert!(
                        pairs.iter().any(|(k, _)| e.contains(k)),
                        "{e} names none of {pairs:?}"
                    );
                }
            }
        }

        #[test]
        fn values_that_are_not_utf8_are_refused_by_name(
            i in 0..names().len(),
            bytes in proptest::collection::vec(any::<u8>(), 1..16),
        ) {
            use std::os::unix::ffi::OsStringExt;
            let name = names()[i];
            let raw = std::ffi::OsString::from_vec(bytes.clone());
            let layer = Layer::from_env_os_with(|n| (n == name).then(|| raw.clone()));
            if String::from_utf8(bytes).is_err() {
                let e = TelemetryConfig::from_layers(&[layer]).unwrap_err().to_string();
                prop_assert!(e.contains(name) && e.contains("UTF-8"), "{e}");
            }
        }

        #[test]
        fn any_file_text_loads_in_range_or_is_refused(text in any::<String>()) {
            if let Ok(layer) = Layer::from_toml(&text, Path::new("fuzz.toml"))
                && let Ok(c) = TelemetryConfig::from_layers(&[layer])
            {
                check_ranges(&c);
            }
        }

        #[test]
        fn files_with_known_keys_and_any_values_load_in_range_or_name_the_key(
            entries in proptest::collection::vec(
                (0..settings::ALL.len(), prop_oneof![
                    value().prop_map(|v| format!("{v:?}")),
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_map(|f| format!("{f:?}")),
                    any::<bool>().prop_map(|b| b.to_string()),
                    Just("[1, 2]".to_string()),
                    Just("{ a = \"b\" }".to_string()),
                ]),
                0..5,
            )
        ) {
            let mut text = String::new();
            for (i, value) in &entries {
                text.push_str(&format!("{} = {value}\n", settings::ALL[*i].key));
            }
            let loaded = Layer::from_toml(&text, Path::new("fuzz.toml"))
                .and_then(|layer| TelemetryConfig::from_layers(&[layer]));
            match loaded {
                Ok(c) => check_ranges(&c),
                Err(e) => {
                    // Text that is not TOML (a key given twice) names the file; a value that
                    // does not fit names its key, in the file.
                    let e = e.to_string();
                    let names_a_key = entries
                        .iter()
                        .any(|(i, _)| e.contains(&format!("{} in fuzz.toml", settings::ALL[*i].key)));
                    prop_assert!(
                        names_a_key || e.starts_with("cannot use config file fuzz.toml"),
                        "{e}"
                    );
                }
            }
        }
    }
}
