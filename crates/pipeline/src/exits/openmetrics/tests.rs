use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::proto::{Bucket, Counter, Gauge, Histogram, LabelPair, Quantile, Summary, Untyped};

use super::*;

const PATH: &str = "/a\"b\\c\nd";
const PATH_ESCAPED: &str = r#"/a\"b\\c\nd"#;

/// Families as the pull endpoint gathers them: the SDK, its Prometheus reader, the registry.
fn gathered() -> Vec<MetricFamily> {
    let registry = prometheus::Registry::new();
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .scope_info_enabled(false)
        .build()
        .expect("the prometheus reader");
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let meter = provider.meter("test");
    meter
        .u64_counter("test_requests")
        .with_description("Requests \"served\" from C:\\srv\nsecond line")
        .build()
        .add(3, &[KeyValue::new("path", "/a")]);
    meter
        .f64_gauge("test_queue_depth")
        .with_description("Queued")
        .build()
        .record(2.5, &[]);
    let latency = meter
        .f64_histogram("test_latency")
        .with_unit("s")
        .with_description("Latency")
        .with_boundaries(vec![0.005, 0.5, 1.0])
        .build();
    for value in [0.25, 0.75, 2.0] {
        latency.record(value, &[KeyValue::new("path", PATH)]);
    }
    registry.gather()
}

fn exemplar_at(value: f64, millis: u64) -> Exemplar {
    Exemplar {
        trace_id: TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
        span_id: SpanId::from(0xb7ad_6b71_6920_3331),
        value,
        time: UNIX_EPOCH + Duration::from_millis(millis),
    }
}

fn text(
    families: &[MetricFamily],
    exemplar: impl Fn(&str, &[(&str, &str)], f64) -> Option<Exemplar>,
) -> String {
    let mut out = Vec::new();
    encode(families, exemplar, &mut out).expect("encodes");
    String::from_utf8(out).expect("UTF-8")
}

/// The lines from `first` on, `count` of them.
fn block<'a>(text: &'a str, first: &str, count: usize) -> Vec<&'a str> {
    text.lines()
        .skip_while(|line| *line != first)
        .take(count)
        .collect()
}

#[test]
fn encodes_what_the_sdk_gathers_with_one_exemplar() {
    let asked = RefCell::new(Vec::new());
    let out = text(&gathered(), |name, labels, le| {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        asked.borrow_mut().push((name.to_string(), labels, le));
        (name == "test_latency_seconds" && le == 0.5)
            .then(|| exemplar_at(0.0123, 1_733_500_000_123))
    });

    let bucket =
        |le: &str| format!("test_latency_seconds_bucket{{path=\"{PATH_ESCAPED}\",le=\"{le}\"}}");
    assert_eq!(
        block(&out, "# TYPE test_latency_seconds histogram", 8),
        [
            "# TYPE test_latency_seconds histogram".to_string(),
            "# HELP test_latency_seconds Latency".to_string(),
            format!("{} 0", bucket("0.005")),
            format!(
                "{} 1 # {{trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"}} 0.0123 1733500000.123",
                bucket("0.5")
            ),
            format!("{} 2", bucket("1")),
            format!("{} 3", bucket("+Inf")),
            format!("test_latency_seconds_count{{path=\"{PATH_ESCAPED}\"}} 3"),
            format!("test_latency_seconds_sum{{path=\"{PATH_ESCAPED}\"}} 3"),
        ],
        "{out}"
    );
    assert_eq!(out.matches(" # {").count(), 1, "one exemplar only: {out}");

    // Every bucket was asked about, +Inf included, with the series' labels as recorded.
    let path = vec![("path".to_string(), PATH.to_string())];
    let histogram_asks: Vec<_> = asked
        .borrow()
        .iter()
        .filter(|(name, _, _)| name == "test_latency_seconds")
        .cloned()
        .collect();
    assert_eq!(
        histogram_asks,
        [0.005, 0.5, 1.0, f64::INFINITY].map(|le| (
            "test_latency_seconds".to_string(),
            path.clone(),
            le
        ))
    );
    assert_eq!(asked.borrow().len(), 4, "only histogram buckets ask");

    // The counter's family has no `_total`; its sample has. HELP is escaped.
    assert_eq!(
        block(&out, "# TYPE test_requests counter", 3),
        [
            "# TYPE test_requests counter",
            r#"# HELP test_requests Requests \"served\" from C:\\srv\nsecond line"#,
            r#"test_requests_total{path="/a"} 3"#,
        ],
        "{out}"
    );
    assert_eq!(
        block(&out, "# TYPE test_queue_depth gauge", 3),
        [
            "# TYPE test_queue_depth gauge",
            "# HELP test_queue_depth Queued",
            "test_queue_depth 2.5"
        ]
    );
    assert!(
        !out.contains("test_requests_total_total") && !out.contains("# TYPE test_requests_total")
    );
    assert!(out.ends_with("\n# EOF\n"), "{out}");
    assert_eq!(out.matches("# EOF").count(), 1);
}

