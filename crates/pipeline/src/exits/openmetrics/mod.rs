//! `/metrics` in OpenMetrics 1.0.0, the one text format that carries exemplars: a histogram
//! bucket can name the trace of a value it counted, so a latency on a dashboard leads to
//! that trace. Prometheus asks for OpenMetrics in its scrape `Accept` header; everyone else
//! (curl, older tools) keeps getting the Prometheus text format 0.0.4 from
//! `prometheus::TextEncoder`, which has no exemplars.
//!
//! The writer follows `prometheus::TextEncoder` (0.14) wherever the two formats agree: the
//! same label order, the same `le` and `quantile` spellings (Rust's shortest float, so `1`
//! rather than OpenMetrics' canonical `1.0`: a series keeps its `le` when a scraper changes
//! format), the same timestamp rule (a `timestamp_ms` of 0 is "none"). Where they differ it
//! follows OpenMetrics: counters' families lose `_total`, untyped is `unknown`, `+Inf` and
//! `-Inf` are spelled so, timestamps are in seconds, HELP escapes `"`, and `# EOF` ends it.
//! There is no `# UNIT`: the `MetricFamily` protos do not carry the unit.

use std::fmt;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use alys_telemetry_catalog::exemplars::Exemplar;
use prometheus::proto::{Metric, MetricFamily, MetricType};

/// The exemplar label naming the trace (Grafana's Prometheus datasource maps `trace_id` to
/// the Jaeger datasource).
pub const TRACE_ID_LABEL: &str = "trace_id";
/// The exemplar label naming the span the value was recorded in.
pub const SPAN_ID_LABEL: &str = "span_id";

/// The histogram bucket label.
const LE: &str = "le";
/// The summary quantile label.
const QUANTILE: &str = "quantile";

/// The formats `/metrics` can answer in: OpenMetrics for the scrapers that ask for it (it
/// carries exemplars), the Prometheus text format for everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text exposition format 0.0.4 (`prometheus::TextEncoder`).
    PrometheusText,
    /// OpenMetrics 1.0.0 text with exemplars ([`encode`]).
    OpenMetrics,
}

impl Format {
    /// The response's `Content-Type`: scrapers pick their parser by it, so it must name
    /// the format the body is in.
    pub fn content_type(self) -> &'static str {
        match self {
            // What `prometheus::TextEncoder` has always answered with: unchanged.
            Format::PrometheusText => prometheus::TEXT_FORMAT,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Picks the format from the request's `Accept` header the way Prometheus' own exporters do
/// (client_golang's `expfmt.NegotiateIncludingOpenMetrics`), so that a scraper gets here what
/// it gets from them. The entries are taken by q value, highest first, ties in header order,
/// `q=0` (or an unparsable q) meaning "not acceptable"; the first one we can serve decides:
/// `application/openmetrics-text` with `version` absent, `0.0.1` or `1.0.0` gives
/// OpenMetrics; `text/plain` with `version` absent, `0.0.4` or `1.0.0` (0.0.4 output is valid
/// 1.0.0), `text/*` or `*/*` gives the Prometheus text format. Others (the protobuf format,
/// other versions) are skipped. No header, an empty one, or nothing served: Prometheus text,
/// the format every scraper reads.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(header) = accept else {
        return Format::PrometheusText;
    };
    let mut ranges: Vec<MediaRange<'_>> = header
        .split(',')
        .filter_map(MediaRange::parse)
        .filter(|range| range.q.is_finite() && range.q > 0.0)
        .collect();
    // A stable sort: equal q values keep the header's order.
    ranges.sort_by(|a, b| b.q.total_cmp(&a.q));
    ranges
        .iter()
        .find_map(MediaRange::format)
        .unwrap_or(Format::PrometheusText)
}

/// One entry of an `Accept` header, with the parameters negotiation looks at.
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
    q: f64,
}

