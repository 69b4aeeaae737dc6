//! The catalogue's naming rules (`MetricDef::checked` in the catalogue's def.rs), applied to
//! the declaration's text so that a mistake is reported at the key that makes it. Each rule
//! here mirrors one there; the generated definitions still go through `checked()`, which
//! also catches what the text cannot show (a kind behind a type alias, a constant's value).

use syn::{Expr, ExprLit, Lit, LitStr};

use crate::field::{Kind, MetricField, StartDecl};

/// Every rule the field's text breaks, as one error (each at its own span).
pub(crate) fn check(field: &MetricField) -> syn::Result<()> {
    let results = [
        help(field),
        name_and_unit(field),
        otel_name(field),
        why(field),
        buckets(field),
        start(field),
    ];
    let mut errors = results.into_iter().filter_map(Result::err);
    let Some(mut first) = errors.next() else {
        return Ok(());
    };
    errors.for_each(|e| first.combine(e));
    Err(first)
}

/// The help text from the doc comment's lines (each starts with the space after `///`),
/// trimmed as the catalogue's `trim` does; `None` when a piece is not a literal
/// (`#[doc = include_str!(..)]`), and the generated code concatenates it instead.
pub(crate) fn help_text(docs: &[Expr]) -> Option<String> {
    docs.iter()
        .map(|doc| match doc {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.value()),
            _ => None,
        })
        .collect::<Option<String>>()
        .map(|text| {
            text.trim_matches(|c: char| c.is_ascii_whitespace())
                .to_string()
        })
}

fn help(field: &MetricField) -> syn::Result<()> {
    let empty = field.docs.is_empty() || help_text(&field.docs).is_some_and(|t| t.is_empty());
    if empty {
        return Err(syn::Error::new_spanned(
            &field.ident,
            "a metric has a help text: write it as the field's doc comment (`/// …`)",
        ));
    }
    Ok(())
}

/// Counters, and only they, end in `_total`; the unit's suffix ends the name before it;
/// no unit is `1`.
fn name_and_unit(field: &MetricField) -> syn::Result<()> {
    let name = field.name.value();
    let total = name.ends_with("_total");
    match (field.shape.kind, total) {
        (Some(Kind::Counter), false) => {
            return Err(error(&field.name, "a counter's name ends in _total"));
        }
        (Some(Kind::Gauge | Kind::Histogram), true) => {
            return Err(error(&field.name, "only counters end in _total"));
        }
        _ => {}
    }
    let base = name.strip_suffix("_total").unwrap_or(&name);
    let Some(unit) = &field.attrs.unit else {
        return Ok(());
    };
    if unit.value() == "1" {
        return Err(error(unit, "unit 1 would add _ratio: leave the unit empty"));
    }
    match unit_suffix(&unit.value()) {
        Some(suffix) if !base.ends_with(suffix) => Err(error(
            &field.name,
            &format!(
                "the unit's suffix ends the name: unit \"{}\" wants a name ending in {suffix}{}",
                unit.value(),
                if total { "_total" } else { "" }
            ),
        )),
        _ => Ok(()),
    }
}

/// An OpenTelemetry name is the Prometheus name as the Prometheus exporter writes it: dots
/// become underscores, then the unit's suffix, then `_total` on a counter. A mismatch would
/// put one metric under two names that no dashboard and no OTLP backend agree on.
fn otel_name(field: &MetricField) -> syn::Result<()> {
    let Some(otel) = &field.attrs.otel_name else {
        return Ok(());
    };
    let text = otel.value();
    let well_formed = text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if !well_formed {
        return Err(error(
            otel,
            "an OpenTelemetry name is lower case: letters, digits, `_` and `.`",
        ));
    }
    let suffix = field
        .attrs
        .unit
        .as_ref()
        .and_then(|u| unit_suffix(&u.value()))
        .unwrap_or("");
    let total = if field.name.value().ends_with("_total") {
        "_total"
    } else {
        ""
    };
    let expected = format!("{}{suffix}{total}", text.replace('.', "_"));
    if field.name.value() != expected {
        return Err(error(
            &field.name,
            &format!(
                "the Prometheus exporter writes otel_name \"{text}\" as {expected}: name it so"
            ),
        ));
    }
    Ok(())
}

