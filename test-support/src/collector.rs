//! The OpenTelemetry Collector itself as the tests' OTLP receiver: the build of
//! otel-collector/builder-config.yaml at the pinned release, listening for OTLP over gRPC and
//! HTTP on loopback, writing what it receives as OTLP JSON (its file exporter), which is read
//! back here through the OTLP protocol's own types.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

/// A running collector receiving OTLP; killed on drop.
pub struct OtlpCollector {
    pub grpc_port: u16,
    pub http_port: u16,
    pub proc: Proc,
    pub(crate) dir: TempDir,
    /// The health check's and the collector's own metrics' ports.
    pub(crate) health_port: u16,
    pub(crate) telemetry_port: u16,
    /// The shipped configuration the receivers come from (`start_shipped`), if any.
    pub(crate) shipped: Option<PathBuf>,
    /// How many times this collector was started: each start writes files of its own.
    pub(crate) incarnation: u32,
}

/// A received span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedSpan {
    /// Lower-case hex, as W3C trace context writes it.
    pub trace_id: String,
    /// Empty for a root span.
    pub parent_id: String,
    pub span_id: String,
    pub name: String,
    /// `SPAN_KIND_INTERNAL`, …
    pub kind: String,
    /// `STATUS_CODE_ERROR`, …; empty when the span carries no status.
    pub status_code: String,
    pub status_message: String,
    pub scope: String,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<(String, Vec<(String, String)>)>,
    pub links: Vec<(String, String)>,
    pub service_name: Option<String>,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        find_attr(&self.attributes, key)
    }
}

/// One data point of a received metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedPoint {
    pub attributes: Vec<(String, String)>,
    /// Sum and gauge points.
    pub value: Option<f64>,
    /// Histogram points.
    pub count: Option<u64>,
    pub sum: Option<f64>,
}

impl ReceivedPoint {
    pub fn attr(&self, key: &str) -> Option<&str> {
        find_attr(&self.attributes, key)
    }
}

/// A metric as one export carried it (cumulative metrics arrive once per export).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedMetric {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// `Sum`, `Gauge`, `Histogram`, `ExponentialHistogram`, `Summary`.
    pub data_type: String,
    pub scope: String,
    pub service_name: Option<String>,
    pub points: Vec<ReceivedPoint>,
}

/// A received log record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedLog {
    pub severity_text: String,
    pub severity_number: i32,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    /// Empty when the record is not correlated with a span.
    pub trace_id: String,
    pub span_id: String,
    pub service_name: Option<String>,
}

/// Everything the collector has received so far.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub spans: Vec<ReceivedSpan>,
    pub metrics: Vec<ReceivedMetric>,
    pub logs: Vec<ReceivedLog>,
    /// Distinct pairs from every resource, in first-seen order.
    pub resource_attributes: Vec<(String, String)>,
}