impl<'a> MediaRange<'a> {
    /// `None` for an entry that is not a media range (no `/`, other than a lone `*`).
    fn parse(entry: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = entry.split(';');
        let range = parts.next()?.trim();
        let (kind, subtype) = match range.split_once('/') {
            Some((kind, subtype)) => (kind.trim(), subtype.trim()),
            None if range == "*" => ("*", "*"),
            None => return None,
        };
        if kind.is_empty() || subtype.is_empty() {
            return None;
        }
        let mut media = MediaRange {
            kind,
            subtype,
            version: None,
            q: 1.0,
        };
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            if name.eq_ignore_ascii_case("q") {
                media.q = value.parse().unwrap_or(0.0);
            } else if name.eq_ignore_ascii_case("version") {
                media.version = Some(value);
            }
        }
        Some(media)
    }

    /// The format this entry asks for, when we serve it.
    fn format(&self) -> Option<Format> {
        let is = |kind: &str, subtype: &str| {
            self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
        };
        if is("application", "openmetrics-text") {
            matches!(self.version, None | Some("0.0.1" | "1.0.0")).then_some(Format::OpenMetrics)
        } else if is("text", "plain") {
            matches!(self.version, None | Some("0.0.4" | "1.0.0")).then_some(Format::PrometheusText)
        } else if is("text", "*") || is("*", "*") {
            Some(Format::PrometheusText)
        } else {
            None
        }
    }
}

/// Looks up a histogram bucket's exemplar: the family name, the series' labels without `le`,
/// the bucket's upper bound (`f64::INFINITY` for `+Inf`).
type ExemplarLookup<'f> = dyn Fn(&str, &[(&str, &str)], f64) -> Option<Exemplar> + 'f;

/// Writes `families` (what `prometheus::Registry::gather()` returns) to `out` as OpenMetrics
/// 1.0.0 text, ending with `# EOF`. Every histogram bucket line (`+Inf` included, written
/// from the sample count when the proto lacks it) asks `exemplar(family_name, labels, le)`,
/// `labels` being the series' label pairs without `le`, and carries what it returns as
/// `# {trace_id="…",span_id="…"} <value> <seconds since the epoch>`.
///
/// Errors: `InvalidInput` for a family without a name (it cannot be written, and the text
/// encoder refuses it too); nothing is left in `out` then. Writing to the `Vec` cannot fail.
pub fn encode(
    families: &[MetricFamily],
    exemplar: impl Fn(&str, &[(&str, &str)], f64) -> Option<Exemplar>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let start = out.len();
    let written = families
        .iter()
        .try_for_each(|family| write_family(family, &exemplar, out))
        .and_then(|()| out.write_all(b"# EOF\n"));
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write_family(
    family: &MetricFamily,
    exemplar: &ExemplarLookup<'_>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let name = family.name();
    if name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a metric family has no name",
        ));
    }
    let kind = family.get_field_type();
    // OpenMetrics names a counter's family without `_total`, which only its sample carries.
    let family_name = match kind {
        MetricType::COUNTER => name.strip_suffix("_total").filter(|n| !n.is_empty()),
        _ => None,
    }
    .unwrap_or(name);
    writeln!(out, "# TYPE {family_name} {}", type_name(kind))?;
    // An empty HELP means none (OpenMetrics), and the text encoder leaves it out too.
    if !family.help().is_empty() {
        write!(out, "# HELP {family_name} ")?;
        write_escaped(out, family.help())?;
        out.write_all(b"\n")?;
    }
    for metric in family.get_metric() {
        let line = Line {
            name: family_name,
            metric,
        };
        match kind {
            MetricType::COUNTER => {
                let value = Float(metric.get_counter().get_value());
                line.write(out, "_total", None, &value, None)?;
            }
            MetricType::GAUGE => {
                line.write(out, "", None, &Float(metric.get_gauge().get_value()), None)?;
            }
            MetricType::UNTYPED => {
                // Deprecated only because the type is protobuf's; it is the untyped value.
                #[allow(deprecated)]
                let value = Float(metric.get_untyped().get_value());
                line.write(out, "", None, &value, None)?;
            }
            MetricType::SUMMARY => write_summary(&line, out)?,
            MetricType::HISTOGRAM => write_histogram(&line, exemplar, out)?,
        }
    }
    Ok(())
}

fn type_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "unknown",
        MetricType::HISTOGRAM => "histogram",
    }
}

fn write_summary(line: &Line<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let summary = line.metric.get_summary();
    for quantile in summary.get_quantile() {
        let label = Some((QUANTILE, quantile.quantile()));
        line.write(out, "", label, &Float(quantile.value()), None)?;
    }
    line.write(out, "_count", None, &summary.sample_count(), None)?;
    line.write(out, "_sum", None, &Float(summary.sample_sum()), None)
}