/// The suffix Prometheus adds for a unit, as `MetricDef::unit_suffix` maps it.
fn unit_suffix(unit: &str) -> Option<&'static str> {
    match unit {
        "s" => Some("_seconds"),
        "By" => Some("_bytes"),
        "%" => Some("_percent"),
        _ => None,
    }
}

fn why(field: &MetricField) -> syn::Result<()> {
    match &field.why {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) if s.value().trim().is_empty() => Err(error(s, "a metric says why it exists")),
        _ => Ok(()),
    }
}

/// Histograms, and only they, have buckets, and their bounds increase strictly.
fn buckets(field: &MetricField) -> syn::Result<()> {
    let kind = field.shape.kind;
    let Some((key, array)) = &field.attrs.buckets else {
        if kind == Some(Kind::Histogram) {
            return Err(syn::Error::new_spanned(
                &field.attrs.tokens,
                "a histogram declares its bucket bounds: `buckets = [0.1, 0.5, 1.0]`",
            ));
        }
        return Ok(());
    };
    if kind.is_some_and(|k| k != Kind::Histogram) {
        return Err(syn::Error::new(
            *key,
            "`buckets` are for histograms only: the field's type is not one",
        ));
    }
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            array,
            "a histogram has at least one bucket bound",
        ));
    }
    let bounds: Vec<(f64, &Expr)> = array
        .elems
        .iter()
        .map_while(|e| number(e).map(|n| (n, e)))
        .collect();
    for pair in bounds.windows(2) {
        if let [(before, _), (bound, expr)] = pair
            && before >= bound
        {
            return Err(syn::Error::new_spanned(
                expr,
                format!("buckets increase strictly: {bound} follows {before}"),
            ));
        }
    }
    Ok(())
}

/// A literal number, possibly negative; `None` for anything the macro cannot evaluate.
fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => number(expr).map(|n: f64| -n),
        _ => None,
    }
}

/// A gauge says how it starts; an observed metric starts at collection and says nothing; a
/// histogram has no observation to show at zero.
fn start(field: &MetricField) -> syn::Result<()> {
    let shape = field.shape;
    match (&field.attrs.start, shape.observed, shape.kind) {
        (Some((key, _)), true, _) => Err(syn::Error::new(
            *key,
            "an observed metric is computed at each collection: it takes no `start`",
        )),
        (Some((key, StartDecl::Zero)), false, Some(Kind::Histogram)) => Err(syn::Error::new(
            *key,
            "a histogram cannot start at zero: it has no observation to show",
        )),
        (None, false, Some(Kind::Gauge)) => Err(syn::Error::new_spanned(
            &field.attrs.tokens,
            "a gauge says how it starts: `start = zero` when 0 is true before the first \
             value, else `start = absent(\"why 0 would mislead\")`",
        )),
        _ => Ok(()),
    }
}