fn find_attr<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A value as text: scalars plainly, arrays and maps in a JSON-like notation.
pub fn any_value_text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values
                .iter()
                .map(any_value_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(any_value::Value::KvlistValue(kv)) => format!(
            "{{{}}}",
            kv.values
                .iter()
                .map(|kv| format!(
                    "{}: {}",
                    kv.key,
                    kv.value.as_ref().map(any_value_text).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(any_value::Value::BytesValue(b)) => b.iter().fold(String::new(), |mut s, byte| {
            let _ = write!(s, "{byte:02x}");
            s
        }),
        _ => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(any_value_text).unwrap_or_default(),
            )
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Received {
    fn resource(&mut self, resource: Option<&Resource>) -> Option<String> {
        let attributes = resource.map(|r| pairs(&r.attributes)).unwrap_or_default();
        for pair in &attributes {
            if !self.resource_attributes.contains(pair) {
                self.resource_attributes.push(pair.clone());
            }
        }
        find_attr(&attributes, "service.name").map(str::to_string)
    }

    fn add_traces(&mut self, request: ExportTraceServiceRequest) {
        for rs in request.resource_spans {
            let service = self.resource(rs.resource.as_ref());
            for ss in rs.scope_spans {
                let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                for span in ss.spans {
                    self.spans.push(ReceivedSpan {
                        trace_id: hex(&span.trace_id),
                        parent_id: hex(&span.parent_span_id),
                        span_id: hex(&span.span_id),
                        kind: span.kind().as_str_name().to_string(),
                        status_code: span
                            .status
                            .as_ref()
                            .map(|s| s.code().as_str_name().to_string())
                            .unwrap_or_default(),
                        status_message: span.status.map(|s| s.message).unwrap_or_default(),
                        attributes: pairs(&span.attributes),
                        events: span
                            .events
                            .iter()
                            .map(|e| (e.name.clone(), pairs(&e.attributes)))
                            .collect(),
                        links: span
                            .links
                            .iter()
                            .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                            .collect(),
                        name: span.name,
                        scope: scope.clone(),
                        service_name: service.clone(),
                    });
                }
            }
        }
    }

    fn add_metrics(&mut self, request: ExportMetricsServiceRequest) {
        for rm in request.resource_metrics {
            let service = self.resource(rm.resource.as_ref());
            for sm in rm.scope_metrics {
                let scope = sm.scope.map(|s| s.name).unwrap_or_default();
                for m in sm.metrics {
                    let (data_type, points) = match m.data {
                        Some(metric::Data::Sum(s)) => ("Sum", number_points(&s.data_points)),
                        Some(metric::Data::Gauge(g)) => ("Gauge", number_points(&g.data_points)),
                        Some(metric::Data::Histogram(h)) => (
                            "Histogram",
                            h.data_points
                                .iter()
                                .map(|p| ReceivedPoint {
                                    attributes: pairs(&p.attributes),
                                    value: None,
                                    count: Some(p.count),
                                    sum: p.sum,
                                })
                                .collect(),
                        ),
                        Some(metric::Data::ExponentialHistogram(_)) => {
                            ("ExponentialHistogram", Vec::new())
                        }
                        Some(metric::Data::Summary(_)) => ("Summary", Vec::new()),
                        None => ("", Vec::new()),
                    };
                    self.metrics.push(ReceivedMetric {
                        name: m.name,
                        description: m.description,
                        unit: m.unit,
                        data_type: data_type.to_string(),
                        scope: scope.clone(),
                        service_name: service.clone(),
                        points,
                    });
                }
            }
        }
    }

    fn add_logs(&mut self, request: ExportLogsServiceRequest) {
        for rl in request.resource_logs {
            let service = self.resource(rl.resource.as_ref());
            for sl in rl.scope_logs {
                for record in sl.log_records {
                    self.logs.push(ReceivedLog {
                        severity_text: record.severity_text,
                        severity_number: record.severity_number,
                        body: record.body.as_ref().map(any_value_text).unwrap_or_default(),
                        attributes: pairs(&record.attributes),
                        trace_id: hex(&record.trace_id),
                        span_id: hex(&record.span_id),
                        service_name: service.clone(),
                    });
                }
            }
        }
    }
}

fn number_points(
    points: &[opentelemetry_proto::tonic::metrics::v1::NumberDataPoint],
) -> Vec<ReceivedPoint> {
    points
        .iter()
        .map(|p| ReceivedPoint {
            attributes: pairs(&p.attributes),
            value: match p.value {
                Some(number_data_point::Value::AsDouble(d)) => Some(d),
                Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
                None => None,
            },
            count: None,
            sum: None,
        })
        .collect()
}

/// Each complete line of `path` parsed as `T`; a line still being written is left for later.
fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "the collector wrote a line of {} that is not OTLP JSON: {e}\n{l}",
                    path.display()
                )
            })
        })
        .collect()
}

impl OtlpCollector {
    /// Starts the collector on free loopback ports and waits until its health check answers.
    pub fn start() -> OtlpCollector {
        let binary = stack_tool("otelcol-alys");
        let dir = TempDir::new("otelcol");
        let (proc, [grpc_port, http_port, health_port, telemetry_port]) = start_server(
            "otelcol",
            || {
                let [grpc, http, health, telemetry] = distinct_free_ports();
                let config = dir.join("config.yaml");
                fs::write(
                    &config,
                    receiver_config(&dir.path, grpc, http, health, telemetry),
                )
                .expect("write the collector's config");
                let mut cmd = Command::new(&binary);
                cmd.arg(format!("--config={}", config.display()));
                (Proc::spawn(cmd, "otelcol"), [grpc, http, health, telemetry])
            },
            |&[_, _, health, _]| health_answers(health),
        );
        OtlpCollector {
            grpc_port,
            http_port,
            proc,
            dir,
            health_port,
            telemetry_port,
            shipped: None,
            incarnation: 0,
        }
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Everything received so far (by every start of this collector, in order).
    pub fn received(&self) -> Received {
        let mut received = Received::default();
        for path in self.files("traces") {
            for request in read_lines(&path) {
                received.add_traces(request);
            }
        }
        for path in self.files("metrics") {
            for request in read_lines(&path) {
                received.add_metrics(request);
            }
        }
        for path in self.files("logs") {
            for request in read_lines(&path) {
                received.add_logs(request);
            }
        }
        received
    }

    /// The files `signal` was written to: `<signal>.jsonl`, or one per start
    /// (`<signal>-<n>.jsonl`) for a collector that restarts.
    pub(crate) fn files(&self, signal: &str) -> Vec<PathBuf> {
        let single = self.dir.join(format!("{signal}.jsonl"));
        if self.shipped.is_none() {
            return vec![single];
        }
        (0..=self.incarnation)
            .map(|n| self.dir.join(format!("{signal}-{n}.jsonl")))
            .collect()
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received().spans
    }

    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.received().logs
    }

