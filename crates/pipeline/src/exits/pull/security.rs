//! One version of the web configuration file, loaded: the TLS acceptor, the credentials of
//! each part of the endpoint, the extra headers, and a fingerprint of every file read, by
//! which the reloader sees that something changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use super::auth::Credentials;
use super::tls;
use super::web_config::{self, At, RawAccess, WebConfigError};

/// What the endpoint's gate applies to each request. No `Debug`: it holds hashes.
pub(crate) struct Security {
    /// `/metrics`: the top-level credentials.
    pub(crate) metrics: Option<Arc<Credentials>>,
    /// The viewer: the `viewer` section's credentials, or the top-level ones without it.
    pub(crate) viewer: Option<Arc<Credentials>>,
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// A web configuration file, loaded and checked: what the pull endpoint serves with. Built
/// by [`WebConfig::load`]; the endpoint reloads it when the file changes.
pub struct WebConfig {
    pub(super) at: At,
    pub(super) security: Security,
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) files: Vec<PathBuf>,
    pub(super) fingerprint: [u8; 32],
}

impl WebConfig {
    /// Reads and checks the file at `path` and every file it names (certificates, keys,
    /// tokens). The error names the file, the key and the problem, never a secret.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let at = At::new(path);
        let mut files = Reader::default();
        let content = files.read(&at, "pull.web_config_file", path)?;
        let raw = web_config::parse(&at, &content)?;
        let tls = match &raw.tls_server_config {
            Some(section) => Some(tls::acceptor(&at, section, &mut files)?),
            None => None,
        };
        let metrics = Credentials::load(
            &at,
            "",
            &raw.basic_auth_users,
            raw.bearer_token_file.as_deref(),
            &mut files,
        )?
        .map(Arc::new);
        let viewer = match &raw.viewer {
            Some(section) => Some(viewer_credentials(&at, section, &mut files)?),
            None => metrics.clone(),
        };
        let headers = web_config::headers(&at, raw.http_server_config.as_ref())?;
        let (files, fingerprint) = files.finish();
        Ok(WebConfig {
            at,
            security: Security {
                metrics,
                viewer,
                headers,
            },
            tls,
            files,
            fingerprint,
        })
    }

    /// Whether the endpoint serves TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.at.path
    }
}

/// The `viewer` section's credentials: at least one, or the section would open the viewer
/// by mistake.
fn viewer_credentials(
    at: &At,
    section: &RawAccess,
    files: &mut Reader,
) -> Result<Arc<Credentials>, WebConfigError> {
    let loaded = Credentials::load(
        at,
        "viewer.",
        &section.basic_auth_users,
        section.bearer_token_file.as_deref(),
        files,
    )?;
    loaded.map(Arc::new).ok_or_else(|| {
        at.invalid(
            "viewer",
            "sets neither basic_auth_users nor bearer_token_file; leave the section out to use the top-level credentials (the viewer is turned off with viewer.enabled = false)",
        )
    })
}

/// Reads the files of one load, in order, into one fingerprint.
#[derive(Default)]
pub(super) struct Reader {
    digest: Sha256,
    files: Vec<PathBuf>,
}

impl Reader {
    /// The content of `file` (named by `key`), counted into the fingerprint.
    pub(super) fn read(
        &mut self,
        at: &At,
        key: &str,
        file: &Path,
    ) -> Result<Vec<u8>, WebConfigError> {
        let content = std::fs::read(file).map_err(|e| at.read(key, file, e))?;
        add(&mut self.digest, file, Ok(&content));
        self.files.push(file.to_path_buf());
        Ok(content)
    }

    fn finish(self) -> (Vec<PathBuf>, [u8; 32]) {
        (self.files, self.digest.finalize().into())
    }
}

/// The fingerprint `files` have now: equal to a load's when every one of them holds what
/// it held then. Contents, not times: a Kubernetes Secret swaps a symlink to new files
/// whose times say little, and an edit within the same second changes no time.
pub(super) fn fingerprint(files: &[PathBuf]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for file in files {
        match std::fs::read(file) {
            Ok(content) => add(&mut digest, file, Ok(&content)),
            Err(e) => add(&mut digest, file, Err(e.kind())),
        }
    }
    digest.finalize().into()
}

