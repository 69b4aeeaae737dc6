//! The web configuration file of the pull endpoint, in the format of the Prometheus
//! exporter-toolkit (<https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md>),
//! with two extensions of ours. The setting `pull.web_config_file`
//! (`ALYS_TELEMETRY_WEB_CONFIG_FILE`, `--web.config.file`) names it.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.pem            # or `cert:` with the PEM inline
//!   key_file: server.key             # or `key:` with the PEM inline
//!   client_auth_type: RequireAndVerifyClientCert  # NoClientCert (default),
//!                                    # VerifyClientCertIfGiven, RequireAndVerifyClientCert
//!   client_ca_file: ca.pem           # or `client_ca:` inline; needed by the two above
//!   min_version: TLS12               # TLS12 (default) or TLS13
//!   max_version: TLS13               # TLS12 or TLS13 (default)
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]  # TLS 1.2 suites, Go's names
//!   prefer_server_cipher_suites: true
//!   curve_preferences: [X25519, CurveP256]  # X25519, CurveP256, CurveP384
//! http_server_config:
//!   headers:                         # extra response headers, exporter-toolkit's five
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:                  # user: bcrypt hash ($2y$, $2a$ or $2b$)
//!   prometheus: $2y$10$...
//! bearer_token_file: metrics.token   # ours: `Authorization: Bearer <the file's content>`
//! viewer:                            # ours: the viewer's own credentials
//!   basic_auth_users:
//!     operator: $2y$10$...
//!   bearer_token_file: viewer.token
//! ```
//!
//! - **What is protected.** `basic_auth_users` and `bearer_token_file` at the top protect
//!   `/metrics`; either credential is accepted when both are set. The viewer's pages and API
//!   (`/`, `/traces`, `/api/...`) take the `viewer:` section's credentials when it is there,
//!   and the top-level ones when it is not: a node can give Prometheus `/metrics` and keep
//!   its traces for operators. A `viewer:` section must set at least one credential.
//!   `/health` and `/ready` never ask for credentials (kubelet and compose probes), and are
//!   served over TLS like everything else when TLS is on.
//! - **Refusals.** Missing or wrong credentials are answered 401 with `WWW-Authenticate`
//!   (`Basic realm="..."`, or `Bearer` when only a token is set), and counted in
//!   `alys_telemetry_pull_access_denied_total{reason}`.
//! - **Strict.** A key this file does not know is an error naming it, as exporter-toolkit's
//!   strict YAML is. Keys of exporter-toolkit that rustls or this server cannot honour are
//!   refused with the reason, never ignored: `client_auth_type` RequestClientCert and
//!   RequireAnyClientCert (rustls verifies every client certificate it is given),
//!   `min_version`/`max_version` TLS10 and TLS11, `client_allowed_sans`, `rate_limit`,
//!   `http_server_config.http2: true` (the endpoint speaks HTTP/1.1), and cipher suites or
//!   curves rustls' ring provider does not have.
//! - **Paths.** Relative paths (`cert_file`, `key_file`, `client_ca_file`,
//!   `bearer_token_file`) are relative to the web configuration file's directory.
//! - **Reload.** The file and every file it names are read again when their content changes
//!   (checked every second; a Kubernetes Secret's swapped symlink counts) and on SIGHUP. A
//!   reload that fails keeps the last good configuration and logs why. A reload cannot turn
//!   TLS on or off: the scheme is the one the endpoint started with.
//! - **Secrets.** No password, hash, key or token appears in any error, log line or
//!   response; errors name the file, the key and the problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;

/// Why a web configuration file cannot be used. Every variant names the file; none holds a
/// password, hash, key or token.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file, or a file it names, cannot be read.
    #[error("web config file {}: {key}: cannot read {}: {source}", path.display(), file.display())]
    Read {
        path: PathBuf,
        /// The key that names the file (`pull.web_config_file` for the file itself).
        key: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML of this format (an unknown key, a value of the wrong type). Any
    /// value the parser would quote is left out of `reason`.
    #[error("web config file {}: {reason}", path.display())]
    Syntax { path: PathBuf, reason: String },
    /// A key holds a value this server cannot use.
    #[error("web config file {}: {key}: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// rustls refused the certificates or keys.
    #[error("web config file {}: {key}: {source}", path.display())]
    Tls {
        path: PathBuf,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl WebConfigError {
    /// The web configuration file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            WebConfigError::Read { path, .. }
            | WebConfigError::Syntax { path, .. }
            | WebConfigError::Invalid { path, .. }
            | WebConfigError::Tls { path, .. } => path,
        }
    }
}

/// The file as written. No `Debug`: it holds hashes and may hold a key.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebConfig {
    pub tls_server_config: Option<RawTls>,
    pub http_server_config: Option<RawHttp>,
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    pub bearer_token_file: Option<PathBuf>,
    pub viewer: Option<RawAccess>,
    /// exporter-toolkit's; refused.
    pub rate_limit: Option<IgnoredAny>,
}

