//! TLS for the governance stream: PEM files for the CA, and a certificate and key.

use std::path::PathBuf;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// PEM files. The client needs `ca` (and `cert` + `key` for mutual TLS); the server needs
/// `cert` + `key` (and `ca` to require client certificates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
}

impl TlsFiles {
    fn identity(&self) -> Result<Option<Identity>, String> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(Some(Identity::from_pem(
                read(cert, "certificate")?,
                read(key, "key")?,
            ))),
            (None, None) => Ok(None),
            _ => Err("TLS needs both a certificate and a key".into()),
        }
    }

    /// The client's TLS settings, for the server named `domain`.
    pub fn client(&self, domain: &str) -> Result<ClientTlsConfig, String> {
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
    pub fn server(&self) -> Result<ServerTlsConfig, String> {
        let identity = self
            .identity()?
            .ok_or("a TLS server needs a certificate and a key")?;
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.ca {
            tls = tls.client_ca_root(Certificate::from_pem(read(ca, "CA certificate")?));
        }
        Ok(tls)
    }
}
