//! `#[derive(LabelValue)]`: a fieldless enum as a closed set of label values.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr, Path, Variant};

use crate::case::snake_case;

/// The label attribute: `#[label("value")]` on a variant, `#[label(crate = path)]` on the enum.
const ATTRIBUTE: &str = "label";

pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let krate = crate_path(&input.attrs)?;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "LabelValue is derived on a fieldless enum: its variants are the label values",
        ));
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "an enum without variants has no label values to record",
        ));
    }
    let mut labels = Vec::with_capacity(data.variants.len());
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for variant in &data.variants {
        let (label, span) = variant_label(variant)?;
        if let Some(first) = seen.insert(label.value(), &variant.ident) {
            return Err(syn::Error::new(
                span,
                format!(
                    "the label \"{}\" is already `{first}`'s: two variants would be one series",
                    label.value()
                ),
            ));
        }
        labels.push((&variant.ident, label));
    }
    Ok(generate(input, &krate, &labels))
}

/// The catalogue's path from `#[label(crate = path)]`, or the facade's.
fn crate_path(attrs: &[Attribute]) -> syn::Result<Path> {
    let mut krate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident(ATTRIBUTE)) {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("crate") {
                return Err(meta.error("unknown key: the enum's `label` attribute takes `crate`"));
            }
            if krate.is_some() {
                return Err(meta.error("`crate` is given twice"));
            }
            krate = Some(crate::family::parse_crate_path(&meta)?);
            Ok(())
        })?;
    }
    Ok(krate.unwrap_or_else(crate::family::default_crate_path))
}

/// A variant's label and where to point at it: `#[label("value")]`, else the name in
/// snake_case. Refuses what would make the variant's index differ from its position.
fn variant_label(variant: &Variant) -> syn::Result<(LitStr, proc_macro2::Span)> {
    if !matches!(variant.fields, Fields::Unit) {
        return Err(syn::Error::new_spanned(
            &variant.fields,
            "a label value has no fields: the set of values must be closed",
        ));
    }
    if let Some((_, discriminant)) = &variant.discriminant {
        return Err(syn::Error::new_spanned(
            discriminant,
            "a label value takes no explicit discriminant: its index is its position",
        ));
    }
    let mut explicit: Option<LitStr> = None;
    for attr in variant
        .attrs
        .iter()
        .filter(|a| a.path().is_ident(ATTRIBUTE))
    {
        if explicit.is_some() {
            return Err(syn::Error::new_spanned(attr, "a variant has one `label`"));
        }
        let value: LitStr = attr.parse_args().map_err(|e| {
            syn::Error::new(e.span(), "expected the label value: `#[label(\"value\")]`")
        })?;
        if value.value().is_empty() {
            return Err(syn::Error::new_spanned(
                &value,
                "an empty label value reads as no label at all",
            ));
        }
        explicit = Some(value);
    }
    Ok(match explicit {
        Some(value) => {
            let span = value.span();
            (value, span)
        }
        None => {
            let span = variant.ident.span();
            (
                LitStr::new(&snake_case(&variant.ident.to_string()), span),
                span,
            )
        }
    })
}

fn generate(input: &DeriveInput, krate: &Path, labels: &[(&syn::Ident, LitStr)]) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let variants: Vec<_> = labels.iter().map(|(variant, _)| variant).collect();
    let values: Vec<_> = labels.iter().map(|(_, value)| value).collect();
    quote! {
        impl #impl_generics #name #type_generics #where_clause {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[#(Self::#variants),*];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    #(Self::#variants => #values,)*
                }
            }
        }

        impl #impl_generics ::core::fmt::Display for #name #type_generics #where_clause {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl #impl_generics #krate::__private::LabelValues for #name #type_generics
        #where_clause
        {
            const ARITY: usize = 1;
            const COUNT: usize = Self::ALL.len();
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
            fn from_index(index: usize) -> ::core::option::Option<Self> {
                Self::ALL.get(index).copied()
            }
            fn push_values(self, out: &mut ::std::vec::Vec<&'static str>) {
                out.push(self.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> String {
        let input: DeriveInput = syn::parse_str(source).expect("the test's input parses");
        match derive(&input) {
            Ok(_) => "no error".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn default_and_explicit_labels() {
        let input: DeriveInput =
            syn::parse_str(r#"enum Region { NorthAmerica, #[label("eu")] Europe }"#)
                .expect("parses");
        let code = derive(&input).expect("derives").to_string();
        assert!(code.contains("\"north_america\""), "{code}");
        assert!(code.contains("\"eu\""), "{code}");
        assert!(
            code.contains(":: alys_telemetry :: sources :: catalog :: __private :: LabelValues")
        );
    }

    #[test]
    fn refusals_name_the_rule() {
        assert!(error("struct S;").contains("fieldless enum"));
        assert!(error("enum E {}").contains("without variants"));
        assert!(error("enum E { A(u8) }").contains("no fields"));
        assert!(error("enum E { A = 1 }").contains("discriminant"));
        assert!(error(r#"enum E { A, #[label("a")] B }"#).contains("already `A`'s"));
        assert!(error(r#"#[label(krate = x)] enum E { A }"#).contains("unknown key"));
        assert!(error(r#"#[label(crate = x)] enum E { A }"#).contains("no error"));
    }
}
