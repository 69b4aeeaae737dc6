//! TLS for the governance stream: PEM files for the CA, and a certificate and key.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// PEM files. The client needs `ca` (and `cert` + `key` for mutual TLS); the server needs
/// `cert` + `key` (and `ca` to require client certificates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// TLS files that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        /// Which file: `CA certificate`, `certificate` or `key`.
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A certificate without its key, or a key without its certificate.
    #[error("TLS needs both a certificate and a key")]
    HalfIdentity,
    /// A server without a certificate and key.
    #[error("a TLS server needs a certificate and a key")]
    NoServerIdentity,
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

impl TlsFiles {
    fn identity(&self) -> Result<Option<Identity>, TlsError> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(Some(Identity::from_pem(
                read(cert, "certificate")?,
                read(key, "key")?,
            ))),
            (None, None) => Ok(None),
            _ => Err(TlsError::HalfIdentity),
        }
    }

    /// The client's TLS settings, for the server named `domain`.
    pub fn client(&self, domain: &str) -> Result<ClientTlsConfig, TlsError> {
        let mut tls = ClientTlsConfig::new().domain_name(domain);
        if let Some(ca) = &self.ca {
            tls = tls.ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
        }
        if let Some(identity) = self.identity()? {
            tls = tls.identity(identity);
        }
        Ok(tls)
    }

    /// The server's TLS settings.
    pub fn server(&self) -> Result<ServerTlsConfig, TlsError> {
        let identity = self.identity()?.ok_or(TlsError::NoServerIdentity)?;
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.ca {
            tls = tls.client_ca_root(Certificate::from_pem(read(ca, "CA certificate")?));
        }
        Ok(tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn errors_name_the_file_and_keep_their_cause() {
        let files = TlsFiles {
            ca: Some("/no/such/ca.pem".into()),
            ..TlsFiles::default()
        };
        let err = files.client("localhost").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the TLS CA certificate /no/such/ca.pem: No such file or directory (os error 2)"
        );
        assert!(err.source().is_some());
        let half = TlsFiles {
            cert: Some("c.pem".into()),
            ..TlsFiles::default()
        };
        assert!(matches!(half.server(), Err(TlsError::HalfIdentity)));
        assert!(matches!(
            TlsFiles::default().server(),
            Err(TlsError::NoServerIdentity)
        ));
    }
}