/// `tls_server_config`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    /// exporter-toolkit's; refused.
    pub client_allowed_sans: Option<IgnoredAny>,
}

/// `http_server_config`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `viewer` (ours).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccess {
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    pub bearer_token_file: Option<PathBuf>,
}

/// Where the errors of one file point: the file, and its directory for relative paths.
#[derive(Debug, Clone)]
pub(super) struct At {
    pub path: PathBuf,
    dir: PathBuf,
}

impl At {
    pub fn new(path: &Path) -> At {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        At {
            path: path.to_path_buf(),
            dir,
        }
    }

    /// `file` as exporter-toolkit reads it: relative to the web configuration's directory.
    pub fn resolve(&self, file: &Path) -> PathBuf {
        match file.is_absolute() {
            true => file.to_path_buf(),
            false => self.dir.join(file),
        }
    }

    pub fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> WebConfigError {
        WebConfigError::Invalid {
            path: self.path.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub fn read(&self, key: &str, file: &Path, source: std::io::Error) -> WebConfigError {
        WebConfigError::Read {
            path: self.path.clone(),
            key: key.to_string(),
            file: file.to_path_buf(),
            source,
        }
    }

    pub fn tls(
        &self,
        key: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> WebConfigError {
        WebConfigError::Tls {
            path: self.path.clone(),
            key: key.to_string(),
            source: source.into(),
        }
    }
}

/// Parses the file's content. A file with nothing but comments is the empty configuration
/// (plain HTTP, no credentials), as exporter-toolkit's.
pub(super) fn parse(at: &At, content: &[u8]) -> Result<RawWebConfig, WebConfigError> {
    let text = std::str::from_utf8(content).map_err(|_| WebConfigError::Syntax {
        path: at.path.clone(),
        reason: "not UTF-8".to_string(),
    })?;
    let blank = text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
    if blank {
        return Ok(RawWebConfig::default());
    }
    let raw: RawWebConfig = serde_norway::from_str(text).map_err(|e| WebConfigError::Syntax {
        path: at.path.clone(),
        reason: redact(&e.to_string()),
    })?;
    refuse_unsupported(at, &raw)?;
    Ok(raw)
}

/// exporter-toolkit keys this server cannot honour: an error that says so, never ignored.
fn refuse_unsupported(at: &At, raw: &RawWebConfig) -> Result<(), WebConfigError> {
    if raw.rate_limit.is_some() {
        return Err(at.invalid(
            "rate_limit",
            "not supported by this server (the pull endpoint caps its connections instead: pull.max_connections)",
        ));
    }
    if raw
        .tls_server_config
        .as_ref()
        .is_some_and(|tls| tls.client_allowed_sans.is_some())
    {
        return Err(at.invalid(
            "tls_server_config.client_allowed_sans",
            "not supported by this server: trust only the client CA that signs the clients you allow",
        ));
    }
    if raw
        .http_server_config
        .as_ref()
        .is_some_and(|http| http.http2 == Some(true))
    {
        return Err(at.invalid(
            "http_server_config.http2",
            "true is not supported: the pull endpoint speaks HTTP/1.1 (set false, or leave it out)",
        ));
    }
    Ok(())
}

/// The parser's message without the value it quotes: in `invalid type: string "…", expected
/// a map` the string may be a password hash or a key.
fn redact(message: &str) -> String {
    for marker in ["invalid type: ", "invalid value: ", "invalid length: "] {
        let Some(start) = message.find(marker) else {
            continue;
        };
        let rest = &message[start + marker.len()..];
        let Some(end) = rest.find(", expected") else {
            return format!("{}{marker}(value not shown)", &message[..start]);
        };
        let kind = rest[..end].split_whitespace().next().unwrap_or("value");
        return format!(
            "{}{marker}{kind} (value not shown){}",
            &message[..start],
            &rest[end..]
        );
    }
    message.to_string()
}

/// The response headers `http_server_config.headers` may set, with the values allowed (any
/// when empty): exporter-toolkit's list.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The extra response headers, checked against exporter-toolkit's list.
pub(super) fn headers(
    at: &At,
    http: Option<&RawHttp>,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, WebConfigError> {
    let Some(http) = http else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, value) in &http.headers {
        let key = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = HEADERS.iter().find(|(known, _)| known == name) else {
            let known: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(at.invalid(key, format!("cannot be set; one of {}", known.join(", "))));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(at.invalid(key, format!("must be one of {}", allowed.join(", "))));
        }
        // Exporter-toolkit: a blank value leaves the header unset.
        if value.trim().is_empty() {
            continue;
        }
        let header = http::HeaderValue::from_str(value)
            .map_err(|_| at.invalid(&key, "not a valid header value"))?;
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| at.invalid(&key, "not a valid header name"))?;
        out.push((name, header));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
