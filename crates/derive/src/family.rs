//! `#[derive(MetricFamily)]`: the struct's attribute and fields, checked; the code is made
//! by [`generate`](crate::generate).

use std::collections::HashMap;

use syn::meta::ParseNestedMeta;
use syn::{Data, DeriveInput, Fields, LitStr, Path};

use crate::field::{FamilyField, Role};

/// The catalogue as a service depending on `alys-telemetry` reaches it.
pub(crate) fn default_crate_path() -> Path {
    syn::parse_quote!(::alys_telemetry::sources::catalog)
}

/// `crate = path` (or `crate = "path"`, as serde writes it).
pub(crate) fn parse_crate_path(meta: &ParseNestedMeta) -> syn::Result<Path> {
    let value = meta.value()?;
    if value.peek(LitStr) {
        return value.parse::<LitStr>()?.parse();
    }
    value.parse()
}

/// The struct's `#[family(title = "...", crate = path)]`.
pub(crate) struct FamilyAttrs {
    pub title: LitStr,
    pub krate: Path,
}

fn family_attrs(input: &DeriveInput) -> syn::Result<FamilyAttrs> {
    let mut title: Option<LitStr> = None;
    let mut krate: Option<Path> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("family")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("title") {
                if title.is_some() {
                    return Err(meta.error("`title` is given twice"));
                }
                title = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("crate") {
                if krate.is_some() {
                    return Err(meta.error("`crate` is given twice"));
                }
                krate = Some(parse_crate_path(&meta)?);
            } else {
                return Err(meta.error("unknown key: `family` takes `title` and `crate`"));
            }
            Ok(())
        })?;
    }
    let title = title.ok_or_else(|| {
        syn::Error::new_spanned(
            &input.ident,
            "a family has a title in the catalogue: `#[family(title = \"chain\")]`",
        )
    })?;
    Ok(FamilyAttrs {
        title,
        krate: krate.unwrap_or_else(default_crate_path),
    })
}

pub(crate) fn derive(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named),
            _ => None,
        },
        _ => None,
    };
    let Some(named) = named else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "MetricFamily is derived on a struct with named fields, one per metric",
        ));
    };
    let attrs = family_attrs(input)?;
    let fields = named
        .named
        .iter()
        .map(FamilyField::parse)
        .collect::<syn::Result<Vec<_>>>()?;
    check_fields(&fields)?;
    Ok(crate::generate::family(input, &attrs, &fields))
}

/// Every field's rule errors at once, and no metric name twice.
fn check_fields(fields: &[FamilyField]) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut names: HashMap<String, &syn::Ident> = HashMap::new();
    for field in fields {
        let Role::Metric(metric) = &field.role else {
            continue;
        };
        if let Err(e) = crate::rules::check(metric) {
            errors.push(e);
        }
        if let Some(first) = names.insert(metric.name.value(), &metric.ident) {
            errors.push(syn::Error::new_spanned(
                &metric.name,
                format!("`{first}` already declares this name"),
            ));
        }
    }
    let mut errors = errors.into_iter();
    let Some(mut first) = errors.next() else {
        return Ok(());
    };
    errors.for_each(|e| first.combine(e));
    Err(first)
}
