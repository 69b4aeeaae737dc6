//! What a metric's declaration produces: its definition ([`MetricDef`]) and the family that
//! lists it ([`Family`]). Definitions are made by the [`MetricFamily`](macro@crate::MetricFamily)
//! derive, and checked when they are compiled: a counter not ending in `_total`, a unit whose
//! suffix the name lacks, a histogram without buckets or with unsorted ones, a gauge that does
//! not say what it shows before its first value, each stops the build.

/// What kind of instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic sum; Prometheus `counter`, name ends in `_total`.
    Counter,
    /// Last value; Prometheus `gauge`.
    Gauge,
    /// Distribution; Prometheus `histogram` with `_bucket`, `_sum`, `_count`.
    Histogram,
}

impl MetricKind {
    /// The Prometheus TYPE this kind is exposed as.
    pub const fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// Whether a metric's series exist before the first event.
///
/// Prometheus's advice is to export series whose labels are known in advance at 0 from the
/// start: a dashboard then shows 0 instead of "No data", and `increase()` sees the first
/// event instead of missing it. A gauge whose 0 would say something untrue (a peer count of
/// 0 pages someone; sync state 0 means "discovering") starts absent instead, and says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Exported at 0 from start-up, every label combination of it when there are at most
    /// [`ZERO_SERIES_LIMIT`].
    Zero,
    /// Absent until the first record; the text says why 0 would mislead.
    Absent(&'static str),
    /// Computed by a callback at each collection: present when its source has a value.
    Observed,
    /// Not declared: counters start at zero, histograms with their first observation, and a
    /// gauge must say (the build fails otherwise).
    Default,
}

/// The most label combinations a metric is bound and exported at 0 for at start-up. 64 keeps
/// every family's zero series to a few hundred, far inside the 10,000-series budget the
/// live catalogue test holds the demo to; a metric past it starts absent, and the catalogue
/// says so.
pub const ZERO_SERIES_LIMIT: usize = 64;

/// Label sets per metric unless a definition says otherwise. Enum-labelled metrics stay far
/// below it; it bounds the damage of a bug, not normal use.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 500;

/// What a metric looks like before its first event, as the catalogue documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtStart {
    /// Every one of `series` label combinations is exported at 0.
    Zero { series: usize },
    /// Absent until its first record, for the reason given.
    Absent(&'static str),
    /// Absent until recorded: its `combinations` label sets are more than
    /// [`ZERO_SERIES_LIMIT`].
    TooMany { combinations: usize },
    /// Computed at each collection.
    Observed,
}

/// One metric's definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The exported Prometheus name (the contract with dashboards and alerts).
    pub name: &'static str,
    /// The OpenTelemetry instrument name when it is not `name` less its suffixes: a
    /// semantic-conventions name (`http.server.request.duration`), which OTLP carries as is
    /// and the Prometheus exporter writes as `name`. The derive checks that it does.
    pub otel_name: Option<&'static str>,
    pub kind: MetricKind,
    /// UCUM unit: `s`, `By`, `%`, or empty. Never `1`: it would add `_ratio`.
    pub unit: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    /// Histogram bucket boundaries; empty for other kinds.
    pub buckets: &'static [f64],
    /// Why the metric exists and where its name comes from.
    pub why: &'static str,
    /// Most label sets the SDK keeps for this metric; beyond it, new ones fold into one
    /// more series labelled `otel_metric_overflow="true"`.
    pub cardinality_limit: usize,
    /// Whether its series exist before the first event.
    pub start: Start,
    /// How many label combinations exist: 1 without labels, `None` when a label takes
    /// values from outside the node.
    pub combinations: Option<usize>,
}

impl MetricDef {
    /// The definition, checked against the naming rules (see docs/metrics.md) and with its
    /// start-up behaviour resolved. Runs at compile time: a violation fails the build with
    /// the rule it breaks.
    pub const fn checked(self) -> Self {
        let base = match self.kind {
            MetricKind::Counter => {
                assert!(
                    ends_with(self.name, "_total"),
                    "a counter's name ends in _total"
                );
                strip_len(self.name, "_total")
            }
            _ => {
                assert!(
                    !ends_with(self.name, "_total"),
                    "only counters end in _total"
                );
                self.name.len()
            }
        };
        if let Some(suffix) = unit_suffix(self.unit) {
            assert!(
                ends_with_at(self.name, base, suffix),
                "the unit's suffix (_seconds, _bytes, _percent) ends the name"
            );
        }
        assert!(
            !eq(self.unit, "1"),
            "unit 1 would add _ratio: leave the unit empty"
        );
        assert!(!self.help.is_empty(), "a metric has a help text");
        assert!(!self.why.is_empty(), "a metric says why it exists");
        let histogram = matches!(self.kind, MetricKind::Histogram);
        assert!(
            histogram != self.buckets.is_empty(),
            "histograms, and only they, have buckets"
        );
        let mut i = 1;
        while i < self.buckets.len() {
            assert!(
                self.buckets[i - 1] < self.buckets[i],
                "buckets increase strictly"
            );
            i += 1;
        }
        let start = match (self.start, self.kind) {
            (Start::Default, MetricKind::Counter) => Start::Zero,
            (Start::Default, MetricKind::Histogram) => {
                Start::Absent("a distribution starts with its first observation")
            }
            (Start::Default, MetricKind::Gauge) => panic!(
                "a gauge says how it starts: `start = zero` when 0 is true before the first \
                 value, else `start = absent(\"why\")`"
            ),
            (Start::Zero, MetricKind::Histogram) => {
                panic!("a histogram cannot start at zero: it has no observation to show")
            }
            (start, _) => start,
        };
        MetricDef { start, ..self }
    }

