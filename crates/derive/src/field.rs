//! A family's fields as declared: the `#[metric(...)]` of a recorded or observed metric, the
//! `#[state(init = ...)]` of any other field, and the metric's shape read from its type.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprArray, Field, Ident, LitStr, Type};

/// What a metric records, as far as the field's type says it (see [`Shape::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The kind and whether it is observed, read from the type's name: `Observed<G>` and
/// `LiveGauge` are observed; the catalogue's instrument names give the kind. A type the macro
/// does not know (an alias, a user's own instrument) has no kind here: the constant
/// assertions and `MetricDef::checked` judge it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub kind: Option<Kind>,
    pub observed: bool,
}

impl Shape {
    pub(crate) fn of(ty: &Type) -> Shape {
        let unknown = Shape {
            kind: None,
            observed: false,
        };
        let Type::Path(path) = ty else {
            return unknown;
        };
        let Some(last) = path.path.segments.last() else {
            return unknown;
        };
        let kind = match last.ident.to_string().as_str() {
            "Observed" => return Shape::of_observed(&last.arguments),
            "LiveGauge" => {
                return Shape {
                    kind: Some(Kind::Gauge),
                    observed: true,
                };
            }
            "Counter" | "CounterVec" | "KeyedCounter" | "KeyedCounterVec" => Kind::Counter,
            "Gauge" | "GaugeVec" | "KeyedGauge" | "KeyedGaugeVec" => Kind::Gauge,
            "Histogram" | "HistogramVec" | "KeyedHistogram" | "KeyedHistogramVec" => {
                Kind::Histogram
            }
            _ => return unknown,
        };
        Shape {
            kind: Some(kind),
            observed: false,
        }
    }

    fn of_observed(arguments: &syn::PathArguments) -> Shape {
        let inner = match arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(Shape::of(t).kind),
                _ => None,
            }),
            _ => None,
        };
        Shape {
            kind: inner.flatten(),
            observed: true,
        }
    }
}

/// `start = zero` or `start = absent("why")`.
pub(crate) enum StartDecl {
    Zero,
    Absent(LitStr),
}

/// One `#[metric(...)]`, each key with the span of its name for errors.
pub(crate) struct MetricAttrs {
    /// The whole attribute: where a missing key is reported.
    pub tokens: TokenStream,
    pub name: Option<LitStr>,
    pub why: Option<Expr>,
    pub unit: Option<LitStr>,
    pub labels: Option<(Span, Vec<LitStr>)>,
    /// The OpenTelemetry instrument name, where it is not the Prometheus name less its
    /// suffixes (a semantic-conventions name such as `http.server.request.duration`).
    pub otel_name: Option<LitStr>,
    pub buckets: Option<(Span, ExprArray)>,
    pub limit: Option<Expr>,
    pub start: Option<(Span, StartDecl)>,
}

/// A field's role in the family.
pub(crate) enum Role {
    Metric(Box<MetricField>),
    /// Any other field: `init`, or `Default::default()`.
    State {
        init: Option<Expr>,
    },
}

/// A metric's field, its declaration parsed and its required keys present.
pub(crate) struct MetricField {
    pub ident: Ident,
    pub ty: Type,
    pub attrs: MetricAttrs,
    pub name: LitStr,
    pub why: Expr,
    /// The doc comment's pieces: the help text.
    pub docs: Vec<Expr>,
    pub shape: Shape,
}

pub(crate) struct FamilyField {
    pub ident: Ident,
    pub role: Role,
}

impl FamilyField {
    pub(crate) fn parse(field: &Field) -> syn::Result<FamilyField> {
        let Some(ident) = field.ident.clone() else {
            return Err(syn::Error::new(
                field.span(),
                "a family's fields are named: the name makes the definition's",
            ));
        };
        let metric = single(&field.attrs, "metric")?;
        let state = single(&field.attrs, "state")?;
        let role = match (metric, state) {
            (Some(_), Some(state)) => {
                return Err(syn::Error::new_spanned(
                    state,
                    "a field is a metric or state, not both",
                ));
            }
            (Some(metric), None) => Role::Metric(Box::new(metric_field(field, &ident, metric)?)),
            (None, Some(state)) => Role::State {
                init: Some(parse_state(state)?),
            },
            (None, None) => Role::State { init: None },
        };
        Ok(FamilyField { ident, role })
    }
}

/// The one attribute named `name`, if any; a second is an error.
fn single<'a>(attrs: &'a [Attribute], name: &str) -> syn::Result<Option<&'a Attribute>> {
    let mut found = attrs.iter().filter(|a| a.path().is_ident(name));
    let first = found.next();
    match found.next() {
        Some(second) => Err(syn::Error::new_spanned(
            second,
            format!("a field has one `{name}` attribute"),
        )),
        None => Ok(first),
    }
}

fn parse_state(attr: &Attribute) -> syn::Result<Expr> {
    let mut init = None;
    attr.parse_nested_meta(|meta| {
        if !meta.path.is_ident("init") {
            return Err(meta.error("unknown key: `state` takes `init = <expression>`"));
        }
        if init.is_some() {
            return Err(meta.error("`init` is given twice"));
        }
        init = Some(meta.value()?.parse::<Expr>()?);
        Ok(())
    })?;
    init.ok_or_else(|| {
        syn::Error::new_spanned(
            attr,
            "`state` takes `init = <expression>`; leave the attribute out for Default::default()",
        )
    })
}

fn metric_field(field: &Field, ident: &Ident, attr: &Attribute) -> syn::Result<MetricField> {
    let attrs = crate::attr::parse_metric(attr)?;
    let missing = |key: &str, example: &str| {
        syn::Error::new_spanned(
            &attrs.tokens,
            format!("a metric declares `{key}`: {example}"),
        )
    };
    let name = attrs
        .name
        .clone()
        .ok_or_else(|| missing("name", "the Prometheus name, `name = \"alys_…\"`"))?;
    let why = attrs
        .why
        .clone()
        .ok_or_else(|| missing("why", "why it exists, `why = \"…\"` (a &'static str)"))?;
    let docs = field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(doc) => Some(doc.value.clone()),
            _ => None,
        })
        .collect();
    Ok(MetricField {
        ident: ident.clone(),
        ty: field.ty.clone(),
        name,
        why,
        docs,
        shape: Shape::of(&field.ty),
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(ty: &str) -> Shape {
        Shape::of(&syn::parse_str(ty).expect("a type"))
    }

    #[test]
    fn shapes_come_from_the_type_name() {
        let counter = shape("CounterVec<(A, B)>");
        assert_eq!(
            (counter.kind, counter.observed),
            (Some(Kind::Counter), false)
        );
        let observed = shape("Observed<crate::instruments::GaugeVec<ActorType>>");
        assert_eq!(
            (observed.kind, observed.observed),
            (Some(Kind::Gauge), true)
        );
        assert_eq!(shape("LiveGauge").kind, Some(Kind::Gauge));
        assert_eq!(shape("x::KeyedHistogram").kind, Some(Kind::Histogram));
        assert_eq!(shape("MyAlias").kind, None);
        assert!(shape("Observed<MyAlias>").observed);
    }
}
