//! The derives that declare metrics for the alys-telemetry catalogue. Use them through the
//! catalogue crate (`alys_telemetry::sources::catalog`, or `alys_telemetry_catalog`), whose
//! documentation describes every attribute and shows an example; this crate only generates
//! the code.
//!
//! - [`LabelValue`](macro@LabelValue) on a fieldless enum: a closed set of label values.
//! - [`MetricFamily`](macro@MetricFamily) on a struct with named fields: a family of metrics,
//!   one field per metric, declared with `#[metric(...)]`.
//!
//! Mistakes are reported at the field or attribute that makes them: what can be read from the
//! declaration's text (the naming rules on the literal name and unit, the buckets' order, a
//! gauge that does not say how it starts) here, when the macro runs; what depends on types (a
//! label count that does not match the field's type) by a constant assertion placed at the
//! attribute, which fails when the family's definitions are evaluated.

mod attr;
mod case;
mod family;
mod field;
mod generate;
mod label;
mod rules;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives a closed set of label values on a fieldless enum: `ALL`, `as_str`, `Display` and
/// the catalogue's `LabelValues`. A variant's label is `#[label("value")]`, or its name in
/// snake_case. `#[label(crate = path)]` on the enum names the catalogue crate when it is not
/// `::alys_telemetry::sources::catalog`.
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    label::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives a family of metrics on a struct with named fields: a `#[metric(...)]` field per
/// metric, `#[family(title = "...")]` on the struct, `#[state(init = expr)]` (or nothing) on
/// the other fields. Generates the definitions (`Struct::FIELD`), the catalogue entry
/// (`MetricFamily::FAMILY`) and `new(meter)`, which builds every instrument once.
#[proc_macro_derive(MetricFamily, attributes(family, metric, state))]
pub fn derive_metric_family(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    family::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
