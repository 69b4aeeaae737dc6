//! How `top`, `traces` and `probe` reach a node whose pull endpoint a web configuration file
//! secures (README, "Securing the node's port"): an `https://` address, the CA that signed the
//! node's certificate, a client certificate for mutual TLS, and basic auth or a bearer token.
//! Files are read once, at start; a password or token is never taken from the command line
//! (it would show in `ps`) and never printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use clap::Args;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::client::{Authorization, Http, Timeouts};

/// The environment variable that can hold `--user`'s password instead of `--password-file`.
pub const PASSWORD_ENV: &str = "ALYS_TELEMETRY_PULL_PASSWORD";

/// TLS towards the node: what `probe` takes (`/health` and `/ready` ask for no credentials).
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTls {
    /// PEM certificate of the CA that signed the node's certificate; trusted instead of the
    /// built-in roots. Needs an https:// address (without an address: https:// on pull.listen).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a node that requires one (mutual TLS); with --client-key.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// TLS and credentials towards the node: what `top` and `traces` take.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAccess {
    #[command(flatten)]
    pub tls: NodeTls,
    /// User for basic auth; the password comes from --password-file, or from the environment
    /// variable ALYS_TELEMETRY_PULL_PASSWORD (never from the command line).
    #[arg(long, value_name = "NAME", conflicts_with = "bearer_token_file")]
    pub user: Option<String>,
    /// File holding --user's password (one trailing newline is ignored).
    #[arg(long, value_name = "FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
    /// File holding a bearer token, sent as `Authorization: Bearer` (one trailing newline is
    /// ignored).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
}

impl NodeTls {
    /// Whether a TLS flag is given (the node's address is then `https://`).
    pub fn any(&self) -> bool {
        self.ca_file.is_some() || self.client_cert.is_some()
    }

    /// The TLS configuration for `base`; an error names the flag and the file, or says that
    /// a TLS flag was given for an `http://` address.
    fn config(&self, base: &str) -> Result<TlsConfig, String> {
        if self.any() && !base.starts_with("https://") {
            let flag = if self.ca_file.is_some() {
                "--ca-file"
            } else {
                "--client-cert"
            };
            return Err(format!(
                "{flag} is for an https:// address, and {base} is not one: write the address \
                 as https://HOST:PORT"
            ));
        }
        let mut tls = TlsConfig::builder();
        if let Some(path) = &self.ca_file {
            let roots = certificates(path, "--ca-file")?;
            tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let chain = certificates(cert, "--client-cert")?;
            let key = private_key(key)?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        Ok(tls.build())
    }

    /// A client for `base` with these TLS settings and no credentials.
    pub fn http(&self, base: &str, timeouts: Timeouts) -> Result<Http, String> {
        Http::build(timeouts, self.config(base)?, None)
    }
}

impl NodeAccess {
    /// The client for `base` (`http://` or `https://`): the files read now, the TLS flags
    /// checked against the address. An error names the flag and the file, never a secret.
    pub fn http(&self, base: &str, timeouts: Timeouts) -> Result<Http, String> {
        Http::build(
            timeouts,
            self.tls.config(base)?,
            self.authorization(|name| std::env::var_os(name))?,
        )
    }

    /// The `Authorization` header the flags make; `env` reads the environment.
    fn authorization(
        &self,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Option<Authorization>, String> {
        if let Some(path) = &self.bearer_token_file {
            let token = secret_file(path, "--bearer-token-file")?;
            return Ok(Some(Authorization {
                header: format!("Bearer {token}").into(),
                described: "the token of --bearer-token-file".into(),
            }));
        }
        let Some(user) = &self.user else {
            return Ok(None);
        };
        if user.contains(':') {
            return Err(format!(
                "invalid --user {user:?}: a basic auth user name cannot hold ':'"
            ));
        }
        let (password, from) = match &self.password_file {
            Some(path) => (secret_file(path, "--password-file")?, "--password-file"),
            None => match env(PASSWORD_ENV) {
                Some(value) if !value.is_empty() => (
                    value.into_string().map_err(|_| {
                        format!(
                            "invalid {PASSWORD_ENV} (value hidden, it is a credential): the \
                             value is not valid UTF-8"
                        )
                    })?,
                    PASSWORD_ENV,
                ),
                _ => {
                    return Err(format!(
                        "--user {user} needs a password: pass --password-file FILE, or set \
                         {PASSWORD_ENV}"
                    ));
                }
            },
        };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Ok(Some(Authorization {
            header: format!("Basic {encoded}").into(),
            described: format!("user {user:?} with the password of {from}").into(),
        }))
    }
}

/// The content of a password or token file without one trailing newline; an empty file or
/// one that is not UTF-8 is an error naming the flag and the file (never the content).
fn secret_file(path: &Path, flag: &str) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
    let mut text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "invalid {flag} {}: the content is not valid UTF-8",
            path.display()
        )
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(format!(
            "invalid {flag} {}: the file is empty",
            path.display()
        ));
    }
    if text.contains(['\r', '\n']) {
        return Err(format!(
            "invalid {flag} {}: more than one line (only one trailing newline is ignored)",
            path.display()
        ));
    }
    Ok(text)
}

