//! The governance stream: a long-lived, instrumented gRPC bidirectional stream between the
//! node's StreamActor and a governance node (crates/governance/proto/governance.proto, docs/governance-stream.md).
//!
//! - [`client`]: the StreamActor: reconnects with backoff and jitter, buffers while
//!   disconnected, correlates signature responses with requests, handles every received
//!   message in a span that continues the sender's trace;
//! - [`propagation`]: W3C trace context per message.

pub mod client;
pub mod propagation;
mod tls;

pub use tls::{TlsError, TlsFiles};

/// The generated protocol types and gRPC stubs.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("alys.governance.v1");
}

use std::fmt;

/// A bearer token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    /// The value for the `authorization` metadata.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether a presented `authorization` value carries this token, compared in constant
    /// time so that the answer's timing tells an attacker nothing about the token.
    pub fn matches_bearer(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.bearer().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print_and_compare_exactly() {
        let t = Token::new("s3cret");
        assert!(!format!("{t:?} {t}").contains("s3cret"));
        assert!(t.matches_bearer("Bearer s3cret"));
        assert!(!t.matches_bearer("Bearer s3cre"));
        assert!(!t.matches_bearer("Bearer s3creT"));
        assert!(!t.matches_bearer(""));
    }
}
