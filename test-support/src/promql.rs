//! The stack checks' PromQL reader: an expression's selectors, groupings and function calls,
//! read from promql-parser's syntax tree. The checks of alert rules and dashboard queries
//! use it; anything the parser does not accept is an error, never a silent misreading.
//!
//! What this module adds to the parser: Grafana's variables (`$path`, `$__rate_interval`,
//! `${x}`) are allowed in dashboard queries, comments only in rules, and only the functions of
//! the Prometheus the stack and the tests run (3.16, stack-programs/versions.toml; the
//! parser knows experimental ones too). Nodes
//! of the tree are numbered in reading order, so that "this selector lies inside that call"
//! is a range check ([`Selector::at`] in [`Call::scope`]).

use std::collections::BTreeSet;
use std::ops::Range;

use promql_parser::label::Matchers;
use promql_parser::parser::{self, BinModifier, Expr, LabelModifier, VectorMatchCardinality};

/// The stable functions of Prometheus 3.16, the release the stack and the tests run (without
/// experimental features: holt_winters is gone in 3.0, its successor is experimental).
pub const FUNCTIONS: &str = "
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
    clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
    days_in_month deg delta deriv exp floor histogram_count histogram_fraction
    histogram_quantile histogram_sum histogram_avg histogram_stddev histogram_stdvar hour idelta increase irate label_join
    label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi
    predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin
    sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
    timestamp vector year
";

/// The stable aggregation operators of Prometheus 3.16.
pub const AGGREGATIONS: &str =
    "sum avg min max count count_values group stddev stdvar topk bottomk quantile";

/// Functions whose argument must be a counter.
pub const COUNTER_FUNCTIONS: &[&str] = &["rate", "irate", "increase", "resets"];

/// Functions whose first argument is a range of one metric.
pub const RANGE_FUNCTIONS: &[&str] = &[
    "rate", "irate", "increase", "resets", "delta", "idelta", "deriv", "changes",
];

pub fn is_one_of(words: &str, name: &str) -> bool {
    words.split_whitespace().any(|w| w == name)
}

/// Where an expression comes from: what its text may contain besides PromQL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dialect {
    /// A Prometheus rule: `#` comments; no Grafana variables.
    Prometheus,
    /// A Grafana panel query: Grafana variables and macros (`$path`, `$__interval`, `${x}`)
    /// outside strings; no comments.
    Grafana,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

#[derive(Clone, Debug)]
pub struct Selector {
    pub metric: Option<String>,
    pub matchers: Vec<Matcher>,
    /// The selector's node number, in reading order.
    pub at: usize,
}

impl Selector {
    pub fn has(&self, (label, op, value): (&str, &str, &str)) -> bool {
        self.matchers
            .iter()
            .any(|m| m.label == label && m.op == op && m.value == value)
    }

    pub fn name_regex(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.label == "__name__")
            .map(|m| m.value.as_str())
    }

    pub fn describe(&self) -> String {
        let matchers: Vec<String> = self
            .matchers
            .iter()
            .map(|m| format!("{}{}{:?}", m.label, m.op, m.value))
            .collect();
        format!(
            "{}{{{}}}",
            self.metric.as_deref().unwrap_or(""),
            matchers.join(", ")
        )
    }
}

#[derive(Clone, Debug)]
pub struct Grouping {
    /// `by`, `without`, `on`, `ignoring`, `group_left` or `group_right`.
    pub keyword: String,
    pub labels: Vec<String>,
    /// The node numbers the grouping applies to: an aggregation's argument for `by` and
    /// `without`, the whole expression for the vector matching keywords.
    pub scope: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Call {
    /// A function's or an aggregation's name.
    pub function: String,
    /// The node numbers of its arguments.
    pub scope: Range<usize>,
}

#[derive(Debug, Default)]
pub struct Query {
    pub selectors: Vec<Selector>,
    pub groupings: Vec<Grouping>,
    pub calls: Vec<Call>,
    ranges: Vec<(String, String)>,
}

impl Query {
    /// Every label named in a by/without/on/ignoring/group_left/group_right list.
    pub fn grouping_labels(&self) -> BTreeSet<String> {
        self.groupings
            .iter()
            .flat_map(|g| g.labels.iter().cloned())
            .collect()
    }

    /// The functions and aggregations called.
    pub fn functions(&self) -> BTreeSet<String> {
        self.calls.iter().map(|c| c.function.clone()).collect()
    }

