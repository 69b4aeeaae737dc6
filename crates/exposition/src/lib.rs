//! The one reader of Prometheus text exposition (format 0.0.4): what `/metrics` serves, as
//! `alys-telemetry top` reads it, and what the tests read (through the test harness).
//!
//! ```
//! let exposition = alys_exposition::Exposition::parse("# TYPE up gauge\nup{job=\"node\"} 1\n").unwrap();
//! assert_eq!(exposition.value("up", &[("job", "node")]), Ok(Some(1.0)));
//! ```
//!
//! Labels are parsed, escapes included, and matched exactly: `("actor", "bridge")` selects
//! series whose `actor` label is `bridge`, never `from_actor="bridge"`. A line that does not
//! parse is an error that quotes it, so a broken exposition fails the test that reads it.
//! (The `prometheus-parse` crate splits label lists on `,` and `=`, which misreads any value
//! holding either; this reader is small enough to own.)

use std::collections::{BTreeMap, BTreeSet};

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// Whether every `(name, value)` pair is one of this sample's labels, exactly.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.get(*k).is_some_and(|have| have == v))
    }
}

/// A question [`Exposition::value`] cannot answer with one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    pub name: String,
    /// The labels asked for, as `name=value`.
    pub labels: Vec<String>,
    /// How many samples carry them.
    pub samples: usize,
}

impl std::fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} samples of {} carry {:?}: name more labels, or ask for their sum",
            self.samples, self.name, self.labels
        )
    }
}

impl std::error::Error for Ambiguous {}

/// A parsed exposition: every sample, and the `# TYPE` and `# HELP` of every family.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, String>,
    pub help: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses `text`; the error names the line that does not follow the format.
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut out = Exposition::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let fail = |why: &str| format!("exposition line {}: {why}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let mut words = rest.trim_start().splitn(3, ' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        out.types.insert(name.to_string(), kind.trim().to_string());
                    }
                    (Some("HELP"), Some(name), help) => {
                        let help = unescape(help.unwrap_or(""), false).map_err(|e| fail(&e))?;
                        out.help.insert(name.to_string(), help);
                    }
                    (Some("TYPE" | "HELP"), _, _) => return Err(fail("incomplete")),
                    // Any other comment is free text.
                    _ => {}
                }
                continue;
            }
            out.samples.push(parse_sample(line).map_err(|e| fail(&e))?);
        }
        Ok(out)
    }

    /// The samples named `name` carrying every one of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name && s.has_labels(labels))
    }

    /// The sum of those samples, or `None` when there is none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels)
            .map(|s| s.value)
            .reduce(|a, b| a + b)
    }

    /// The value of the one sample named `name` carrying `labels`: `Ok(None)` when there is
    /// none, an error when several match (the question was ambiguous: name more labels, or
    /// ask for the [`sum`](Self::sum)).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Result<Option<f64>, Ambiguous> {
        let mut found = self.matching(name, labels);
        let Some(first) = found.next() else {
            return Ok(None);
        };
        let more = found.count();
        if more == 0 {
            return Ok(Some(first.value));
        }
        Err(Ambiguous {
            name: name.to_string(),
            labels: labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            samples: more + 1,
        })
    }

    /// Every label name seen on the samples named `name`.
    pub fn label_names(&self, name: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| s.labels.keys().cloned())
            .collect()
    }

    /// Whether any sample is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("no metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = parse_value(value)?;
    // An optional timestamp (milliseconds) may follow; nothing else may.
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads `k="v",...}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut text: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = text.find('=').ok_or("a label without `=`")?;
        let key = text[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name {key:?}"));
        }
        let after = text[eq + 1..].trim_start();
        let quoted = after
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let (raw, rest) = split_quoted(quoted)?;
        if labels
            .insert(key.to_string(), unescape(raw, true)?)
            .is_some()
        {
            return Err(format!("label {key} twice"));
        }
        text = rest.trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// Splits `value"rest` at the closing quote, skipping escaped quotes.
