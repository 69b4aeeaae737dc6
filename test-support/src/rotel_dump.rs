//! Parsing rotel's detailed debug output into spans, metrics and logs.

/// Everything parsed from rotel's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotelDump {
    pub spans: Vec<RotelSpan>,
    /// One entry per metric per export: cumulative metrics appear repeatedly.
    pub metrics: Vec<RotelMetric>,
    pub logs: Vec<RotelLog>,
    /// Distinct pairs from every resource section, in first-seen order.
    pub resource_attributes: Vec<(String, String)>,
}

/// Attribute values are unwrapped for scalars (`Str(abc)` -> `abc`, `Int(42)`
/// -> `42`); other types keep rotel's notation (`Slice(Int(1), Int(2))`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotelSpan {
    pub trace_id: String,
    /// Empty for root spans.
    pub parent_id: String,
    pub span_id: String,
    pub name: String,
    pub kind: String,
    /// Empty when the span carries no status.
    pub status_code: String,
    pub status_message: String,
    pub scope: String,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<RotelEvent>,
    pub service_name: Option<String>,
}

impl RotelSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        find_attr(&self.attributes, key)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotelEvent {
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotelMetric {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// "Sum", "Gauge", "Histogram", ...
    pub data_type: String,
    pub scope: String,
    pub service_name: Option<String>,
    pub points: Vec<RotelDataPoint>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotelDataPoint {
    pub attributes: Vec<(String, String)>,
    /// Sum and gauge points.
    pub value: Option<f64>,
    /// Histogram points.
    pub count: Option<u64>,
    pub sum: Option<f64>,
}

impl RotelDataPoint {
    pub fn attr(&self, key: &str) -> Option<&str> {
        find_attr(&self.attributes, key)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotelLog {
    pub severity_text: String,
    /// As printed, e.g. "SEVERITY_NUMBER_WARN(13)".
    pub severity_number: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    /// Empty when the record is not correlated with a span.
    pub trace_id: String,
    pub span_id: String,
    pub service_name: Option<String>,
}

impl RotelLog {
    pub fn attr(&self, key: &str) -> Option<&str> {
        find_attr(&self.attributes, key)
    }
}

fn find_attr<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses the (ANSI-stripped) output of a rotel-agent started like `Rotel::start`.
/// Lines that are not part of a dump (rotel's own log lines) are ignored.
pub fn parse_rotel_output(text: &str) -> RotelDump {
    let mut parser = Parser::default();
    for line in logical_lines(text) {
        parser.line(&line);
    }
    parser.finish_item();
    parser.dump
}

/// What the next `-> key: value` line belongs to.
#[derive(Clone, Copy, PartialEq, Default)]
enum Section {
    #[default]
    Other,
    Resource,
    Descriptor,
    Attributes,
    PointAttributes,
    EventFields,
    EventAttributes,
}

/// The span, metric or log record being read.
#[derive(Default)]
enum Item {
    #[default]
    None,
    Span(RotelSpan),
    Metric(RotelMetric),
    Log(RotelLog),
}

#[derive(Default)]
struct Parser {
    dump: RotelDump,
    service: Option<String>,
    scope: String,
    item: Item,
    section: Section,
}

impl Parser {
    fn line(&mut self, line: &str) {
        if let Some((key, value)) = arrow(line) {
            self.attribute(key, value);
            return;
        }
        self.section = Section::Other;
        if [
            "ResourceSpans #",
            "ResourceMetrics #",
            "ResourceLog #",
            "ResourceLogs #",
        ]
        .iter()
        .any(|h| line.starts_with(h))
        {
            self.finish_item();
            self.service = None;
            self.scope.clear();
        } else if ["ScopeSpans #", "ScopeMetrics #", "ScopeLogs #"]
            .iter()
            .any(|h| line.starts_with(h))
        {
            self.finish_item();
            self.scope.clear();
        } else if let Some(scope) = line.strip_prefix("InstrumentationScope ") {
            // "<name> <version>"
            self.scope = scope.split_whitespace().next().unwrap_or("").to_string();
        } else if line.starts_with("Span #") {
            self.start_item(Item::Span(RotelSpan {
                service_name: self.service.clone(),
                scope: self.scope.clone(),
                ..Default::default()
            }));
        } else if line.starts_with("Metric #") {
            self.start_item(Item::Metric(RotelMetric {
                service_name: self.service.clone(),
                scope: self.scope.clone(),
                ..Default::default()
            }));
        } else if line.starts_with("LogRecord #") {
            self.start_item(Item::Log(RotelLog {
                service_name: self.service.clone(),
                ..Default::default()
            }));
        } else if line.contains("DataPoints #") {
            // NumberDataPoints, HistogramDataPoints, ...
            if let Item::Metric(metric) = &mut self.item {
                metric.points.push(RotelDataPoint::default());
            }
        } else if line.starts_with("SpanEvent #") {
            if let Item::Span(span) = &mut self.item {
                span.events.push(RotelEvent::default());
                self.section = Section::EventFields;
            }
        } else {
            self.section = match line {
                "Resource attributes:" => Section::Resource,
                "Attributes:" => Section::Attributes,
                "Descriptor:" => Section::Descriptor,
                "Data point attributes:" => Section::PointAttributes,
                _ => {
                    self.field(line);
                    Section::Other
                }
            };
        }
    }

    fn start_item(&mut self, item: Item) {
        self.finish_item();
        self.item = item;
    }

    fn finish_item(&mut self) {
        match std::mem::take(&mut self.item) {
            Item::None => {}
            Item::Span(span) => self.dump.spans.push(span),
            Item::Metric(metric) => self.dump.metrics.push(metric),
            Item::Log(log) => self.dump.logs.push(log),
        }
    }

    /// A `-> key: value` line.
    fn attribute(&mut self, key: &str, value: &str) {
        let pair = || (key.to_string(), unwrap_value(value));
        match (self.section, &mut self.item) {
            (Section::Resource, _) => {
                if key == "service.name" {
                    self.service = Some(unwrap_value(value));
                }
                if !self.dump.resource_attributes.contains(&pair()) {
                    self.dump.resource_attributes.push(pair());
                }
            }
            (Section::Attributes, Item::Span(span)) => span.attributes.push(pair()),
            (Section::Attributes, Item::Log(log)) => log.attributes.push(pair()),
            // The event's own attributes follow as a nested `-> Attributes::` list.
            (Section::EventFields, _) if key == "Attributes:" => {
                self.section = Section::EventAttributes;
            }
            (Section::EventFields, Item::Span(span)) if key == "Name" => {
                if let Some(event) = span.events.last_mut() {
                    event.name = value.to_string();
                }
            }
            (Section::EventAttributes, Item::Span(span)) => {
                if let Some(event) = span.events.last_mut() {
                    event.attributes.push(pair());
                }
            }
            (Section::Descriptor, Item::Metric(metric)) => match key {
                "Name" => metric.name = value.to_string(),
                "Description" => metric.description = value.to_string(),
                "Unit" => metric.unit = value.to_string(),
                "DataType" => metric.data_type = value.to_string(),
                _ => {}
            },
            (Section::PointAttributes, Item::Metric(metric)) => {
                if let Some(point) = metric.points.last_mut() {
                    point.attributes.push(pair());
                }
            }
            _ => {}
        }
    }

    /// A `Key: value` line that is not an attribute.
    fn field(&mut self, line: &str) {
        let Some((key, value)) = split_field(line) else {
            return;
        };
        match &mut self.item {
            Item::Span(span) => match key {
                "Trace ID" => span.trace_id = value.to_string(),
                "Parent ID" => span.parent_id = value.to_string(),
                "ID" => span.span_id = value.to_string(),
                "Name" => span.name = value.to_string(),
                "Kind" => span.kind = value.to_string(),
                "Status code" => span.status_code = value.to_string(),
                "Status message" => span.status_message = value.to_string(),
                _ => {}
            },
            Item::Metric(metric) => {
                let Some(point) = metric.points.last_mut() else {
                    return;
                };
                match key {
                    "Value" => point.value = value.parse().ok(),
                    "Count" => point.count = value.parse().ok(),
                    "Sum" => point.sum = value.parse().ok(),
                    _ => {}
                }
            }
            Item::Log(log) => match key {
                "SeverityText" => log.severity_text = value.to_string(),
                "SeverityNumber" => log.severity_number = value.to_string(),
                "Body" => log.body = unwrap_value(value),
                "Trace ID" => log.trace_id = value.to_string(),
                "Span ID" => log.span_id = value.to_string(),
                _ => {}
            },
            Item::None => {}
        }
    }
}

/// Joins a typed value that a newline split across lines (`Str(line1` ...
/// `line2)`) back into one line. Only complete lines are used: the block
/// being written last may still end mid-line.
fn logical_lines(text: &str) -> Vec<String> {
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    let mut out = Vec::new();
    let mut lines = complete.split('\n');
    while let Some(first) = lines.next() {
        let mut line = first.to_string();
        if opens_multiline_value(first) {
            for next in lines.by_ref() {
                line.push('\n');
                line.push_str(next);
                if next.ends_with(')') {
                    break;
                }
            }
        }
        out.push(line);
    }
    out
}

fn opens_multiline_value(line: &str) -> bool {
    let Some(value) = arrow(line)
        .map(|(_, v)| v)
        .or_else(|| line.strip_prefix("Body: "))
    else {
        return false;
    };
    match value.find('(') {
        Some(open) => {
            open > 0
                && value[..open].chars().all(|c| c.is_ascii_alphabetic())
                && !value.ends_with(')')
        }
        None => false,
    }
}

/// `     -> key: value` (always indented) as (key, value).
fn arrow(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start_matches(' ');
    if rest.len() == line.len() {
        return None;
    }
    let rest = rest.strip_prefix("-> ")?;
    rest.split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|key| (key, "")))
}

/// `Key: value` and the padded `    Trace ID       : value` as (key, value).
fn split_field(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    Some((key.trim(), value.strip_prefix(' ').unwrap_or(value)))
}

/// `Str(abc)` -> `abc`; non-scalar values keep rotel's notation.
fn unwrap_value(value: &str) -> String {
    for ty in ["Str", "Int", "Bool", "Double"] {
        if let Some(inner) = value
            .strip_prefix(ty)
            .and_then(|v| v.strip_prefix('('))
            .and_then(|v| v.strip_suffix(')'))
        {
            return inner.to_string();
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// Real rotel-agent 0.0.1-alpha10 output (three export requests: traces,
    /// metrics and logs from the Rust OTLP exporter, then spans posted as OTLP
    /// JSON), trimmed to a few lines of each kind. Trailing spaces are rotel's.
    const SAMPLE: &str = concat!(
        "\x1b[2m2026-11-23T05:16:48.276428Z\x1b[0m \x1b[32m INFO\x1b[0m Starting Rotel. \x1b[3mgrpc_endpoint\x1b[0m\x1b[2m=\x1b[0m\"127.0.0.1:53589\" \x1b[3mhttp_endpoint\x1b[0m\x1b[2m=\x1b[0m\"127.0.0.1:35925\"\n",
        r#"ResourceSpans #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(gen-svc)
     -> deployment.environment: Str(test)
ScopeSpans #0
InstrumentationScope gen 
Span #0
    Trace ID       : e2e50ae9ba8f623653d0467b9e5766f8
    Parent ID      : 6065476a63c02051
    ID             : 0499e7de5babe1c1
    Name           : child-op
    Kind           : SPAN_KIND_INTERNAL
Start time: 1795411111577301003
End time: 1795411111577311639
    Status code    : STATUS_CODE_ERROR
    Status message : bad thing
Attributes:
     -> peer.id: Str(abc)
     -> ok: Bool(true)
     -> msg: Str(hello world (x): y)
     -> multi: Str(line1
line2)
     -> arr: Slice(Int(1), Int(2), Int(3))
Events:
SpanEvent #0
     -> Name: evt-one
     -> Attributes::
          -> e.k: Str(e.v)
Span #1
    Trace ID       : e2e50ae9ba8f623653d0467b9e5766f8
    Parent ID      : 
    ID             : 6065476a63c02051
    Name           : parent-op
    Kind           : SPAN_KIND_INTERNAL
Start time: 1795411111577293162
End time: 1795411111577315505
    Status code    : STATUS_CODE_UNSET
    Status message : 
Attributes:
     -> block.height: Int(42)
ResourceMetrics #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(gen-svc)
     -> deployment.environment: Str(test)
ScopeMetrics #0
InstrumentationScope gen 
Metric #0
Descriptor:
     -> Name: alys_blocks_total
     -> Description: blocks
     -> Unit: 
     -> DataType: Sum
     -> IsMonotonic: true
     -> AggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE
NumberDataPoints #0
Data point attributes:
     -> chain: Str(main)
Value: 3
Metric #1
Descriptor:
     -> Name: alys_block_time
     -> Description: 
     -> Unit: s
     -> DataType: Histogram
     -> AggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE
HistogramDataPoints #0
Count: 2
Sum: 2
Min: 0.5
Max: 1.5
ExplicitBounds #0: 0
Buckets #0, Count: 0
ResourceLog #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(gen-svc)
     -> deployment.environment: Str(test)
ScopeLogs #0
InstrumentationScope genlog 
LogRecord #0
Timestamp: 0
SeverityText: WARN
SeverityNumber: SEVERITY_NUMBER_WARN(13)
Body: Str(a log body)
Attributes:
     -> log.k: Str(log v)
    Trace ID       : 
    Span ID        : 
Flags: 0
ResourceSpans #0
Resource SchemaURL: 
ScopeSpans #0
InstrumentationScope c 
Span #0
    Trace ID       : 5b8efff798038103d269b633813fc60c
    Parent ID      : eee19b7ec3c1b174
    ID             : eee19b7ec3c1b175
    Name           : linked
    Kind           : SPAN_KIND_INTERNAL
Start time: 1544712660000000000
End time: 1544712661000000000
Events:
SpanEvent #0
     -> Name: e0
Links:
SpanLink #0
     -> Trace ID: 5b8efff798038103d269b633813fc60d
     -> ID: eee19b7ec3c1b176
     -> Attributes::
          -> lk: Str(lv)
"#
    );

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn strips_colour_codes_only() {
        let line = strip_ansi(SAMPLE.lines().next().unwrap());
        assert_eq!(
            line,
            "2026-11-23T05:16:48.276428Z  INFO Starting Rotel. grpc_endpoint=\"127.0.0.1:53589\" http_endpoint=\"127.0.0.1:35925\""
        );
        assert_eq!(strip_ansi("a\x1b[1;31mb\x1b[0m\x1b[Kc"), "ab\x1b[Kc");
    }

    #[test]
    fn parses_spans() {
        let spans = parse_rotel_output(&strip_ansi(SAMPLE)).spans;
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["child-op", "parent-op", "linked"]);

        let (child, parent) = (&spans[0], &spans[1]);
        assert_eq!(child.trace_id, "e2e50ae9ba8f623653d0467b9e5766f8");
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.parent_id, parent.span_id);
        assert_eq!(parent.span_id, "6065476a63c02051");
        assert_eq!(parent.parent_id, "");
        assert_eq!(child.service_name.as_deref(), Some("gen-svc"));
        assert_eq!(child.scope, "gen");
        assert_eq!(child.kind, "SPAN_KIND_INTERNAL");
        assert_eq!(
            (child.status_code.as_str(), child.status_message.as_str()),
            ("STATUS_CODE_ERROR", "bad thing")
        );
        assert_eq!(
            child.attributes,
            pairs(&[
                ("peer.id", "abc"),
                ("ok", "true"),
                ("msg", "hello world (x): y"),
                ("multi", "line1\nline2"),
                ("arr", "Slice(Int(1), Int(2), Int(3))"),
            ])
        );
        assert_eq!(
            child.events,
            [RotelEvent {
                name: "evt-one".into(),
                attributes: pairs(&[("e.k", "e.v")])
            }]
        );
        assert_eq!(parent.attr("block.height"), Some("42"));
        assert!(parent.events.is_empty());
    }

    #[test]
    fn span_without_resource_attributes_status_or_attributes() {
        let spans = parse_rotel_output(SAMPLE).spans;
        let linked = &spans[2];
        assert_eq!(linked.service_name, None);
        assert_eq!(linked.status_code, "");
        // Link attributes are not span attributes.
        assert!(linked.attributes.is_empty());
        assert_eq!(
            linked.events,
            [RotelEvent {
                name: "e0".into(),
                attributes: vec![]
            }]
        );
    }

    #[test]
    fn parses_metrics() {
        let metrics = parse_rotel_output(SAMPLE).metrics;
        let counter = &metrics[0];
        assert_eq!(
            (
                counter.name.as_str(),
                counter.data_type.as_str(),
                counter.description.as_str(),
                counter.unit.as_str()
            ),
            ("alys_blocks_total", "Sum", "blocks", "")
        );
        assert_eq!(counter.service_name.as_deref(), Some("gen-svc"));
        assert_eq!(counter.points.len(), 1);
        assert_eq!(counter.points[0].value, Some(3.0));
        assert_eq!(counter.points[0].attr("chain"), Some("main"));

        let histogram = &metrics[1];
        assert_eq!(
            (histogram.name.as_str(), histogram.unit.as_str()),
            ("alys_block_time", "s")
        );
        assert_eq!(
            (histogram.points[0].count, histogram.points[0].sum),
            (Some(2), Some(2.0))
        );
        assert_eq!(metrics.len(), 2);
    }

    #[test]
    fn parses_logs_and_resources() {
        let dump = parse_rotel_output(SAMPLE);
        assert_eq!(dump.logs.len(), 1);
        let log = &dump.logs[0];
        assert_eq!(
            (log.severity_text.as_str(), log.body.as_str()),
            ("WARN", "a log body")
        );
        assert_eq!(log.severity_number, "SEVERITY_NUMBER_WARN(13)");
        assert_eq!(log.attr("log.k"), Some("log v"));
        assert_eq!((log.trace_id.as_str(), log.span_id.as_str()), ("", ""));
        assert_eq!(log.service_name.as_deref(), Some("gen-svc"));
        assert_eq!(
            dump.resource_attributes,
            pairs(&[
                ("service.name", "gen-svc"),
                ("deployment.environment", "test")
            ])
        );
    }

    #[test]
    fn ignores_a_block_still_being_written() {
        let cut = SAMPLE.find("Attributes:\n     -> block.height").unwrap()
            + "Attributes:\n     -> block.hei".len();
        let spans = parse_rotel_output(&SAMPLE[..cut]).spans;
        assert_eq!(spans.len(), 2);
        assert!(spans[1].attributes.is_empty());
    }

    #[test]
    fn writes_prometheus_config() {
        let yaml = prometheus_config(
            &["127.0.0.1:1234".to_string()],
            &[PathBuf::from("/r/alerts.yml")],
            Some("http://127.0.0.1:5678"),
            "# extra\n",
        );
        assert_eq!(
            yaml,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: alys\n    static_configs:\n      - targets: [\"127.0.0.1:1234\"]\n\
             rule_files:\n  - \"/r/alerts.yml\"\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:5678\"]\n\
             # extra\n"
        );
    }
}