    pub fn metric_names(&self) -> BTreeSet<String> {
        self.received()
            .metrics
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    /// Every distinct key/value pair seen in any resource (spans, metrics, logs).
    pub fn resource_attributes(&self) -> Vec<(String, String)> {
        self.received().resource_attributes
    }

    /// Polls until a span called `name` has arrived.
    #[track_caller]
    pub fn wait_for_span(&self, name: &str, timeout: Duration) -> ReceivedSpan {
        wait_until(&format!("span {name:?} at the collector"), timeout, || {
            self.spans().into_iter().find(|s| s.name == name)
        })
    }

    /// Polls until metric `name` has arrived; returns its latest export.
    #[track_caller]
    pub fn wait_for_metric(&self, name: &str, timeout: Duration) -> ReceivedMetric {
        wait_until(
            &format!("metric {name:?} at the collector"),
            timeout,
            || {
                self.received()
                    .metrics
                    .into_iter()
                    .rev()
                    .find(|m| m.name == name)
            },
        )
    }
}

pub(crate) fn health_answers(port: u16) -> bool {
    http_get(&format!("http://127.0.0.1:{port}/")).is_ok_and(|(code, _, _)| code == 200)
}

pub(crate) fn distinct_free_ports<const N: usize>() -> [u16; N] {
    let mut ports = [0u16; N];
    for i in 0..N {
        ports[i] = loop {
            let port = free_port();
            if !ports[..i].contains(&port) {
                break port;
            }
        };
    }
    ports
}

/// OTLP in on loopback, every signal out to a JSON-lines file, health and the collector's
/// own telemetry on loopback ports of their own.
/// The exporter `file/<signal>`: OTLP JSON lines into `path`, flushed every 100 ms.
pub(crate) fn file_exporter(signal: &str, path: &Path) -> String {
    format!(
        "  file/{signal}:\n    path: {}\n    format: json\n    flush_interval: 100ms\n",
        path.display()
    )
}

fn receiver_config(dir: &Path, grpc: u16, http: u16, health: u16, telemetry: u16) -> String {
    let file = |signal: &str| file_exporter(signal, &dir.join(format!("{signal}.jsonl")));
    format!(
        "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
         receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\n\
         exporters:\n{}{}{}\
         service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: {telemetry}\n\
         \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file/traces]\n    metrics:\n      receivers: [otlp]\n      exporters: [file/metrics]\n    logs:\n      receivers: [otlp]\n      exporters: [file/logs]\n",
        file("traces"),
        file("metrics"),
        file("logs"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One export as the collector's file exporter writes it: OTLP JSON, ids in hex.
    const TRACES: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"alys-node"}}]},"scopeSpans":[{"scope":{"name":"alys"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"engine.execute_block","kind":1,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"block.height","value":{"intValue":"42"}}],"status":{"code":2,"message":"boom"}}]}]}]}"#;

    #[test]
    fn reads_otlp_json_as_the_collector_writes_it() {
        let mut received = Received::default();
        received.add_traces(serde_json::from_str(TRACES).expect("OTLP JSON"));
        let span = &received.spans[0];
        assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.parent_id, "eee19b7ec3c1b173");
        assert_eq!(span.name, "engine.execute_block");
        assert_eq!(span.kind, "SPAN_KIND_INTERNAL");
        assert_eq!(span.status_code, "STATUS_CODE_ERROR");
        assert_eq!(span.attr("block.height"), Some("42"));
        assert_eq!(span.service_name.as_deref(), Some("alys-node"));
        assert_eq!(
            received.resource_attributes,
            [("service.name".to_string(), "alys-node".to_string())]
        );
    }

    #[test]
    fn a_line_still_being_written_waits_for_its_end() {
        let dir = TempDir::new("otlp-lines");
        let path = dir.join("traces.jsonl");
        fs::write(&path, format!("{TRACES}\n{}", &TRACES[..40])).expect("write");
        assert_eq!(read_lines::<ExportTraceServiceRequest>(&path).len(), 1);
    }
}
