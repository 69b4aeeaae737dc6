//! Test certificates, made in process with rcgen: a CA, a certificate for `localhost` it
//! signed, and on request a client certificate it signed (for mutual TLS). No openssl CLI, no
//! files to keep in the repository.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Writes `ca.pem` (the CA's certificate), `server.pem` and `server.key` (a certificate for
/// `localhost` the CA signed, and its key) into `dir`.
pub fn make_certificates(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    write_ca_and_server(dir)?;
    Ok(())
}

/// As [`make_certificates`], plus `client.pem` and `client.key`: a client certificate
/// (common name `alys-client`) the same CA signed, for mutual TLS.
pub fn make_certificates_with_client(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (ca, ca_key) = write_ca_and_server(dir)?;
    let client_key = KeyPair::generate()?;
    let mut client = CertificateParams::new(Vec::<String>::new())?;
    client
        .distinguished_name
        .push(DnType::CommonName, "alys-client");
    client.is_ca = IsCa::ExplicitNoCa;
    client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &Issuer::from_params(&ca, &ca_key))?;
    std::fs::write(dir.join("client.pem"), client_cert.pem())?;
    std::fs::write(dir.join("client.key"), client_key.serialize_pem())?;
    Ok(())
}

/// The CA and the server certificate, written; the CA returned to sign more.
fn write_ca_and_server(
    dir: &Path,
) -> Result<(CertificateParams, KeyPair), Box<dyn std::error::Error>> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "test-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &Issuer::from_params(&ca, &ca_key))?;

    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(dir.join("server.pem"), server_cert.pem())?;
    std::fs::write(dir.join("server.key"), server_key.serialize_pem())?;
    Ok((ca, ca_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_and_a_server_certificate_with_its_key() {
        let dir = crate::TempDir::new("certificates");
        make_certificates(&dir.path).unwrap();
        for (file, begins) in [
            ("ca.pem", "-----BEGIN CERTIFICATE-----"),
            ("server.pem", "-----BEGIN CERTIFICATE-----"),
            ("server.key", "-----BEGIN PRIVATE KEY-----"),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(text.starts_with(begins), "{file}: {text}");
        }
        assert!(!dir.join("client.pem").exists());
    }

    #[test]
    fn with_a_client_writes_a_client_certificate_of_the_same_ca() {
        let dir = crate::TempDir::new("certificates-client");
        make_certificates_with_client(&dir.path).unwrap();
        for file in [
            "ca.pem",
            "server.pem",
            "server.key",
            "client.pem",
            "client.key",
        ] {
            assert!(dir.join(file).exists(), "{file}");
        }
        let client = std::fs::read_to_string(dir.join("client.pem")).unwrap();
        assert!(client.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