fn split_quoted(text: &str) -> Result<(&str, &str), String> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Ok((&text[..i], &text[i + 1..])),
            _ => escaped = false,
        }
    }
    Err("an unterminated label value".into())
}

/// Undoes the format's escapes: `\\`, `\n`, and in label values `\"`.
fn unescape(raw: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("bad value {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP alys_actor_lifecycle_transitions_total Actor lifecycle state transitions
# TYPE alys_actor_lifecycle_transitions_total counter
alys_actor_lifecycle_transitions_total{actor="bridge",from_state="running",to_state="failed"} 4
alys_inter_actor_message_latency_seconds_count{from_actor="bridge",to_actor="chain",message_type="bridge"} 7
# TYPE alys_actor_message_latency_seconds histogram
alys_actor_message_latency_seconds_bucket{actor_type="chain",le="+Inf"} 3
alys_odd{path="a,b=c}",quote="say \"hi\"\\n",nl="x\ny"} 1.5e3 1700000000000
alys_unlabelled 2
"#;

    #[test]
    fn labels_match_exactly_not_by_substring() {
        let e = Exposition::parse(TEXT).unwrap();
        assert_eq!(
            e.sum(
                "alys_actor_lifecycle_transitions_total",
                &[("actor", "bridge")]
            ),
            Some(4.0)
        );
        // `from_actor="bridge"` is not `actor="bridge"`.
        assert_eq!(
            e.sum(
                "alys_inter_actor_message_latency_seconds_count",
                &[("actor", "bridge")]
            ),
            None
        );
        assert_eq!(
            e.sum(
                "alys_inter_actor_message_latency_seconds_count",
                &[("from_actor", "bridge")]
            ),
            Some(7.0)
        );
        assert_eq!(e.sum("alys_unlabelled", &[]), Some(2.0));
        assert_eq!(e.sum("alys_absent", &[]), None);
    }

    #[test]
    fn values_with_separators_quotes_and_escapes_are_read_whole() {
        let e = Exposition::parse(TEXT).unwrap();
        let odd = e.matching("alys_odd", &[]).next().unwrap();
        assert_eq!(odd.labels["path"], "a,b=c}");
        assert_eq!(odd.labels["quote"], "say \"hi\"\\n");
        assert_eq!(odd.labels["nl"], "x\ny");
        assert_eq!(odd.value, 1500.0);
        assert_eq!(
            e.value(
                "alys_actor_message_latency_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Ok(Some(3.0))
        );
    }

    #[test]
    fn types_help_and_label_names_are_kept() {
        let e = Exposition::parse(TEXT).unwrap();
        assert_eq!(e.types["alys_actor_message_latency_seconds"], "histogram");
        assert_eq!(
            e.help["alys_actor_lifecycle_transitions_total"],
            "Actor lifecycle state transitions"
        );
        assert_eq!(
            e.label_names("alys_actor_lifecycle_transitions_total"),
            BTreeSet::from(["actor", "from_state", "to_state"].map(String::from))
        );
        assert_eq!(parse_value("-Inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_value("NaN").unwrap().is_nan());
    }

    #[test]
    fn malformed_lines_are_errors_that_quote_them() {
        for bad in [
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "x{a=\"1\",a=\"2\"} 3",
            "x 1 2 3",
            "x abc",
            "{a=\"1\"} 2",
            "x{a=\"\\q\"} 1",
            "# TYPE x",
        ] {
            let err = Exposition::parse(bad).unwrap_err();
            assert!(err.contains("line 1"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_ambiguous_value_question_is_an_error_that_says_so() {
        let e = Exposition::parse("x{a=\"1\"} 1\nx{a=\"2\"} 2\n").unwrap();
        let error = e.value("x", &[]).unwrap_err();
        assert_eq!(error.samples, 2);
        assert!(error.to_string().starts_with("2 samples of x"), "{error}");
        assert_eq!(e.value("x", &[("a", "2")]), Ok(Some(2.0)));
        assert_eq!(e.value("y", &[]), Ok(None));
    }
}
