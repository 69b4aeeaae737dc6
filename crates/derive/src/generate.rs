//! The code `#[derive(MetricFamily)]` makes: a definition per metric (an inherent constant,
//! checked), the catalogue entry and `new`.
//!
//! Definitions are associated constants, so a generic family has its own per instantiation
//! (label counts come from the type parameters). A non-generic family's constants are
//! evaluated by a `const _` item, so a broken rule stops even `cargo check`; a generic one's
//! are evaluated where an instantiation is built (`cargo build`).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, LitStr};

use crate::case::screaming_snake_case;
use crate::family::FamilyAttrs;
use crate::field::{FamilyField, MetricField, Role, StartDecl};
use crate::rules::help_text;

pub(crate) fn family(
    input: &DeriveInput,
    attrs: &FamilyAttrs,
    fields: &[FamilyField],
) -> TokenStream {
    let krate = &attrs.krate;
    let private = quote!(#krate::__private);
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let metrics: Vec<&MetricField> = fields
        .iter()
        .filter_map(|f| match &f.role {
            Role::Metric(metric) => Some(metric.as_ref()),
            Role::State { .. } => None,
        })
        .collect();
    let definitions = metrics.iter().map(|m| definition(m, &private));
    let family_impl = family_impl(input, attrs, fields, &metrics, &private);
    let evaluated = input.generics.params.is_empty().then(|| {
        quote! {
            const _: () = {
                let _ = <#name as #private::MetricFamily>::FAMILY;
            };
        }
    });
    quote! {
        impl #impl_generics #name #type_generics #where_clause {
            #(#definitions)*

            /// Builds every instrument of the family on `meter`: bound once, and at 0 where
            /// the metric starts at zero. Call it once, at start-up.
            pub fn new(meter: &#private::Meter) -> Self {
                <Self as #private::MetricFamily>::new(meter)
            }
        }

        #family_impl
        #evaluated
    }
}

/// `impl MetricFamily`: the catalogue entry, and `new` building every field.
fn family_impl(
    input: &DeriveInput,
    attrs: &FamilyAttrs,
    fields: &[FamilyField],
    metrics: &[&MetricField],
    private: &TokenStream,
) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let title = &attrs.title;
    // The catalogue lists recorded metrics first, then observed ones, each in field order.
    let listed = metrics
        .iter()
        .filter(|m| !m.shape.observed)
        .chain(metrics.iter().filter(|m| m.shape.observed))
        .map(|m| const_name(m));
    let observed = metrics
        .iter()
        .filter(|m| m.shape.observed && !is_live_gauge(m))
        .map(|m| &m.ident);
    let inits = fields.iter().map(|f| init(f, private));
    quote! {
        impl #impl_generics #private::MetricFamily for #name #type_generics #where_clause {
            const FAMILY: #private::Family = #private::Family {
                title: #title,
                metrics: &[#(Self::#listed),*],
            };

            #[allow(unused_variables)] // a family of observed metrics builds nothing on it
            fn new(meter: &#private::Meter) -> Self {
                Self { #(#inits,)* }
            }

            fn __mark_observed(&self) {
                #(let _ = &self.#observed;)*
            }
        }
    }
}

/// A `LiveGauge` is observed, but its owner records through it: it is read like any field.
fn is_live_gauge(metric: &MetricField) -> bool {
    matches!(&metric.ty, syn::Type::Path(p)
        if p.path.segments.last().is_some_and(|s| s.ident == "LiveGauge"))
}

/// `production` → `PRODUCTION`, spanned at the field.
fn const_name(metric: &MetricField) -> syn::Ident {
    let text = screaming_snake_case(&metric.ident.to_string());
    format_ident!("{}", text, span = metric.ident.span())
}