fn pem_items(path: &Path, flag: &str) -> Result<Vec<PemItem<'static>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid {flag} {}: {e}", path.display()))
}

fn certificates(path: &Path, flag: &str) -> Result<Vec<Certificate<'static>>, String> {
    let certs: Vec<_> = pem_items(path, flag)?
        .into_iter()
        .filter_map(|item| match item {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "invalid {flag} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, String> {
    pem_items(path, "--client-key")?
        .into_iter()
        .find_map(|item| match item {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "invalid --client-key {}: no PEM private key in it",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    /// A directory of files for one test, removed when it ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "alys-access-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, content: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, content).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn header(access: &NodeAccess, env: Option<&str>) -> Result<Option<String>, String> {
        access
            .authorization(|_| env.map(OsString::from))
            .map(|a| a.map(|a| a.header.to_string()))
    }

    #[test]
    fn a_password_file_loses_one_trailing_newline_and_makes_basic_auth() {
        let dir = Scratch::new();
        let access = NodeAccess {
            user: Some("operator".into()),
            password_file: Some(dir.file("password", b"s3cret\n")),
            ..NodeAccess::default()
        };
        // base64("operator:s3cret")
        assert_eq!(
            header(&access, Some("ignored")).unwrap().as_deref(),
            Some("Basic b3BlcmF0b3I6czNjcmV0")
        );
        let crlf = NodeAccess {
            password_file: Some(dir.file("password", b"s3cret\r\n")),
            ..access.clone()
        };
        assert_eq!(
            header(&crlf, None).unwrap().as_deref(),
            Some("Basic b3BlcmF0b3I6czNjcmV0")
        );
    }

    #[test]
    fn the_password_comes_from_the_environment_without_a_file() {
        let access = NodeAccess {
            user: Some("operator".into()),
            ..NodeAccess::default()
        };
        assert_eq!(
            header(&access, Some("s3cret")).unwrap().as_deref(),
            Some("Basic b3BlcmF0b3I6czNjcmV0")
        );
        let missing = header(&access, None).unwrap_err();
        assert!(
            missing.contains("--password-file") && missing.contains(PASSWORD_ENV),
            "{missing}"
        );
    }

    #[test]
    fn a_token_file_makes_a_bearer_header_and_errors_never_show_the_secret() {
        let dir = Scratch::new();
        let access = NodeAccess {
            bearer_token_file: Some(dir.file("token", b"tok-123\n")),
            ..NodeAccess::default()
        };
        assert_eq!(
            header(&access, None).unwrap().as_deref(),
            Some("Bearer tok-123")
        );
        let two_lines = NodeAccess {
            bearer_token_file: Some(dir.file("token", b"tok-123\nmore\n")),
            ..NodeAccess::default()
        };
        let e = header(&two_lines, None).unwrap_err();
        assert!(
            e.contains("--bearer-token-file") && !e.contains("tok-123"),
            "{e}"
        );
        let empty = NodeAccess {
            bearer_token_file: Some(dir.file("token", b"\n")),
            ..NodeAccess::default()
        };
        assert!(header(&empty, None).unwrap_err().contains("empty"));
        assert_eq!(header(&NodeAccess::default(), Some("x")).unwrap(), None);
    }

    #[test]
    fn tls_flags_need_an_https_address_and_readable_pem() {
        let dir = Scratch::new();
        let tls = NodeTls {
            ca_file: Some(dir.file("ca.pem", b"not a certificate\n")),
            ..NodeTls::default()
        };
        let e = tls.config("http://127.0.0.1:9001").unwrap_err();
        assert!(e.contains("--ca-file") && e.contains("https://"), "{e}");
        let e = tls.config("https://localhost:9001").unwrap_err();
        assert!(
            e.contains("--ca-file") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = NodeTls {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..NodeTls::default()
        };
        let e = missing.config("https://localhost:9001").unwrap_err();
        assert!(
            e.contains("cannot read --ca-file /nonexistent/ca.pem"),
            "{e}"
        );
        assert!(NodeTls::default().config("http://127.0.0.1:9001").is_ok());
    }
}