fn add(digest: &mut Sha256, file: &Path, content: Result<&[u8], std::io::ErrorKind>) {
    let name = file.as_os_str().as_encoded_bytes();
    digest.update((name.len() as u64).to_be_bytes());
    digest.update(name);
    match content {
        Ok(bytes) => {
            digest.update([1]);
            digest.update((bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        }
        Err(kind) => {
            digest.update([0]);
            digest.update(format!("{kind:?}").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alys_test_support::TempDir;

    fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    #[test]
    fn a_whole_file_loads_with_its_relative_files_and_the_viewer_apart() {
        let dir = TempDir::new("web-config-load");
        alys_test_support::tls::make_certificates(&dir.path).unwrap();
        std::fs::create_dir(dir.join("tokens")).unwrap();
        std::fs::write(dir.join("tokens/viewer"), "view-token\n").unwrap();
        let yaml = format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prometheus: {}\n\
             viewer:\n  bearer_token_file: tokens/viewer\n",
            hash("p")
        );
        std::fs::write(dir.join("web.yml"), yaml).unwrap();
        let web = WebConfig::load(&dir.join("web.yml")).unwrap();
        assert!(web.uses_tls());
        assert_eq!(web.path(), dir.join("web.yml"));
        let names: Vec<_> = web
            .files
            .iter()
            .map(|f| f.strip_prefix(&dir.path).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "web.yml",
                "server.pem",
                "server.key",
                "ca.pem",
                "tokens/viewer"
            ]
        );
        assert_eq!(web.security.headers.len(), 1);
        let (metrics, viewer) = (web.security.metrics.unwrap(), web.security.viewer.unwrap());
        assert!(!Arc::ptr_eq(&metrics, &viewer));
        assert_eq!(fingerprint(&web.files), web.fingerprint);
        std::fs::write(dir.join("tokens/viewer"), "other\n").unwrap();
        assert_ne!(fingerprint(&web.files), web.fingerprint);
    }

    #[test]
    fn without_a_viewer_section_the_viewer_takes_the_top_level_credentials() {
        let dir = TempDir::new("web-config-shared");
        std::fs::write(
            dir.join("web.yml"),
            format!("basic_auth_users:\n  a: {}\n", hash("p")),
        )
        .unwrap();
        let web = WebConfig::load(&dir.join("web.yml")).unwrap();
        assert!(!web.uses_tls());
        let (metrics, viewer) = (web.security.metrics.unwrap(), web.security.viewer.unwrap());
        assert!(Arc::ptr_eq(&metrics, &viewer));
        std::fs::write(dir.join("web.yml"), "viewer: {}\n").unwrap();
        let e = WebConfig::load(&dir.join("web.yml"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("viewer: sets neither"), "{e}");
    }

    #[test]
    fn a_swapped_symlink_changes_the_fingerprint() {
        // A Kubernetes Secret volume: token -> ..data/token, ..data -> a dated directory that
        // a new version replaces whole.
        let dir = TempDir::new("web-config-symlink");
        for (version, token) in [("v1", "first"), ("v2", "second")] {
            std::fs::create_dir(dir.join(version)).unwrap();
            std::fs::write(dir.join(version).join("token"), token).unwrap();
        }
        std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/token", dir.join("token")).unwrap();
        let files = vec![dir.join("token")];
        let before = fingerprint(&files);
        assert_eq!(fingerprint(&files), before);
        std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert_ne!(fingerprint(&files), before);
        // The link itself never changed.
        assert_eq!(
            std::fs::read_link(dir.join("token")).unwrap(),
            Path::new("..data/token")
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = WebConfig::load(Path::new("/nowhere/web.yml"))
            .err()
            .unwrap();
        assert_eq!(e.path(), Path::new("/nowhere/web.yml"));
        let text = e.to_string();
        assert!(text.contains("cannot read /nowhere/web.yml"), "{text}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn a_key_that_does_not_match_its_certificate_is_refused() {
        let dir = TempDir::new("web-config-mismatch");
        alys_test_support::tls::make_certificates(&dir.path).unwrap();
        let other = TempDir::new("web-config-mismatch-other");
        alys_test_support::tls::make_certificates(&other.path).unwrap();
        let yaml = format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: {}\n",
            other.join("server.key").display()
        );
        std::fs::write(dir.join("web.yml"), yaml).unwrap();
        let e = WebConfig::load(&dir.join("web.yml"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tls_server_config.key_file"), "{e}");
        assert!(!e.contains("PRIVATE KEY"), "{e}");
    }
}