    /// (function, metric) for each range function applied directly to a named selector.
    pub fn range_calls(&self) -> Vec<(String, String)> {
        self.ranges.clone()
    }
}

/// Reads a Prometheus rule expression.
pub fn parse_query(expr: &str) -> Result<Query, String> {
    parse(expr, Dialect::Prometheus)
}

/// Reads a Grafana panel query.
pub fn parse_grafana_query(expr: &str) -> Result<Query, String> {
    parse(expr, Dialect::Grafana)
}

pub fn parse(expr: &str, dialect: Dialect) -> Result<Query, String> {
    let text = substitute_variables(expr, dialect)?;
    let tree = parser::parse(&text).map_err(|e| format!("{e} in {expr:?}"))?;
    let mut reader = Reader::default();
    reader.expr(&tree)?;
    let total = reader.next;
    for grouping in &mut reader.query.groupings {
        if grouping.scope.end == usize::MAX {
            grouping.scope = 0..total;
        }
    }
    Ok(reader.query)
}

/// Grafana's variables replaced by what Prometheus would see after Grafana expanded them: a
/// duration inside a range (`[$__rate_interval]`), a number elsewhere (`> $threshold`);
/// inside strings they stay, as label values. Checks that comments appear only in rules.
fn substitute_variables(expr: &str, dialect: Dialect) -> Result<String, String> {
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    let (mut quote, mut in_range) = (None::<char>, false);
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), '\\') if q != '`' => {
                out.push(c);
                out.extend(chars.next());
                continue;
            }
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '[') => in_range = true,
            (None, ']') => in_range = false,
            (None, '#') if dialect == Dialect::Grafana => {
                return Err(format!("a comment in a Grafana query: {expr:?}"));
            }
            (None, '$') => {
                // Ranges may hold Grafana's duration macros in either dialect: the duration
                // is Prometheus's business (promtool checks rules), not this reader's.
                if dialect == Dialect::Prometheus && !in_range {
                    return Err(format!(
                        "a Grafana variable outside a range in a rule: {expr:?}"
                    ));
                }
                skip_variable(&mut chars);
                out.push_str(if in_range { "5m" } else { "1" });
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Ok(out)
}

/// Skips a variable's name after its `$`: `name`, or `{name}`.
fn skip_variable(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    if chars.peek() == Some(&'{') {
        for c in chars.by_ref() {
            if c == '}' {
                break;
            }
        }
    } else {
        while chars
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            chars.next();
        }
    }
}

/// Walks the tree in reading order, numbering each node.
#[derive(Default)]
struct Reader {
    query: Query,
    next: usize,
}

impl Reader {
    fn number(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }

    fn expr(&mut self, e: &Expr) -> Result<(), String> {
        let at = self.number();
        match e {
            Expr::Aggregate(a) => {
                let function = a.op.to_string();
                if !is_one_of(AGGREGATIONS, &function) {
                    return Err(format!(
                        "{function} is not an aggregation of Prometheus 3.16"
                    ));
                }
                if let Some(param) = &a.param {
                    self.expr(param)?;
                }
                self.expr(&a.expr)?;
                let scope = at + 1..self.next;
                if let Some(modifier) = &a.modifier {
                    let keyword = match modifier {
                        LabelModifier::Include(_) => "by",
                        LabelModifier::Exclude(_) => "without",
                    };
                    self.group(keyword, &modifier.labels().labels, scope.clone());
                }
                self.query.calls.push(Call { function, scope });
            }
            Expr::Call(call) => {
                let function = call.func.name.to_string();
                if !is_one_of(FUNCTIONS, &function) {
                    return Err(format!("{function} is not a function of Prometheus 3.16"));
                }
                if RANGE_FUNCTIONS.contains(&call.func.name)
                    && let Some(Expr::MatrixSelector(m)) = call.args.args.first().map(|a| &**a)
                    && let Some(metric) = &m.vs.name
                {
                    self.query.ranges.push((function.clone(), metric.clone()));
                }
                for arg in &call.args.args {
                    self.expr(arg)?;
                }
                let scope = at + 1..self.next;
                self.query.calls.push(Call { function, scope });
            }
            Expr::Binary(b) => {
                self.expr(&b.lhs)?;
                self.expr(&b.rhs)?;
                if let Some(modifier) = &b.modifier {
                    self.vector_matching(modifier);
                }
            }
            Expr::Unary(u) => self.expr(&u.expr)?,
            Expr::Paren(p) => self.expr(&p.expr)?,
            Expr::Subquery(s) => self.expr(&s.expr)?,
            Expr::MatrixSelector(m) => self.selector(m.vs.name.as_ref(), &m.vs.matchers),
            Expr::VectorSelector(v) => self.selector(v.name.as_ref(), &v.matchers),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            Expr::Extension(_) => return Err("an extension node in a parsed query".into()),
        }
        Ok(())
    }

