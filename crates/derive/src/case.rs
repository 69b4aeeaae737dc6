//! Identifier case conversions: a variant's default label and a field's constant name.

/// `NorthAmerica` → `north_america`, `FederationV2` → `federation_v2`, `HTTPError` →
/// `http_error`: a word starts at an upper-case letter that follows a lower-case letter or
/// a digit, or that ends a run of capitals followed by a lower-case letter.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous: Option<char> = None;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_uppercase()
            && let Some(previous) = previous
        {
            let next_is_lower = chars.peek().is_some_and(|n| n.is_lowercase());
            let starts_word = previous.is_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_uppercase() && next_is_lower);
            if starts_word {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
        previous = Some(c);
    }
    out
}

/// `message_latency` → `MESSAGE_LATENCY`: a field's name as the name of its definition.
pub(crate) fn screaming_snake_case(field: &str) -> String {
    field.trim_start_matches("r#").to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_become_the_labels_the_catalogue_used() {
        for (variant, label) in [
            ("NorthAmerica", "north_america"),
            ("FederationV2", "federation_v2"),
            ("HealthCheck", "health_check"),
            ("Ok", "ok"),
            ("HTTPError", "http_error"),
            ("Ipv4", "ipv4"),
            ("V2Thing", "v2_thing"),
            ("Already_Snake", "already_snake"),
        ] {
            assert_eq!(snake_case(variant), label, "{variant}");
        }
    }

    #[test]
    fn fields_become_constant_names() {
        assert_eq!(screaming_snake_case("message_latency"), "MESSAGE_LATENCY");
        assert_eq!(screaming_snake_case("r#type"), "TYPE");
    }
}
