//! Why a request of the terminal views failed, in words that name what to change: a 401's
//! challenges and the flags that answer them, a TLS failure and its likely cause. Never a
//! secret.

use super::client::Authorization;

/// Why a request failed. `refused` when the node refused this client (a 401, or a TLS
/// handshake that failed on a certificate): retrying will not help, a flag is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub message: String,
    pub refused: bool,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<FetchError> for String {
    fn from(e: FetchError) -> String {
        e.message
    }
}

impl From<String> for FetchError {
    fn from(message: String) -> FetchError {
        FetchError {
            message,
            refused: false,
        }
    }
}

/// What a 401 means, from its challenges (`Basic realm="alys-telemetry metrics"`, `Bearer
/// realm="alys-telemetry viewer"`) and what was sent; never a secret.
pub(super) fn unauthorized(challenges: &[String], sent: Option<&Authorization>) -> String {
    let asks = |scheme: &str| {
        challenges.iter().any(|c| {
            c.get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        })
    };
    let (basic, bearer) = match (asks("basic"), asks("bearer")) {
        (false, false) => (true, true),
        either => either,
    };
    let viewer = challenges
        .iter()
        .any(|c| c.contains("alys-telemetry viewer"));
    let metrics = challenges
        .iter()
        .any(|c| c.contains("alys-telemetry metrics"));
    let whose = if viewer {
        "the node asks for the viewer's credentials (its web config's `viewer:` section, or \
         the top-level ones without it)"
    } else if metrics {
        "the node asks for the credentials of /metrics (its web config's basic_auth_users or \
         bearer_token_file)"
    } else {
        "the server asks for credentials"
    };
    let pass = match (basic, bearer) {
        (true, true) => {
            "pass --user NAME with --password-file FILE (or ALYS_TELEMETRY_PULL_PASSWORD), \
             or --bearer-token-file FILE"
        }
        (true, false) => {
            "pass --user NAME with --password-file FILE (or ALYS_TELEMETRY_PULL_PASSWORD)"
        }
        _ => "pass --bearer-token-file FILE",
    };
    match sent {
        None => format!("{whose}: {pass}"),
        Some(auth) => format!(
            "{whose}, and refused {} (a wrong password or token, or credentials of the other \
             part: /metrics and the viewer can have different ones)",
            auth.described
        ),
    }
}

/// A failed request, with what to do when a TLS handshake failed on a certificate.
pub(super) fn describe(url: &str, e: &ureq::Error) -> FetchError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    let https = url.starts_with("https://");
    let hint = match tls_error(e) {
        Some(tls) => tls_hint(tls),
        None if !https && matches!(e, ureq::Error::Protocol(_)) => Some(
            "the answer is not HTTP: if the node serves TLS (a web config with \
             tls_server_config), use an https:// address",
        ),
        None => None,
    };
    match hint {
        Some(hint) => FetchError {
            message: format!("{url}: {text} ({hint})"),
            refused: true,
        },
        None => FetchError {
            message: format!("{url}: {text}"),
            refused: false,
        },
    }
}

/// The rustls error of a failed handshake, wherever ureq carries it.
fn tls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// What to pass when a handshake failed this way; `None` when no flag would help.
fn tls_hint(e: &rustls::Error) -> Option<&'static str> {
    use rustls::{AlertDescription, CertificateError, Error, InvalidMessage};
    Some(match e {
        Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => {
            "the node's certificate is not signed by a CA this client trusts: pass --ca-file \
             with the PEM certificate of the CA that signed it"
        }
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            "the node's certificate is not for this host name: reach the node by a name its \
             certificate carries"
        }
        Error::InvalidCertificate(_) => "the node's certificate is refused",
        Error::AlertReceived(AlertDescription::CertificateRequired)
        | Error::AlertReceived(AlertDescription::HandshakeFailure) => {
            "the node asks for a client certificate: pass --client-cert and --client-key"
        }
        Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::DecryptError,
        ) => {
            "the node refused the client certificate of --client-cert: it is not signed by the \
             CA the node trusts for clients (client_ca_file)"
        }
        Error::InvalidMessage(InvalidMessage::InvalidContentType) => {
            "the node does not answer TLS on this port: use an http:// address"
        }
        _ => return None,
    })
}