fn write_histogram(
    line: &Line<'_>,
    exemplar: &ExemplarLookup<'_>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let histogram = line.metric.get_histogram();
    let labels: Vec<(&str, &str)> = line
        .metric
        .get_label()
        .iter()
        .filter(|pair| pair.name() != LE)
        .map(|pair| (pair.name(), pair.value()))
        .collect();
    let mut bucket = |le: f64, count: u64| {
        let found = exemplar(line.name, &labels, le);
        line.write(out, "_bucket", Some((LE, le)), &count, found.as_ref())
    };
    let mut inf_seen = false;
    for b in histogram.get_bucket() {
        inf_seen |= b.upper_bound() == f64::INFINITY;
        bucket(b.upper_bound(), b.cumulative_count())?;
    }
    // OpenMetrics requires the +Inf bucket; it counts every sample.
    if !inf_seen {
        bucket(f64::INFINITY, histogram.get_sample_count())?;
    }
    line.write(out, "_count", None, &histogram.get_sample_count(), None)?;
    line.write(out, "_sum", None, &Float(histogram.get_sample_sum()), None)
}

/// The lines of one metric (series): its family's name and its labels and timestamp.
struct Line<'a> {
    name: &'a str,
    metric: &'a Metric,
}

impl Line<'_> {
    /// `<name><suffix>{<labels>[,<extra>]} <value>[ <timestamp>][ # <exemplar>]`.
    fn write(
        &self,
        out: &mut Vec<u8>,
        suffix: &str,
        extra: Option<(&str, f64)>,
        value: &dyn fmt::Display,
        exemplar: Option<&Exemplar>,
    ) -> io::Result<()> {
        write!(out, "{}{suffix}", self.name)?;
        let pairs = self.metric.get_label();
        if !pairs.is_empty() || extra.is_some() {
            let mut separator = "{";
            for pair in pairs {
                write!(out, "{separator}{}=\"", pair.name())?;
                write_escaped(out, pair.value())?;
                out.write_all(b"\"")?;
                separator = ",";
            }
            // A number needs no escaping.
            if let Some((label, number)) = extra {
                write!(out, "{separator}{label}=\"{}\"", Float(number))?;
            }
            out.write_all(b"}")?;
        }
        write!(out, " {value}")?;
        let millis = self.metric.timestamp_ms();
        if millis != 0 {
            write!(out, " {}", Seconds::from_millis(millis))?;
        }
        if let Some(e) = exemplar {
            write!(
                out,
                " # {{{TRACE_ID_LABEL}=\"{}\",{SPAN_ID_LABEL}=\"{}\"}} {} {}",
                e.trace_id,
                e.span_id,
                Float(e.value),
                Seconds::from_time(e.time)
            )?;
        }
        out.write_all(b"\n")
    }
}

/// Escapes `\`, newline and `"` as OpenMetrics requires in label values and HELP text.
fn write_escaped(out: &mut Vec<u8>, text: &str) -> io::Result<()> {
    let mut rest = text;
    while let Some(at) = rest.find(['\\', '\n', '"']) {
        out.write_all(&rest.as_bytes()[..at])?;
        let escaped: &[u8] = match rest.as_bytes()[at] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ => b"\\\"",
        };
        out.write_all(escaped)?;
        rest = &rest[at + 1..];
    }
    out.write_all(rest.as_bytes())
}

/// A float as OpenMetrics spells it: `NaN`, `+Inf`, `-Inf`, otherwise Rust's shortest
/// representation that reads back to the same value (integers without decimals).
struct Float(f64);

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" })
        } else {
            write!(f, "{v}")
        }
    }
}

/// A time as OpenMetrics writes it: seconds since the epoch, to the millisecond.
struct Seconds {
    before_epoch: bool,
    millis: u128,
}

impl Seconds {
    fn from_millis(millis: i64) -> Seconds {
        Seconds {
            before_epoch: millis < 0,
            millis: u128::from(millis.unsigned_abs()),
        }
    }

    fn from_time(time: SystemTime) -> Seconds {
        match time.duration_since(UNIX_EPOCH) {
            Ok(since) => Seconds {
                before_epoch: false,
                millis: since.as_millis(),
            },
            Err(before) => Seconds {
                before_epoch: before.duration().as_millis() > 0,
                millis: before.duration().as_millis(),
            },
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.before_epoch { "-" } else { "" };
        write!(f, "{sign}{}.{:03}", self.millis / 1000, self.millis % 1000)
    }
}

#[cfg(test)]
mod tests;
