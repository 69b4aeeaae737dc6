//! A small PromQL reader, enough to find an expression's selectors, groupings and function
//! calls; the stack's checks of alert rules and dashboard queries read expressions with it.
//! Anything it does not understand is an error, never a silent misreading.

use std::collections::BTreeSet;
use std::ops::Range;

/// The functions of Prometheus 2.42, the version the stack and the tests run.
pub const FUNCTIONS: &str = "
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
    clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
    days_in_month deg delta deriv exp floor histogram_count histogram_fraction
    histogram_quantile histogram_sum holt_winters hour idelta increase irate label_join
    label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi
    predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin
    sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
    timestamp vector year
";

/// Aggregation operators: they take `by`/`without` and a parenthesised argument.
pub const AGGREGATIONS: &str =
    "sum avg min max count count_values group stddev stdvar topk bottomk quantile";

pub const GROUPING_KEYWORDS: &str = "by without on ignoring group_left group_right";

pub const OTHER_KEYWORDS: &str = "bool and or unless offset atan2 inf nan";

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

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    /// A Grafana variable or macro outside a string (`$__interval`, `${x}`).
    Var,
    /// A range or subquery, `[...]`, whose content (durations, macros) is skipped.
    Range,
    Op(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
}

fn lex(expr: &str, dialect: Dialect) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '"' | '\'' | '`' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string in {expr:?}")),
                        Some(&q) if q == c => break,
                        Some('\\') if c != '`' => {
                            value.push(*chars.get(i + 1).unwrap_or(&'\\'));
                            i += 2;
                        }
                        Some(&other) => {
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                toks.push(Tok::Str(value));
            }
            '#' if dialect == Dialect::Prometheus => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' if dialect == Dialect::Grafana => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                }
                toks.push(Tok::Var);
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                if i == chars.len() {
                    return Err(format!("unterminated range in {expr:?}"));
                }
                i += 1;
                toks.push(Tok::Range);
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                toks.push(Tok::Num);
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            '{' => {
                toks.push(Tok::LBrace);
                i += 1;
            }
            '}' => {
                toks.push(Tok::RBrace);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["=~", "!~", "!=", "==", "<=", ">="].contains(&two.as_str()) {
                    two
                } else if "=<>+-*/%^@".contains(c) {
                    c.to_string()
                } else {
                    return Err(format!("unexpected {c:?} in {expr:?}"));
                };
                i += op.chars().count();
                toks.push(Tok::Op(op));
            }
        }
    }
    Ok(toks)
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
    /// Token index of the selector.
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
    pub keyword: String,
    pub labels: Vec<String>,
    /// Token range of the expression the grouping applies to (by/without).
    pub scope: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub function: String,
    pub scope: Range<usize>,
}

#[derive(Debug, Default)]
pub struct Query {
    pub selectors: Vec<Selector>,
    pub groupings: Vec<Grouping>,
    pub calls: Vec<Call>,
}

impl Query {
    /// Every label named in a by/without/on/ignoring/group_left/group_right list.
    pub fn grouping_labels(&self) -> BTreeSet<String> {
        self.groupings
            .iter()
            .flat_map(|g| g.labels.iter().cloned())
            .collect()
    }

    /// The functions and aggregations called with a parenthesised argument.
    pub fn functions(&self) -> BTreeSet<String> {
        self.calls.iter().map(|c| c.function.clone()).collect()
    }

    /// (function, metric) for each range function applied directly to a named selector.
    pub fn range_calls(&self) -> Vec<(String, String)> {
        self.calls
            .iter()
            .filter(|c| RANGE_FUNCTIONS.contains(&c.function.as_str()))
            .filter_map(|c| {
                let first = self.selectors.iter().find(|s| s.at == c.scope.start + 1)?;
                Some((c.function.clone(), first.metric.clone()?))
            })
            .collect()
    }
}

