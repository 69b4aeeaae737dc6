//! The credentials one part of the endpoint asks for: basic auth users with bcrypt hashes,
//! a bearer token read from a file, or both (either is accepted).
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), so a scraper every few
//! seconds must not pay it each time: a successful check is remembered under the SHA-256 of
//! user, password and hash (never the password), as exporter-toolkit caches its checks. A
//! check that is not remembered runs on the blocking pool, one at a time in the process, so
//! that a flood of wrong passwords holds one core at most and no runtime worker. An unknown user costs a
//! bcrypt like a known one, and tokens are compared as digests in constant time, so that
//! timing tells nobody which users exist or how much of a token was right.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::security::Reader;
use super::web_config::{At, WebConfigError};
use alys_telemetry_catalog::pipeline::PullDenyReason;

/// Successful checks remembered at most; past it the memory starts again.
const REMEMBERED: usize = 256;

/// One bcrypt at a time in the process, as exporter-toolkit does.
static BCRYPT: Semaphore = Semaphore::const_new(1);

/// What one part of the endpoint (`/metrics`, or the viewer) asks for. No `Debug`: it holds
/// hashes.
pub(crate) struct Credentials {
    basic: Option<BasicUsers>,
    bearer: Option<[u8; 32]>,
}

impl Credentials {
    /// The credentials of one section (`prefix` is `""` or `"viewer."`), `None` when it sets
    /// neither users nor a token.
    pub(super) fn load(
        at: &At,
        prefix: &str,
        users: &BTreeMap<String, String>,
        token_file: Option<&Path>,
        files: &mut Reader,
    ) -> Result<Option<Credentials>, WebConfigError> {
        let basic = match users.is_empty() {
            true => None,
            false => Some(BasicUsers::new(at, prefix, users)?),
        };
        let bearer = match token_file {
            Some(file) => Some(read_token(at, prefix, file, files)?),
            None => None,
        };
        Ok((basic.is_some() || bearer.is_some()).then_some(Credentials { basic, bearer }))
    }

    /// Whether `authorization` (the request's header) holds credentials these accept.
    pub(crate) async fn check(
        &self,
        authorization: Option<&HeaderValue>,
    ) -> Result<(), PullDenyReason> {
        let Some(header) = authorization else {
            return Err(PullDenyReason::MissingCredentials);
        };
        let accepted = match Given::parse(header) {
            Some(Given::Basic { user, password }) => match &self.basic {
                Some(basic) => basic.check(&user, password).await,
                None => false,
            },
            Some(Given::Bearer(token)) => self
                .bearer
                .is_some_and(|digest| bool::from(sha256(token).ct_eq(&digest))),
            None => false,
        };
        match accepted {
            true => Ok(()),
            false => Err(PullDenyReason::WrongCredentials),
        }
    }

    /// The `WWW-Authenticate` values of a 401: Basic when users are set, Bearer when a token
    /// is (both when both are).
    pub(crate) fn challenges(&self, realm: &str) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        if self.basic.is_some() {
            out.push(format!("Basic realm=\"{realm}\", charset=\"UTF-8\""));
        }
        if self.bearer.is_some() {
            out.push(format!("Bearer realm=\"{realm}\""));
        }
        out.into_iter()
            .filter_map(|v| HeaderValue::from_str(&v).ok())
            .collect()
    }
}

/// The credentials a request carries.
enum Given {
    Basic { user: String, password: Vec<u8> },
    Bearer(Vec<u8>),
}

impl Given {
    fn parse(header: &HeaderValue) -> Option<Given> {
        let value = header.to_str().ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Given::Bearer(rest.as_bytes().to_vec()));
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
        Some(Given::Basic {
            user,
            password: decoded[colon + 1..].to_vec(),
        })
    }
}

/// `basic_auth_users`, and the checks that succeeded.
struct BasicUsers {
    hashes: BTreeMap<String, String>,
    remembered: Mutex<HashSet<[u8; 32]>>,
}

impl BasicUsers {
    fn new(
        at: &At,
        prefix: &str,
        users: &BTreeMap<String, String>,
    ) -> Result<BasicUsers, WebConfigError> {
        for (user, hash) in users {
            let key = format!("{prefix}basic_auth_users.{user}");
            if user.contains(':') {
                return Err(
                    at.invalid(key, "a user name cannot hold ':' (basic auth splits there)")
                );
            }
            if !is_bcrypt(hash) {
                return Err(at.invalid(
                    key,
                    "not a bcrypt hash (60 characters beginning $2y$, $2a$ or $2b$, cost 4 to 31)",
                ));
            }
        }
        Ok(BasicUsers {
            hashes: users.clone(),
            remembered: Mutex::new(HashSet::new()),
        })
    }

    async fn check(&self, user: &str, password: Vec<u8>) -> bool {
        let known = self.hashes.get(user);
        // An unknown user is checked against some user's hash (same cost), then refused.
        let Some(hash) = known.or_else(|| self.hashes.values().next()) else {
            return false;
        };
        let key = remember_key(user, &password, hash);
        if known.is_some() && self.lock().contains(&key) {
            return true;
        }
        let verified = verify_off_runtime(password, hash.clone()).await;
        if verified && known.is_some() {
            let mut remembered = self.lock();
            if remembered.len() >= REMEMBERED {
                remembered.clear();
            }
            remembered.insert(key);
            return true;
        }
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// bcrypt on the blocking pool, one at a time; any failure is a refusal.
async fn verify_off_runtime(password: Vec<u8>, hash: String) -> bool {
    let Ok(permit) = BCRYPT.acquire().await else {
        return false;
    };
    let verified = tokio::task::spawn_blocking(move || {
        let _one_at_a_time = permit;
        bcrypt::verify(&password, &hash).unwrap_or(false)
    });
    verified.await.unwrap_or(false)
}

/// The hashes exporter-toolkit accepts: `$2y$`, `$2a$`, `$2b$`, with a cost bcrypt can run.
fn is_bcrypt(hash: &str) -> bool {
    let prefixed = ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p));
    prefixed
        && hash
            .parse::<bcrypt::HashParts>()
            .is_ok_and(|parts| (4..=31).contains(&parts.get_cost()))
}

/// Where a successful check is remembered: a digest of all three, each length-prefixed so
/// that no two different triples meet.
fn remember_key(user: &str, password: &[u8], hash: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user.as_bytes(), password, hash.as_bytes()] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest.finalize().into()
}

fn sha256(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The token of `bearer_token_file`: the file's content without surrounding whitespace,
/// kept as its digest.
fn read_token(
    at: &At,
    prefix: &str,
    file: &Path,
    files: &mut Reader,
) -> Result<[u8; 32], WebConfigError> {
    let key = format!("{prefix}bearer_token_file");
    let content = files.read(at, &key, &at.resolve(file))?;
    let token = std::str::from_utf8(&content)
        .map_err(|_| at.invalid(&key, "the token is not UTF-8"))?
        .trim();
    if token.is_empty() {
        return Err(at.invalid(&key, "the file is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(at.invalid(
            &key,
            "the token holds characters an Authorization header cannot carry (spaces, control or non-ASCII characters)",
        ));
    }
    Ok(sha256(token))
}

#[cfg(test)]
mod tests;
