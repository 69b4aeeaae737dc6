//! Basic auth with bcrypt and its memory of successes, bearer tokens, the refusals.

use super::*;
use std::time::{Duration, Instant};

fn at() -> At {
    At::new(Path::new("/nowhere/web.yml"))
}

fn basic(user: &str, password: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
}

fn users(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .collect()
}

#[tokio::test]
async fn basic_auth_checks_bcrypt_and_remembers_only_successes() {
    // Cost 10, as htpasswd -B makes them: tens of milliseconds a check.
    let hash = bcrypt::hash("s3cret", 10)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let creds = Credentials::load(
        &at(),
        "",
        &users(&[("prom", &hash)]),
        None,
        &mut Reader::default(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        creds.check(None).await,
        Err(PullDenyReason::MissingCredentials)
    );
    let wrong = basic("prom", "guess");
    assert_eq!(
        creds.check(Some(&wrong)).await,
        Err(PullDenyReason::WrongCredentials)
    );
    let stranger = basic("nobody", "s3cret");
    assert_eq!(
        creds.check(Some(&stranger)).await,
        Err(PullDenyReason::WrongCredentials)
    );
    assert!(
        creds.basic.as_ref().unwrap().lock().is_empty(),
        "failures are not remembered"
    );

    let right = basic("prom", "s3cret");
    let first = Instant::now();
    assert_eq!(creds.check(Some(&right)).await, Ok(()));
    let bcrypt_took = first.elapsed();
    assert_eq!(creds.basic.as_ref().unwrap().lock().len(), 1);
    // The remembered check costs no bcrypt: far below one.
    let again = Instant::now();
    for _ in 0..20 {
        assert_eq!(creds.check(Some(&right)).await, Ok(()));
    }
    let twenty = again.elapsed();
    assert!(
        twenty < bcrypt_took,
        "20 remembered checks {twenty:?}, one bcrypt {bcrypt_took:?}"
    );
    assert!(bcrypt_took > Duration::from_millis(1), "{bcrypt_took:?}");
    // What is remembered is a digest, never the password.
    let key = remember_key("prom", b"s3cret", &hash);
    assert!(creds.basic.as_ref().unwrap().lock().contains(&key));
    assert_ne!(
        remember_key("prom", b"s3cret", &hash),
        remember_key("pro", b"ms3cret", &hash)
    );
}

#[tokio::test]
async fn a_token_from_a_file_is_compared_whole_and_only_as_a_bearer() {
    let dir = alys_test_support::TempDir::new("bearer");
    std::fs::write(dir.join("token"), "  tok-123_abc\n").unwrap();
    let at = At::new(&dir.join("web.yml"));
    let creds = Credentials::load(
        &at,
        "",
        &BTreeMap::new(),
        Some(Path::new("token")),
        &mut Reader::default(),
    )
    .unwrap()
    .unwrap();
    let bearer = |t: &str| HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
    assert_eq!(creds.check(Some(&bearer("tok-123_abc"))).await, Ok(()));
    assert_eq!(
        creds
            .check(Some(&HeaderValue::from_static("bearer tok-123_abc")))
            .await,
        Ok(())
    );
    for wrong in ["tok-123_ab", "tok-123_abcd", "TOK-123_ABC"] {
        assert_eq!(
            creds.check(Some(&bearer(wrong))).await,
            Err(PullDenyReason::WrongCredentials)
        );
    }
    // The token sent as a basic password is no token.
    let as_basic = basic("x", "tok-123_abc");
    assert_eq!(
        creds.check(Some(&as_basic)).await,
        Err(PullDenyReason::WrongCredentials)
    );
    assert_eq!(
        creds.challenges("r"),
        [HeaderValue::from_static("Bearer realm=\"r\"")]
    );
}

#[test]
fn refusals_name_the_key_and_never_the_secret() {
    let bad = users(&[("alice", "$2y$10$tooshort-secretish")]);
    let e = BasicUsers::new(&at(), "viewer.", &bad)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("viewer.basic_auth_users.alice: not a bcrypt hash"),
        "{e}"
    );
    assert!(!e.contains("secretish"), "{e}");
    let md5 = users(&[("bob", "$apr1$abc$0123456789012345678901")]);
    assert!(BasicUsers::new(&at(), "", &md5).is_err());
    let colon = users(&[("a:b", &bcrypt::hash("x", 4).unwrap())]);
    let e = BasicUsers::new(&at(), "", &colon)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cannot hold ':'"), "{e}");

    let dir = alys_test_support::TempDir::new("bearer-bad");
    let at = At::new(&dir.join("web.yml"));
    for (content, says) in [("\n", "empty"), ("two words", "cannot carry")] {
        std::fs::write(dir.join("token"), content).unwrap();
        let e = read_token(&at, "", Path::new("token"), &mut Reader::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("bearer_token_file: the") && e.contains(says),
            "{e}"
        );
        assert!(!e.contains("words"), "{e}");
    }
    let e = read_token(&at, "", Path::new("absent"), &mut Reader::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("bearer_token_file: cannot read") && e.contains("absent"),
        "{e}"
    );
}

#[test]
fn every_bcrypt_prefix_of_exporter_toolkit_is_accepted() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    for prefix in ["$2y$", "$2a$", "$2b$"] {
        assert!(is_bcrypt(&hash.replacen("$2b$", prefix, 1)), "{prefix}");
    }
    assert!(!is_bcrypt(&hash.replacen("$2b$", "$2x$", 1)));
    assert!(!is_bcrypt("plain-password"));
}

#[test]
fn malformed_authorization_headers_carry_no_credentials() {
    for value in ["Basic", "Basic !!!", "Digest abc", "Basic bm9jb2xvbg=="] {
        let header = HeaderValue::from_str(value).unwrap();
        assert!(Given::parse(&header).is_none(), "{value}");
    }
}
