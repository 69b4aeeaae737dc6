//! `tls_server_config` as a rustls server configuration (ring provider): the certificate and
//! key, the client certificate policy, the protocol versions, cipher suites and curves. What
//! rustls cannot do as asked is refused with the reason.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::ring as provider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::security::Reader;
use super::web_config::{At, RawTls, WebConfigError};

const SECTION: &str = "tls_server_config";

/// The acceptor `tls` describes, its files read through `files`.
pub(super) fn acceptor(
    at: &At,
    tls: &RawTls,
    files: &mut Reader,
) -> Result<TlsAcceptor, WebConfigError> {
    let provider = Arc::new(crypto_provider(at, tls)?);
    let versions = versions(at, tls)?;
    let certs = certificates(at, tls, files)?;
    let key = private_key(at, tls, files)?;
    let verifier = client_verifier(at, tls, files, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| at.tls(SECTION, e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| at.tls(&format!("{SECTION}.key_file"), e))?;
    // exporter-toolkit's default: the server's order of `cipher_suites` wins.
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    // HTTP/1.1 only (the endpoint serves no HTTP/2); said, so that ALPN clients know.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The PEM of `file_key` (a file) or `inline_key` (the PEM itself): exactly one of them.
fn pem(
    at: &At,
    files: &mut Reader,
    (file_key, file): (&str, Option<&std::path::Path>),
    (inline_key, inline): (&str, Option<&String>),
) -> Result<Option<(String, Vec<u8>)>, WebConfigError> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(at.invalid(
            format!("{SECTION}.{file_key}"),
            format!("set {file_key} or {inline_key}, not both"),
        )),
        (Some(file), None) => {
            let key = format!("{SECTION}.{file_key}");
            let content = files.read(at, &key, &at.resolve(file))?;
            Ok(Some((key, content)))
        }
        (None, Some(text)) => Ok(Some((
            format!("{SECTION}.{inline_key}"),
            text.as_bytes().to_vec(),
        ))),
        (None, None) => Ok(None),
    }
}

fn certificates(
    at: &At,
    tls: &RawTls,
    files: &mut Reader,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let source = pem(
        at,
        files,
        ("cert_file", tls.cert_file.as_deref()),
        ("cert", tls.cert.as_ref()),
    )?;
    let Some((key, content)) = source else {
        return Err(at.invalid(SECTION, "missing cert_file (or cert)"));
    };
    parse_certificates(at, &key, &content)
}

fn parse_certificates(
    at: &At,
    key: &str,
    content: &[u8],
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs = CertificateDer::pem_slice_iter(content)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| at.invalid(key, "not valid PEM"))?;
    match certs.is_empty() {
        true => Err(at.invalid(key, "holds no PEM certificate")),
        false => Ok(certs),
    }
}

fn private_key(
    at: &At,
    tls: &RawTls,
    files: &mut Reader,
) -> Result<PrivateKeyDer<'static>, WebConfigError> {
    let source = pem(
        at,
        files,
        ("key_file", tls.key_file.as_deref()),
        ("key", tls.key.as_ref()),
    )?;
    let Some((key, content)) = source else {
        return Err(at.invalid(SECTION, "missing key_file (or key)"));
    };
    // The parser's own error could quote a line of the key: not shown.
    PrivateKeyDer::from_pem_slice(&content).map_err(|_| {
        at.invalid(
            key,
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1 expected)",
        )
    })
}

/// exporter-toolkit's `client_auth_type`, as far as rustls can honour it.
fn client_verifier(
    at: &At,
    tls: &RawTls,
    files: &mut Reader,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
    let key = format!("{SECTION}.client_auth_type");
    let ca = pem(
        at,
        files,
        ("client_ca_file", tls.client_ca_file.as_deref()),
        ("client_ca", tls.client_ca.as_ref()),
    )?;
    let required = match tls.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" if ca.is_some() => return Err(at.invalid(
            key,
            "a client CA is set but client_auth_type is NoClientCert: set RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
        )),
        "NoClientCert" => return Ok(WebPkiClientVerifier::no_client_auth()),
        "RequireAndVerifyClientCert" => true,
        "VerifyClientCertIfGiven" => false,
        refused @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert") => {
            return Err(at.invalid(
                key,
                format!("{refused} is not supported: rustls verifies every client certificate it asks for; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file"),
            ));
        }
        _ => return Err(at.invalid(
            key,
            "unknown; one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
        )),
    };
    let Some((ca_key, content)) = ca else {
        return Err(at.invalid(key, "needs client_ca_file (or client_ca)"));
    };
    let mut roots = RootCertStore::empty();
    for cert in parse_certificates(at, &ca_key, &content)? {
        roots.add(cert).map_err(|e| at.tls(&ca_key, e))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = match required {
        true => builder,
        false => builder.allow_unauthenticated(),
    };
    builder.build().map_err(|e| at.tls(&ca_key, e))
}

