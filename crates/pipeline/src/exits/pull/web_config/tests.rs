//! The web configuration file's parser: every key, the refusals, relative paths.

use super::*;

fn at() -> At {
    At::new(Path::new("/etc/alys/web/web-config.yml"))
}

fn error(yaml: &str) -> String {
    match parse(&at(), yaml.as_bytes()) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_key_of_the_format_parses() {
    let yaml = "
tls_server_config:
  cert_file: server.pem
  key_file: /abs/server.key
  cert: inline-cert
  key: inline-key
  client_ca: inline-ca
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: false
  curve_preferences: [X25519]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
basic_auth_users:
  alice: hash-a
bearer_token_file: metrics.token
viewer:
  basic_auth_users:
    bob: hash-b
  bearer_token_file: viewer.token
";
    let raw = parse(&at(), yaml.as_bytes()).unwrap();
    let tls = raw.tls_server_config.unwrap();
    assert_eq!(tls.cert_file.as_deref(), Some(Path::new("server.pem")));
    assert_eq!(tls.key_file.as_deref(), Some(Path::new("/abs/server.key")));
    assert_eq!(tls.cert.as_deref(), Some("inline-cert"));
    assert_eq!(tls.key.as_deref(), Some("inline-key"));
    assert_eq!(tls.client_ca.as_deref(), Some("inline-ca"));
    assert_eq!(
        tls.client_auth_type.as_deref(),
        Some("RequireAndVerifyClientCert")
    );
    assert_eq!(tls.client_ca_file.as_deref(), Some(Path::new("ca.pem")));
    assert_eq!(tls.min_version.as_deref(), Some("TLS12"));
    assert_eq!(tls.max_version.as_deref(), Some("TLS13"));
    assert_eq!(tls.cipher_suites.len(), 1);
    assert_eq!(tls.prefer_server_cipher_suites, Some(false));
    assert_eq!(tls.curve_preferences, ["X25519"]);
    let http = raw.http_server_config.unwrap();
    assert_eq!(http.http2, Some(false));
    assert_eq!(http.headers["X-Frame-Options"], "deny");
    assert_eq!(raw.basic_auth_users["alice"], "hash-a");
    assert_eq!(
        raw.bearer_token_file.as_deref(),
        Some(Path::new("metrics.token"))
    );
    let viewer = raw.viewer.unwrap();
    assert_eq!(viewer.basic_auth_users["bob"], "hash-b");
    assert_eq!(
        viewer.bearer_token_file.as_deref(),
        Some(Path::new("viewer.token"))
    );
}

#[test]
fn an_empty_or_comment_only_file_is_the_empty_configuration() {
    for yaml in ["", "\n  \n", "# nothing yet\n"] {
        let raw = parse(&at(), yaml.as_bytes()).unwrap();
        assert!(raw.tls_server_config.is_none() && raw.basic_auth_users.is_empty());
    }
    assert!(parse(&at(), b"{}").unwrap().viewer.is_none());
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_the_file() {
    for (yaml, key) in [
        ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
        ("tls_server_config:\n  certfile: x\n", "certfile"),
        ("http_server_config:\n  header: {}\n", "header"),
        ("viewer:\n  users: {}\n", "users"),
    ] {
        let e = error(yaml);
        assert!(e.contains(&format!("`{key}`")), "{e}");
        assert!(e.contains("/etc/alys/web/web-config.yml"), "{e}");
    }
}

#[test]
fn unsupported_exporter_toolkit_keys_are_refused_with_the_reason() {
    for (yaml, key) in [
        ("rate_limit:\n  interval: 1s\n  burst: 5\n", "rate_limit"),
        (
            "tls_server_config:\n  client_allowed_sans: [a]\n",
            "tls_server_config.client_allowed_sans",
        ),
        (
            "http_server_config:\n  http2: true\n",
            "http_server_config.http2",
        ),
    ] {
        let e = error(yaml);
        assert!(e.contains(key) && e.contains("not supported"), "{e}");
    }
}

#[test]
fn a_value_of_the_wrong_type_is_refused_without_quoting_it() {
    let e = error("basic_auth_users: \"$2y$10$secretlookinghash\"\n");
    assert!(e.contains("basic_auth_users"), "{e}");
    assert!(!e.contains("secretlooking"), "{e}");
    let e = error("basic_auth_users:\n  alice: [\"$2y$10$hidden\"]\n");
    assert!(e.contains("alice") && !e.contains("hidden"), "{e}");
    let e = error("tls_server_config:\n  prefer_server_cipher_suites: hunter2\n");
    assert!(e.contains("prefer_server_cipher_suites"), "{e}");
    assert!(
        e.contains("value not shown") && !e.contains("hunter2"),
        "{e}"
    );
}

#[test]
fn not_yaml_is_a_syntax_error_naming_the_file() {
    let e = error("tls_server_config: [\n");
    assert!(
        e.starts_with("web config file /etc/alys/web/web-config.yml: "),
        "{e}"
    );
    let e = parse(&at(), &[0xff, 0xfe]).err().unwrap().to_string();
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn relative_paths_are_relative_to_the_files_directory() {
    let at = at();
    assert_eq!(
        at.resolve(Path::new("certs/server.pem")),
        Path::new("/etc/alys/web/certs/server.pem")
    );
    assert_eq!(at.resolve(Path::new("/x/key")), Path::new("/x/key"));
    let bare = At::new(Path::new("web.yml"));
    assert_eq!(bare.resolve(Path::new("token")), Path::new("token"));
}

#[test]
fn headers_follow_exporter_toolkits_list() {
    let raw = |yaml: &str| parse(&at(), yaml.as_bytes()).unwrap().http_server_config;
    let ok = raw(
        "http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n    Strict-Transport-Security: max-age=3600\n    X-XSS-Protection: ''\n",
    );
    let set = headers(&at(), ok.as_ref()).unwrap();
    let names: Vec<&str> = set.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["strict-transport-security", "x-frame-options"]);
    let bad = raw("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
    let e = headers(&at(), bad.as_ref()).err().unwrap().to_string();
    assert!(
        e.contains("http_server_config.headers.X-Frame-Options") && e.contains("deny"),
        "{e}"
    );
    let other = raw("http_server_config:\n  headers:\n    Server: mine\n");
    let e = headers(&at(), other.as_ref()).err().unwrap().to_string();
    assert!(e.contains("headers.Server: cannot be set"), "{e}");
}