fn family(name: &str, kind: MetricType, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_string());
    pair.set_value(value.to_string());
    pair
}

fn no_exemplars(_: &str, _: &[(&str, &str)], _: f64) -> Option<Exemplar> {
    None
}

#[test]
fn counter_without_total_keeps_its_name_and_its_sample_gets_it() {
    let mut counter = Counter::default();
    counter.set_value(5.0);
    let mut metric = Metric::default();
    metric.set_counter(counter);
    let out = text(
        &[family("jobs", MetricType::COUNTER, "", vec![metric])],
        no_exemplars,
    );
    assert_eq!(out, "# TYPE jobs counter\njobs_total 5\n# EOF\n");
}

#[test]
#[allow(deprecated)] // Untyped's setters: deprecated as protobuf-only, still the model.
fn summary_untyped_special_values_and_timestamps() {
    let quantile = |q: f64, v: f64| {
        let mut quantile = Quantile::default();
        quantile.set_quantile(q);
        quantile.set_value(v);
        quantile
    };
    let mut summary = Summary::default();
    summary.set_quantile(vec![quantile(0.5, 0.125), quantile(0.99, f64::NAN)]);
    summary.set_sample_count(4);
    summary.set_sample_sum(1.5);
    let mut rpc = Metric::default();
    rpc.set_label(vec![label("method", "get")]);
    rpc.set_summary(summary);
    rpc.set_timestamp_ms(1_520_879_607_789);

    let mut untyped = Untyped::default();
    untyped.set_value(f64::NEG_INFINITY);
    let mut legacy = Metric::default();
    legacy.set_untyped(untyped);
    legacy.set_timestamp_ms(-1_123);

    let mut gauge = Gauge::default();
    gauge.set_value(f64::INFINITY);
    let mut level = Metric::default();
    level.set_gauge(gauge);

    let families = [
        family("rpc_seconds", MetricType::SUMMARY, "RPCs", vec![rpc]),
        family("legacy", MetricType::UNTYPED, "", vec![legacy]),
        family("level", MetricType::GAUGE, "", vec![level]),
    ];
    assert_eq!(
        text(&families, no_exemplars),
        "# TYPE rpc_seconds summary\n\
         # HELP rpc_seconds RPCs\n\
         rpc_seconds{method=\"get\",quantile=\"0.5\"} 0.125 1520879607.789\n\
         rpc_seconds{method=\"get\",quantile=\"0.99\"} NaN 1520879607.789\n\
         rpc_seconds_count{method=\"get\"} 4 1520879607.789\n\
         rpc_seconds_sum{method=\"get\"} 1.5 1520879607.789\n\
         # TYPE legacy unknown\n\
         legacy -Inf -1.123\n\
         # TYPE level gauge\n\
         level +Inf\n\
         # EOF\n"
    );
}