/// A field's initialiser in `new`.
fn init(field: &FamilyField, private: &TokenStream) -> TokenStream {
    let ident = &field.ident;
    match &field.role {
        Role::Metric(metric) => {
            let ty = &metric.ty;
            let definition = const_name(metric);
            quote! { #ident: <#ty as #private::Instrument>::build(&Self::#definition, meter) }
        }
        Role::State { init: Some(init) } => quote! { #ident: #init },
        // Spanned at the field, so that a type without Default is reported there.
        Role::State { init: None } => {
            quote_spanned! { ident.span()=> #ident: ::core::default::Default::default() }
        }
    }
}

/// The metric's definition: `pub const FIELD: MetricDef`, with the constant assertions that
/// need its type, each spanned at the key it judges, and `checked()` spanned at the field.
fn definition(metric: &MetricField, private: &TokenStream) -> TokenStream {
    let ty = &metric.ty;
    let docs = &metric.docs;
    let const_name = const_name(metric);
    let name = &metric.name;
    let count_at = metric
        .attrs
        .labels
        .as_ref()
        .map_or_else(|| metric.ty.span(), |(span, _)| *span);
    let label_count = metric.attrs.labels.as_ref().map_or(0, |(_, l)| l.len());
    let at = respan(private, count_at);
    let count_check = quote_spanned! {count_at=> #at::label_count::<#ty>(#label_count); };
    let buckets_check = metric.attrs.buckets.as_ref().map(|(key, _)| {
        let at = respan(private, *key);
        quote_spanned! {*key=> #at::histogram_only::<#ty>(); }
    });
    let value = def_value(metric, private);
    let doc_name = format!("`{}`", name.value());
    quote! {
        #(#[doc = #docs])*
        ///
        #[doc = #doc_name]
        pub const #const_name: #private::MetricDef = {
            #count_check
            #buckets_check
            #value
        };
    }
}

/// `MetricDef { .. }.checked()`, spanned at the field so a broken rule points there.
fn def_value(metric: &MetricField, private: &TokenStream) -> TokenStream {
    let span = metric.ident.span();
    let at = respan(private, span);
    let ty = &metric.ty;
    let name = &metric.name;
    let why = &metric.why;
    let unit = metric
        .attrs
        .unit
        .clone()
        .unwrap_or_else(|| LitStr::new("", span));
    let help = match help_text(&metric.docs) {
        Some(text) => quote!(#text),
        None => {
            let docs = &metric.docs;
            quote!(#private::trim(::core::concat!(#(#docs),*)))
        }
    };
    let labels = metric
        .attrs
        .labels
        .iter()
        .flat_map(|(_, names)| names.iter());
    let otel_name = match &metric.attrs.otel_name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let buckets = match &metric.attrs.buckets {
        Some((_, array)) => quote!(&#array),
        None => quote!(&[]),
    };
    let limit = match &metric.attrs.limit {
        Some(limit) => quote!(#limit),
        None => quote!(#private::DEFAULT_CARDINALITY_LIMIT),
    };
    let start = start(metric, private);
    quote_spanned! {span=>
        #at::MetricDef {
            name: #name,
            otel_name: #otel_name,
            kind: <#ty as #private::Instrument>::KIND,
            unit: #unit,
            help: #help,
            labels: &[#(#labels),*],
            buckets: #buckets,
            why: #why,
            cardinality_limit: #limit,
            start: #start,
            combinations: <#ty as #private::Instrument>::COMBINATIONS,
        }
        .checked()
    }
}

/// The declared start, asserted to suit the type; else the type's own.
fn start(metric: &MetricField, private: &TokenStream) -> TokenStream {
    let ty = &metric.ty;
    let Some((key, declared)) = &metric.attrs.start else {
        return quote!(<#ty as #private::Instrument>::START);
    };
    let at = respan(private, *key);
    let value = match declared {
        StartDecl::Zero => quote!(#private::Start::Zero),
        StartDecl::Absent(why) => quote!(#private::Start::Absent(#why)),
    };
    quote_spanned! {*key=> #at::declared_start::<#ty>(#value) }
}

/// `tokens` with every token at `span`: a call's span runs from its first token to its last,
/// so the path that starts it must sit where the error should point.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}