/// The index of the parenthesis closing the one at `open`.
fn closing(toks: &[Tok], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for (i, tok) in toks.iter().enumerate().skip(open) {
        match tok {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err("unbalanced parentheses".to_string())
}

/// The index of the parenthesis opening the one at `close`.
fn opening(toks: &[Tok], close: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for i in (0..=close).rev() {
        match toks[i] {
            Tok::RParen => depth += 1,
            Tok::LParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err("unbalanced parentheses".to_string())
}

fn parse_matchers(toks: &[Tok], open: usize) -> Result<(Vec<Matcher>, usize), String> {
    let mut matchers = Vec::new();
    let mut i = open + 1;
    loop {
        match toks.get(i) {
            Some(Tok::RBrace) => return Ok((matchers, i)),
            Some(Tok::Comma) => i += 1,
            Some(Tok::Ident(label)) => match (toks.get(i + 1), toks.get(i + 2)) {
                (Some(Tok::Op(op)), Some(Tok::Str(value)))
                    if ["=", "!=", "=~", "!~"].contains(&op.as_str()) =>
                {
                    matchers.push(Matcher {
                        label: label.clone(),
                        op: op.clone(),
                        value: value.clone(),
                    });
                    i += 3;
                }
                other => return Err(format!("bad label matcher after {label}: {other:?}")),
            },
            other => return Err(format!("bad label matchers: {other:?}")),
        }
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
    let toks = lex(expr, dialect)?;
    let mut query = Query::default();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(name) if is_one_of(GROUPING_KEYWORDS, name) => {
                if toks.get(i + 1) != Some(&Tok::LParen) {
                    // `group_left` without a label list.
                    i += 1;
                    continue;
                }
                let close = closing(&toks, i + 1)?;
                let mut labels = Vec::new();
                for tok in &toks[i + 2..close] {
                    match tok {
                        Tok::Ident(label) => labels.push(label.clone()),
                        Tok::Comma => {}
                        other => return Err(format!("bad label list after {name}: {other:?}")),
                    }
                }
                let scope = if name == "by" || name == "without" {
                    let after_aggregation = i > 0
                        && matches!(&toks[i - 1], Tok::Ident(a) if is_one_of(AGGREGATIONS, a));
                    if after_aggregation {
                        if toks.get(close + 1) != Some(&Tok::LParen) {
                            return Err(format!("`{name} (...)` is not followed by an argument"));
                        }
                        close + 1..closing(&toks, close + 1)? + 1
                    } else if i > 0 && toks[i - 1] == Tok::RParen {
                        opening(&toks, i - 1)?..i
                    } else {
                        return Err(format!("`{name}` outside an aggregation"));
                    }
                } else {
                    0..toks.len()
                };
                query.groupings.push(Grouping {
                    keyword: name.clone(),
                    labels,
                    scope,
                });
                i = close + 1;
            }
            Tok::Ident(name) if is_one_of(AGGREGATIONS, name) || is_one_of(FUNCTIONS, name) => {
                if toks.get(i + 1) == Some(&Tok::LParen) {
                    query.calls.push(Call {
                        function: name.clone(),
                        scope: i + 1..closing(&toks, i + 1)? + 1,
                    });
                } else if !is_one_of(AGGREGATIONS, name) {
                    return Err(format!("function {name} without arguments"));
                }
                i += 1;
            }
            Tok::Ident(name) if is_one_of(OTHER_KEYWORDS, name) => i += 1,
            Tok::Ident(name) => {
                if toks.get(i + 1) == Some(&Tok::LParen) {
                    return Err(format!("unknown function {name}"));
                }
                let (matchers, end) = if toks.get(i + 1) == Some(&Tok::LBrace) {
                    parse_matchers(&toks, i + 1)?
                } else {
                    (Vec::new(), i)
                };
                query.selectors.push(Selector {
                    metric: Some(name.clone()),
                    matchers,
                    at: i,
                });
                i = end + 1;
            }
            Tok::LBrace => {
                let (matchers, end) = parse_matchers(&toks, i)?;
                query.selectors.push(Selector {
                    metric: None,
                    matchers,
                    at: i,
                });
                i = end + 1;
            }
            Tok::RBrace => return Err("unexpected }".to_string()),
            _ => i += 1,
        }
    }
    Ok(query)
}
