//! Endpoint URLs may carry credentials (`http://user:password@host`). They are used as
//! given, and shown everywhere (configuration output, logs, errors) with the user
//! information replaced.

use std::borrow::Cow;
use std::fmt;

/// What replaces a URL's user information wherever it is shown.
pub const REDACTED: &str = "<redacted>";

/// `text` with the user information of its URL replaced by `<redacted>`; the scheme, host,
/// port and path stay, so the message still says where. Text without user information is
/// returned as it is. A value without a scheme is treated as starting with its authority,
/// so `user:pw@host:4317` is redacted too.
pub fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let authority_start = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}{REDACTED}@{}",
            &text[..authority_start],
            &rest[at + 1..]
        )),
        None => Cow::Borrowed(text),
    }
}

/// An endpoint URL: used as given, shown with its user information redacted (`Debug` and
/// `Display` alike).
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    pub fn new(url: impl Into<String>) -> Self {
        EndpointUrl(url.into())
    }

    /// The URL as given, credentials included: for the exporters, never for printing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL as it may be shown.
    pub fn redacted(&self) -> Cow<'_, str> {
        redact_userinfo(&self.0)
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.redacted(), f)
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl PartialEq<&str> for EndpointUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_replaced_and_the_rest_kept() {
        for (given, shown) in [
            (
                "http://user:pa55@collector:4317/v1/traces",
                "http://<redacted>@collector:4317/v1/traces",
            ),
            ("https://token@h", "https://<redacted>@h"),
            (
                "http://a@b:c@host:1?q=x@y",
                "http://<redacted>@host:1?q=x@y",
            ),
            ("user:pa55@host:4317", "<redacted>@host:4317"),
            ("http://host:4317/path@x", "http://host:4317/path@x"),
            ("http://collector:4317", "http://collector:4317"),
            ("", ""),
        ] {
            assert_eq!(redact_userinfo(given), shown, "{given}");
        }
        let url = EndpointUrl::new("http://u:pa55@c:4317");
        assert_eq!(url.as_str(), "http://u:pa55@c:4317");
        assert!(!format!("{url} {url:?}").contains("pa55"));
    }
}
