//! `#[metric(...)]`: its keys in any order, each at most once.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprArray, Ident, LitStr};

use crate::field::{MetricAttrs, StartDecl};

/// The keys `#[metric(...)]` takes, for the error that names an unknown one.
const KEYS: &str = "name, otel_name, why, unit, labels(...), buckets = [...], limit, start";

pub(crate) fn parse_metric(attr: &Attribute) -> syn::Result<MetricAttrs> {
    let mut attrs = MetricAttrs {
        tokens: attr.to_token_stream(),
        name: None,
        why: None,
        unit: None,
        labels: None,
        otel_name: None,
        buckets: None,
        limit: None,
        start: None,
    };
    attr.parse_nested_meta(|meta| parse_key(&mut attrs, &meta))?;
    Ok(attrs)
}

fn parse_key(attrs: &mut MetricAttrs, meta: &ParseNestedMeta) -> syn::Result<()> {
    let Some(key) = meta.path.get_ident().map(Ident::to_string) else {
        return Err(meta.error(format!("unknown key: `metric` takes {KEYS}")));
    };
    let span = meta
        .path
        .get_ident()
        .map_or_else(Span::call_site, Ident::span);
    match key.as_str() {
        "name" => set(&mut attrs.name, meta, |m| m.value()?.parse::<LitStr>()),
        "why" => set(&mut attrs.why, meta, |m| m.value()?.parse::<Expr>()),
        "unit" => set(&mut attrs.unit, meta, |m| m.value()?.parse::<LitStr>()),
        "otel_name" => set(&mut attrs.otel_name, meta, |m| m.value()?.parse::<LitStr>()),
        "limit" => set(&mut attrs.limit, meta, |m| m.value()?.parse::<Expr>()),
        "labels" => set(&mut attrs.labels, meta, |m| Ok((span, label_names(m)?))),
        "buckets" => set(&mut attrs.buckets, meta, |m| {
            Ok((span, m.value()?.parse::<ExprArray>()?))
        }),
        "start" => set(&mut attrs.start, meta, |m| Ok((span, start(m)?))),
        _ => Err(meta.error(format!("unknown key `{key}`: `metric` takes {KEYS}"))),
    }
}

/// Stores the key's value, refusing a second one.
fn set<T>(
    slot: &mut Option<T>,
    meta: &ParseNestedMeta,
    parse: impl FnOnce(&ParseNestedMeta) -> syn::Result<T>,
) -> syn::Result<()> {
    if slot.is_some() {
        let key = meta
            .path
            .get_ident()
            .map_or_else(String::new, Ident::to_string);
        return Err(meta.error(format!("`{key}` is given twice")));
    }
    *slot = Some(parse(meta)?);
    Ok(())
}

/// `labels(a, b)`: the label names, each once. A name with dots, as the semantic
/// conventions' attributes have, is written as a string: `labels("http.route")`.
fn label_names(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let mut names: Vec<LitStr> = Vec::new();
    while !content.is_empty() {
        let name = if content.peek(LitStr) {
            let name: LitStr = content.parse()?;
            if !is_label_key(&name.value()) {
                return Err(syn::Error::new_spanned(
                    &name,
                    "a label name is lower case: letters, digits, `_` and `.`, \
                     starting with a letter",
                ));
            }
            name
        } else if content.peek(Ident::peek_any) {
            let ident: Ident = content.call(Ident::parse_any)?;
            let text = ident.to_string();
            LitStr::new(text.trim_start_matches("r#"), ident.span())
        } else {
            return Err(content.error(
                "a label is named by an identifier or a string: `labels(phase, \"http.route\")`",
            ));
        };
        if names.iter().any(|n| n.value() == name.value()) {
            return Err(syn::Error::new_spanned(
                &name,
                format!("the label `{}` is named twice", name.value()),
            ));
        }
        names.push(name);
        if !content.is_empty() {
            content.parse::<syn::Token![,]>()?;
        }
    }
    Ok(names)
}

/// What the exporters keep as an attribute key and Prometheus as a label name (dots become
/// underscores there).
fn is_label_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

/// `start = zero` or `start = absent("why 0 would mislead")`.
fn start(meta: &ParseNestedMeta) -> syn::Result<StartDecl> {
    let value = meta.value()?;
    let word: Ident = value.parse()?;
    match word.to_string().as_str() {
        "zero" => Ok(StartDecl::Zero),
        "absent" => {
            let reason;
            syn::parenthesized!(reason in value);
            let why: LitStr = reason.parse()?;
            if why.value().trim().is_empty() {
                return Err(syn::Error::new_spanned(
                    why,
                    "say why 0 would mislead: `absent(\"…\")`",
                ));
            }
            Ok(StartDecl::Absent(why))
        }
        _ => Err(syn::Error::new_spanned(
            word,
            "`start` is `zero` or `absent(\"why 0 would mislead\")`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(attr: &str) -> syn::Result<MetricAttrs> {
        let field: syn::Field =
            syn::parse::Parser::parse_str(syn::Field::parse_named, &format!("{attr} x: T"))
                .expect("a field");
        parse_metric(&field.attrs[0])
    }

    #[test]
    fn keys_parse_in_any_order() {
        let attrs = parse(
            r#"#[metric(start = absent("no"), buckets = [0.1, 1.0], labels(a, b),
                why = WHY, limit = 3 * 2, unit = "s", name = "alys_x_seconds")]"#,
        )
        .expect("parses");
        assert_eq!(
            attrs.name.map(|n| n.value()).as_deref(),
            Some("alys_x_seconds")
        );
        assert_eq!(attrs.labels.map(|(_, l)| l.len()), Some(2));
        let dotted =
            parse(r#"#[metric(labels(a, "http.route"), otel_name = "x.y")]"#).expect("parses");
        let labels: Vec<String> = dotted
            .labels
            .iter()
            .flat_map(|(_, l)| l.iter().map(LitStr::value))
            .collect();
        assert_eq!(labels, ["a", "http.route"]);
        assert_eq!(dotted.otel_name.map(|n| n.value()).as_deref(), Some("x.y"));
        assert_eq!(attrs.buckets.map(|(_, b)| b.elems.len()), Some(2));
        assert!(matches!(attrs.start, Some((_, StartDecl::Absent(_)))));
        assert!(attrs.limit.is_some() && attrs.why.is_some() && attrs.unit.is_some());
    }

    #[test]
    fn refusals_name_the_key() {
        let error = |attr| parse(attr).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error(r#"#[metric(name = "a", name = "b")]"#).contains("`name` is given twice"));
        assert!(error(r#"#[metric(nmae = "a")]"#).contains("unknown key `nmae`"));
        assert!(error(r#"#[metric(labels(a, a))]"#).contains("named twice"));
        assert!(error(r#"#[metric(labels(a, "a"))]"#).contains("named twice"));
        assert!(error(r#"#[metric(labels("Http.Route"))]"#).contains("lower case"));
        assert!(error(r#"#[metric(start = later)]"#).contains("`start` is `zero` or"));
        assert!(error(r#"#[metric(start = absent(""))]"#).contains("why 0 would mislead"));
    }
}