fn error(at: &LitStr, message: &str) -> syn::Error {
    syn::Error::new_spanned(at, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FamilyField;
    use crate::field::Role;

    /// The rule errors of one field declaration, as text.
    fn errors(field: &str) -> String {
        let field: syn::Field = syn::parse::Parser::parse_str(syn::Field::parse_named, field)
            .expect("the test's field parses");
        match FamilyField::parse(&field).map(|f| f.role) {
            Ok(Role::Metric(metric)) => check(&metric).err().map(|e| e.to_string()),
            Ok(Role::State { .. }) => Some("state".to_string()),
            Err(e) => Some(e.to_string()),
        }
        .unwrap_or_default()
    }

    #[test]
    fn a_good_declaration_passes() {
        let field = r#"/// Time
            #[metric(name = "alys_x_seconds", unit = "s", buckets = [0.1, 1], why = W)]
            x: HistogramVec<A>"#;
        assert_eq!(errors(field), "");
    }

    /// The rule errors of a field with a help text, `attr` and type `ty`.
    fn case(attr: &str, ty: &str) -> String {
        errors(&format!("/// help\n{attr} x: {ty}"))
    }

    #[test]
    fn name_unit_and_why_rules_are_reported() {
        let counter = case(r#"#[metric(name = "alys_x", why = W)]"#, "Counter");
        assert!(counter.contains("ends in _total"), "{counter}");
        let gauge = case(
            r#"#[metric(name = "a_total", why = W, start = zero)]"#,
            "Gauge",
        );
        assert!(gauge.contains("only counters"), "{gauge}");
        let suffix = case(
            r#"#[metric(name = "a_total", unit = "s", why = W)]"#,
            "Counter",
        );
        assert!(suffix.contains("_seconds_total"), "{suffix}");
        let one = case(
            r#"#[metric(name = "a", unit = "1", why = W)]"#,
            "Observed<Gauge>",
        );
        assert!(one.contains("_ratio"), "{one}");
        let why = case(r#"#[metric(name = "a", why = "")]"#, "Observed<Gauge>");
        assert!(why.contains("why it exists"), "{why}");
        let name = case(r#"#[metric(why = W)]"#, "Counter");
        assert!(name.contains("declares `name`"), "{name}");
        let help = errors(r#"#[metric(name = "a_total", why = W)] x: Counter"#);
        assert!(help.contains("help text"), "{help}");
    }

    #[test]
    fn an_otel_name_must_be_what_the_prometheus_exporter_writes() {
        let good = case(
            r#"#[metric(name = "http_server_request_duration_seconds", unit = "s",
                otel_name = "http.server.request.duration", buckets = [1.0], why = W)]"#,
            "Histogram",
        );
        assert_eq!(good, "");
        let counter = case(
            r#"#[metric(name = "rpc_calls_total", otel_name = "rpc.calls", why = W)]"#,
            "Counter",
        );
        assert_eq!(counter, "");
        let wrong = case(
            r#"#[metric(name = "http_request_duration_seconds", unit = "s",
                otel_name = "http.server.request.duration", buckets = [1.0], why = W)]"#,
            "Histogram",
        );
        assert!(
            wrong.contains("as http_server_request_duration_seconds"),
            "{wrong}"
        );
        let upper = case(
            r#"#[metric(name = "a_total", otel_name = "A", why = W)]"#,
            "Counter",
        );
        assert!(upper.contains("lower case"), "{upper}");
    }

    #[test]
    fn bucket_and_start_rules_are_reported() {
        let rule = |attr: &str, ty: &str, expected: &str| {
            let errors = case(&format!("#[metric(name = \"a\", why = W, {attr})]"), ty);
            assert!(errors.contains(expected), "{attr} on {ty}: {errors}");
        };
        rule("limit = 1", "Gauge", "says how it starts");
        rule("limit = 1", "Histogram", "declares its bucket");
        rule("buckets = [1.0, 0.5]", "Histogram", "0.5 follows 1");
        rule("buckets = []", "Histogram", "at least one");
        rule(
            "buckets = [1.0], start = zero",
            "Observed<Gauge>",
            "histograms only",
        );
        rule(
            "buckets = [1.0], start = zero",
            "Histogram",
            "cannot start at zero",
        );
        rule("start = zero", "LiveGauge", "takes no `start`");
    }

    #[test]
    fn help_is_the_trimmed_doc_comment() {
        let docs: Vec<Expr> = vec![
            syn::parse_quote!(" Time to"),
            syn::parse_quote!(" produce "),
        ];
        assert_eq!(help_text(&docs).as_deref(), Some("Time to produce"));
        let piece: Expr = syn::parse_quote!(include_str!("x"));
        assert_eq!(help_text(&[piece]), None);
    }
}