#[test]
fn an_explicit_inf_bucket_is_not_repeated_and_carries_its_exemplar() {
    let bucket = |le: f64, count: u64| {
        let mut bucket = Bucket::default();
        bucket.set_upper_bound(le);
        bucket.set_cumulative_count(count);
        bucket
    };
    let mut histogram = Histogram::default();
    histogram.set_bucket(vec![bucket(1.0, 1), bucket(f64::INFINITY, 2)]);
    histogram.set_sample_count(2);
    histogram.set_sample_sum(0.1 + 0.2);
    let mut metric = Metric::default();
    metric.set_histogram(histogram);
    let families = [family(
        "wait_seconds",
        MetricType::HISTOGRAM,
        "",
        vec![metric],
    )];
    let out = text(&families, |name, labels, le| {
        assert!(name == "wait_seconds" && labels.is_empty());
        let mut e = exemplar_at(f64::INFINITY, 1_234);
        e.trace_id = TraceId::from(7);
        e.span_id = SpanId::from(9);
        // Sub-millisecond precision is dropped.
        e.time += Duration::from_micros(999);
        (le == f64::INFINITY).then_some(e)
    });
    assert_eq!(
        out,
        "# TYPE wait_seconds histogram\n\
         wait_seconds_bucket{le=\"1\"} 1\n\
         wait_seconds_bucket{le=\"+Inf\"} 2 # {trace_id=\"00000000000000000000000000000007\",span_id=\"0000000000000009\"} +Inf 1.234\n\
         wait_seconds_count 2\n\
         wait_seconds_sum 0.30000000000000004\n\
         # EOF\n"
    );
}

#[test]
fn a_nameless_family_is_an_error_and_leaves_the_buffer_as_it_was() {
    let mut out = b"kept".to_vec();
    let mut gauge = Metric::default();
    gauge.set_gauge(Gauge::default());
    let families = [
        family("fine", MetricType::GAUGE, "", vec![gauge.clone()]),
        family("", MetricType::GAUGE, "", vec![gauge]),
    ];
    let error = encode(&families, no_exemplars, &mut out).expect_err("no name");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(out, b"kept");
}

#[test]
fn content_types() {
    assert_eq!(
        Format::PrometheusText.content_type(),
        "text/plain; version=0.0.4"
    );
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

#[test]
fn negotiates_like_prometheus_exporters() {
    use Format::{OpenMetrics, PrometheusText};
    let cases = [
        // Prometheus 3's scrape header: protobuf first, which we skip.
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
            OpenMetrics,
        ),
        // Prometheus 2's.
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OpenMetrics,
        ),
        ("*/*", PrometheusText), // curl
        ("*", PrometheusText),
        ("text/*", PrometheusText),
        ("", PrometheusText),
        ("  ,  ;  ", PrometheusText),
        ("nonsense", PrometheusText),
        (
            "text/plain;q=0.9, application/openmetrics-text;q=0.1",
            PrometheusText,
        ),
        (
            "application/openmetrics-text;q=0.1, text/plain;q=0.9",
            PrometheusText,
        ),
        ("application/openmetrics-text;version=2.0.0", PrometheusText),
        (
            "application/openmetrics-text;version=2.0.0, text/plain;version=9.9.9",
            PrometheusText,
        ),
        ("application/openmetrics-text;q=0", PrometheusText),
        ("application/openmetrics-text;q=zero", PrometheusText),
        (
            "application/openmetrics-text;q=0, */*;q=0.1",
            PrometheusText,
        ),
        ("application/openmetrics-text;version=0.0.1", OpenMetrics),
        ("application/openmetrics-text", OpenMetrics),
        // Equal q: the header's order decides.
        ("application/openmetrics-text, text/plain", OpenMetrics),
        ("text/plain, application/openmetrics-text", PrometheusText),
        (
            "*/*;q=0.5, application/openmetrics-text;q=0.5",
            PrometheusText,
        ),
        // Case, spaces and quoted versions.
        (
            " Application/OpenMetrics-Text ; Version=\"1.0.0\" ; Q=0.8 , text/plain;q=0.2",
            OpenMetrics,
        ),
        // What we do not serve falls through to what we do, or to the text format.
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            PrometheusText,
        ),
        (
            "application/json, application/openmetrics-text;q=0.1",
            OpenMetrics,
        ),
    ];
    for (accept, expected) in cases {
        assert_eq!(negotiate(Some(accept)), expected, "Accept: {accept:?}");
    }
    assert_eq!(negotiate(None), PrometheusText);
}