    fn selector(&mut self, name: Option<&String>, matchers: &Matchers) {
        let at = self.number();
        self.query.selectors.push(Selector {
            metric: name.cloned(),
            matchers: matchers
                .matchers
                .iter()
                .map(|m| Matcher {
                    label: m.name.clone(),
                    op: m.op.to_string(),
                    value: m.value.clone(),
                })
                .collect(),
            at,
        });
    }

    /// `on`/`ignoring` and `group_left`/`group_right`: they apply to the whole expression
    /// (the scope is set once the tree has been read).
    fn vector_matching(&mut self, modifier: &BinModifier) {
        if let Some(matching) = &modifier.matching {
            let keyword = match matching {
                LabelModifier::Include(_) => "on",
                LabelModifier::Exclude(_) => "ignoring",
            };
            self.group(keyword, &matching.labels().labels, 0..usize::MAX);
        }
        let (keyword, labels) = match &modifier.card {
            VectorMatchCardinality::ManyToOne(l) => ("group_left", l),
            VectorMatchCardinality::OneToMany(l) => ("group_right", l),
            _ => return,
        };
        if !labels.labels.is_empty() {
            self.group(keyword, &labels.labels, 0..usize::MAX);
        }
    }

    fn group(&mut self, keyword: &str, labels: &[String], scope: Range<usize>) {
        self.query.groupings.push(Grouping {
            keyword: keyword.to_string(),
            labels: labels.to_vec(),
            scope,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_hold_what_the_call_or_aggregation_covers() {
        let q = parse_query(
            "histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m]))) / on (x) group_left (y) b",
        )
        .unwrap();
        let quantile = q
            .calls
            .iter()
            .find(|c| c.function == "histogram_quantile")
            .unwrap();
        let sum = q.calls.iter().find(|c| c.function == "sum").unwrap();
        let a = q
            .selectors
            .iter()
            .find(|s| s.metric.as_deref() == Some("a_bucket"))
            .unwrap();
        let b = q
            .selectors
            .iter()
            .find(|s| s.metric.as_deref() == Some("b"))
            .unwrap();
        assert!(quantile.scope.contains(&a.at) && sum.scope.contains(&a.at));
        assert!(!quantile.scope.contains(&b.at));
        let by = q.groupings.iter().find(|g| g.keyword == "by").unwrap();
        assert!(quantile.scope.contains(&by.scope.start));
        for keyword in ["on", "group_left"] {
            let g = q.groupings.iter().find(|g| g.keyword == keyword).unwrap();
            assert!(
                g.scope.contains(&a.at) && g.scope.contains(&b.at),
                "{keyword}"
            );
        }
        assert_eq!(
            q.range_calls(),
            [("rate".to_string(), "a_bucket".to_string())]
        );
    }

    #[test]
    fn grafana_variables_stay_in_strings_and_read_as_values_elsewhere() {
        let q = parse_grafana_query(
            r#"sum(rate(a_total{path="$path", instance=~"$instance"}[${__rate_interval}])) > $threshold"#,
        )
        .unwrap();
        assert!(q.selectors[0].has(("path", "=", "$path")));
        assert!(q.selectors[0].has(("instance", "=~", "$instance")));
        assert!(parse_query("a > $threshold").is_err());
        assert!(parse_grafana_query("a # comment").is_err());
        assert!(parse_grafana_query(r##"a{x="# not a comment"}"##).is_ok());
    }

    #[test]
    fn only_the_pinned_prometheus_functions_and_aggregations_pass() {
        assert!(parse_query("rate(a[5m])").is_ok());
        // Known to the parser, but not to the Prometheus the stack runs.
        assert!(parse_query("sort_by_label(a, \"x\")").is_err());
        assert!(parse_query("limitk(2, a)").is_err());
        assert!(parse_query("rat(a[5m])").is_err());
        // Removed in Prometheus 3.
        assert!(parse_query("holt_winters(a[5m], 0.5, 0.5)").is_err());
        assert!(parse_query("histogram_avg(a)").is_ok());
    }
}
