//! The rustls configuration: versions, suites and curves by Go's names, client
//! certificate policies, the certificate and key sources, and what is refused.

use super::*;
use crate::exits::pull::web_config::parse;
use std::path::Path;

fn raw(yaml: &str) -> RawTls {
    let at = At::new(Path::new("/nowhere/web.yml"));
    parse(&at, yaml.as_bytes())
        .unwrap()
        .tls_server_config
        .unwrap()
}

fn at() -> At {
    At::new(Path::new("/nowhere/web.yml"))
}

#[test]
fn versions_default_to_both_and_refuse_what_rustls_cannot_speak() {
    let both = versions(&at(), &raw("tls_server_config:\n  cert: x\n")).unwrap();
    assert_eq!(both.len(), 2);
    let only13 = raw("tls_server_config:\n  min_version: TLS13\n");
    assert_eq!(versions(&at(), &only13).unwrap(), [&rustls::version::TLS13]);
    let old = raw("tls_server_config:\n  min_version: TLS10\n");
    let e = versions(&at(), &old).err().unwrap().to_string();
    assert!(
        e.contains("tls_server_config.min_version") && e.contains("TLS12 and TLS13 only"),
        "{e}"
    );
    let upside_down = raw("tls_server_config:\n  min_version: TLS13\n  max_version: TLS12\n");
    assert!(versions(&at(), &upside_down).is_err());
    let junk = raw("tls_server_config:\n  max_version: SSL3\n");
    let e = versions(&at(), &junk).err().unwrap().to_string();
    assert!(e.contains("tls_server_config.max_version: unknown"), "{e}");
}

#[test]
fn cipher_suites_and_curves_take_gos_names_and_refuse_the_rest() {
    let listed = raw(
        "tls_server_config:\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  curve_preferences: [CurveP256, X25519]\n",
    );
    let crypto = crypto_provider(&at(), &listed).unwrap();
    let tls12: Vec<_> = crypto
        .cipher_suites
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
        .collect();
    assert_eq!(tls12.len(), 1);
    assert_eq!(crypto.kx_groups.len(), 2);
    for (yaml, key, name) in [
        (
            "tls_server_config:\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
            "cipher_suites",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ),
        (
            "tls_server_config:\n  curve_preferences: [CurveP521]\n",
            "curve_preferences",
            "CurveP521",
        ),
    ] {
        let e = crypto_provider(&at(), &raw(yaml))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!("tls_server_config.{key}")) && e.contains(name),
            "{e}"
        );
    }
}

#[test]
fn client_auth_types_rustls_cannot_honour_are_refused() {
    let provider = Arc::new(provider::default_provider());
    for (auth, says) in [
        (
            "RequireAnyClientCert",
            "rustls verifies every client certificate",
        ),
        (
            "RequestClientCert",
            "rustls verifies every client certificate",
        ),
        ("Sometimes", "unknown"),
        ("RequireAndVerifyClientCert", "needs client_ca_file"),
    ] {
        let tls = raw(&format!("tls_server_config:\n  client_auth_type: {auth}\n"));
        let e = client_verifier(&at(), &tls, &mut Reader::default(), &provider)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("tls_server_config.client_auth_type") && e.contains(says),
            "{e}"
        );
    }
    let ca_without_policy = raw("tls_server_config:\n  client_ca: x\n");
    let e = client_verifier(&at(), &ca_without_policy, &mut Reader::default(), &provider)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("NoClientCert"), "{e}");
}

#[test]
fn a_certificate_and_a_key_are_needed_and_one_source_each() {
    let e = acceptor(
        &at(),
        &raw("tls_server_config:\n  key: x\n"),
        &mut Reader::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("missing cert_file (or cert)"), "{e}");
    let both = raw("tls_server_config:\n  cert: x\n  cert_file: y.pem\n");
    let e = acceptor(&at(), &both, &mut Reader::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tls_server_config.cert_file: set cert_file or cert, not both"),
        "{e}"
    );
    let missing = raw("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n");
    let e = acceptor(&at(), &missing, &mut Reader::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tls_server_config.cert_file: cannot read /nowhere/server.pem"),
        "{e}"
    );
    let junk = raw("tls_server_config:\n  cert: not pem\n  key: not pem either\n");
    let e = acceptor(&at(), &junk, &mut Reader::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tls_server_config.cert: holds no PEM certificate"),
        "{e}"
    );
}