/// The versions between `min_version` and `max_version` (TLS12 and TLS13 by default).
fn versions(
    at: &At,
    tls: &RawTls,
) -> Result<Vec<&'static SupportedProtocolVersion>, WebConfigError> {
    let parse = |name: &str, value: Option<&str>, default: u8| -> Result<u8, WebConfigError> {
        let key = format!("{SECTION}.{name}");
        match value {
            None => Ok(default),
            Some("TLS12") => Ok(2),
            Some("TLS13") => Ok(3),
            Some("TLS10" | "TLS11") => {
                Err(at.invalid(key, "not supported: rustls speaks TLS12 and TLS13 only"))
            }
            Some(_) => Err(at.invalid(key, "unknown; TLS12 or TLS13")),
        }
    };
    let min = parse("min_version", tls.min_version.as_deref(), 2)?;
    let max = parse("max_version", tls.max_version.as_deref(), 3)?;
    if min > max {
        return Err(at.invalid(format!("{SECTION}.min_version"), "is above max_version"));
    }
    let all = [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)];
    Ok(all
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, version)| version)
        .collect())
}

/// ring's provider, its TLS 1.2 suites and its curves narrowed to the ones listed.
fn crypto_provider(at: &At, tls: &RawTls) -> Result<CryptoProvider, WebConfigError> {
    let mut crypto = provider::default_provider();
    if !tls.cipher_suites.is_empty() {
        crypto.cipher_suites = cipher_suites(at, &tls.cipher_suites)?;
    }
    if !tls.curve_preferences.is_empty() {
        crypto.kx_groups = curves(at, &tls.curve_preferences)?;
    }
    Ok(crypto)
}

/// TLS 1.3's suites (not configurable, nor are they in Go), then the TLS 1.2 suites named,
/// in their order, by Go's names (which are IANA's, as rustls'): exporter-toolkit's meaning.
fn cipher_suites(at: &At, names: &[String]) -> Result<Vec<SupportedCipherSuite>, WebConfigError> {
    let tls12 = || {
        provider::ALL_CIPHER_SUITES
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
    };
    let mut suites: Vec<SupportedCipherSuite> = provider::ALL_CIPHER_SUITES
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    for name in names {
        let Some(suite) = tls12().find(|s| s.suite().as_str() == Some(name)) else {
            let known: Vec<&str> = tls12().filter_map(|s| s.suite().as_str()).collect();
            return Err(at.invalid(
                format!("{SECTION}.cipher_suites"),
                format!(
                    "{name} is not a TLS 1.2 suite rustls (ring) has; one of {}",
                    known.join(", ")
                ),
            ));
        };
        suites.push(*suite);
    }
    Ok(suites)
}

/// The key exchange groups named, by Go's curve names, in their order.
fn curves(
    at: &At,
    names: &[String],
) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, WebConfigError> {
    let mut groups = Vec::new();
    for name in names {
        let group: &'static dyn rustls::crypto::SupportedKxGroup = match name.as_str() {
            "X25519" => provider::kx_group::X25519,
            "CurveP256" => provider::kx_group::SECP256R1,
            "CurveP384" => provider::kx_group::SECP384R1,
            _ => {
                return Err(at.invalid(
                    format!("{SECTION}.curve_preferences"),
                    format!(
                        "{name} is not available; one of X25519, CurveP256, CurveP384 (rustls' ring provider)"
                    ),
                ));
            }
        };
        groups.push(group);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests;