    /// What the metric looks like before its first event.
    pub const fn at_start(&self) -> AtStart {
        match (self.start, self.combinations) {
            (Start::Observed, _) => AtStart::Observed,
            (Start::Absent(why), _) => AtStart::Absent(why),
            (Start::Zero, Some(n)) if n <= ZERO_SERIES_LIMIT => AtStart::Zero { series: n },
            (Start::Zero, Some(n)) => AtStart::TooMany { combinations: n },
            (Start::Zero, None) => AtStart::Absent("its label takes values from outside the node"),
            (Start::Default, _) => AtStart::Absent("undeclared"),
        }
    }

    /// Whether the instrument is created at 0 for every label combination at start-up.
    pub const fn starts_at_zero(&self) -> bool {
        matches!(self.at_start(), AtStart::Zero { .. })
    }

    /// The label sets the SDK may keep for this metric. An observed metric keyed by outside
    /// values ([`LiveGauge`](super::external::LiveGauge)) reports only its live keys, but the
    /// SDK forgets a key only at the collection after the one that last saw it: until then a
    /// key that left and the key that took its slot are both held, so the SDK gets room for
    /// a full turnover, twice the limit.
    pub const fn sdk_cardinality_limit(&self) -> usize {
        match (self.start, self.combinations) {
            (Start::Observed, None) => self.cardinality_limit * 2,
            _ => self.cardinality_limit,
        }
    }

    /// The Prometheus suffix the unit adds.
    pub const fn unit_suffix(&self) -> Option<&'static str> {
        unit_suffix(self.unit)
    }

    /// The OTel instrument name: `otel_name` when declared, else `name` less `_total` and
    /// the unit suffix.
    pub fn instrument_name(&self) -> &'static str {
        if let Some(otel_name) = self.otel_name {
            return otel_name;
        }
        let base = match self.kind {
            MetricKind::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            _ => self.name,
        };
        match self.unit_suffix() {
            Some(suffix) => base.strip_suffix(suffix).unwrap_or(base),
            None => base,
        }
    }

    /// The names the metric's samples carry in Prometheus.
    pub fn series_names(&self) -> Vec<String> {
        match self.kind {
            MetricKind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect(),
            _ => vec![self.name.to_string()],
        }
    }
}

/// A family of metrics: its title in docs/metrics.md and its definitions, in declaration
/// order.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub title: &'static str,
    pub metrics: &'static [MetricDef],
}

/// A doc comment's text as a help text: the derive concatenates the comment's lines, each of
/// which starts with the space after `///`.
pub const fn trim(text: &'static str) -> &'static str {
    text.trim_ascii()
}

const fn unit_suffix(unit: &str) -> Option<&'static str> {
    if eq(unit, "s") {
        Some("_seconds")
    } else if eq(unit, "By") {
        Some("_bytes")
    } else if eq(unit, "%") {
        Some("_percent")
    } else {
        None
    }
}

const fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && ends_with(a, b)
}

const fn ends_with(text: &str, suffix: &str) -> bool {
    ends_with_at(text, text.len(), suffix)
}

/// Whether `text[..end]` ends with `suffix`.
const fn ends_with_at(text: &str, end: usize, suffix: &str) -> bool {
    let (t, s) = (text.as_bytes(), suffix.as_bytes());
    if s.len() > end || end > t.len() {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        if t[end - s.len() + i] != s[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn strip_len(text: &str, suffix: &str) -> usize {
    text.len() - suffix.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn gauge(name: &'static str, unit: &'static str, start: Start) -> MetricDef {
        MetricDef {
            name,
            otel_name: None,
            kind: MetricKind::Gauge,
            unit,
            help: "h",
            labels: &[],
            buckets: &[],
            why: "w",
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            start,
            combinations: Some(1),
        }
    }

    #[test]
    fn suffix_rules_hold_for_good_names() {
        let d = gauge("alys_uptime_seconds", "s", Start::Zero).checked();
        assert_eq!(d.instrument_name(), "alys_uptime");
        let c = MetricDef {
            kind: MetricKind::Counter,
            ..gauge("alys_disk_io_bytes_total", "By", Start::Default)
        }
        .checked();
        assert_eq!(c.start, Start::Zero, "counters start at zero by default");
        assert_eq!(c.instrument_name(), "alys_disk_io");
        assert!(ends_with_at("ab_total", 2, "ab"));
        let semconv = MetricDef {
            otel_name: Some("process.uptime"),
            ..d
        };
        assert_eq!(semconv.instrument_name(), "process.uptime");
        assert!(!ends_with_at("a", 5, "a"));
    }

    #[test]
    #[should_panic(expected = "unit's suffix")]
    fn a_unit_without_its_suffix_is_refused() {
        gauge("alys_uptime", "s", Start::Zero).checked();
    }

    #[test]
    #[should_panic(expected = "a gauge says how it starts")]
    fn a_gauge_must_say_how_it_starts() {
        gauge("alys_x", "", Start::Default).checked();
    }

    #[test]
    #[should_panic(expected = "ends in _total")]
    fn a_counter_needs_total() {
        MetricDef {
            kind: MetricKind::Counter,
            ..gauge("alys_x", "", Start::Zero)
        }
        .checked();
    }

    #[test]
    fn start_up_is_resolved_from_the_combinations() {
        let few = MetricDef {
            combinations: Some(12),
            ..gauge("alys_x", "", Start::Zero)
        };
        assert_eq!(few.at_start(), AtStart::Zero { series: 12 });
        let many = MetricDef {
            combinations: Some(ZERO_SERIES_LIMIT + 1),
            ..few
        };
        assert!(!many.starts_at_zero());
        let outside = MetricDef {
            combinations: None,
            ..few
        };
        assert!(matches!(outside.at_start(), AtStart::Absent(_)));
    }
}
