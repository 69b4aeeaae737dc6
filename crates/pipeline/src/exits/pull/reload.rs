//! Reloading the web configuration: when the file, or a file it names, holds something new
//! (polled every second, by content), and on SIGHUP. A reload that fails keeps the last good
//! configuration and logs why, once per distinct problem; a broken file is tried again every
//! second until it loads. The endpoint reads the current configuration from watch channels:
//! each request its credentials and headers, each new connection its TLS acceptor.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::security::{self, Security, WebConfig};
use super::web_config::{At, WebConfigError};
use crate::exits::connections::ConnectionStats;
use alys_telemetry_catalog::pipeline::ReloadResult;

/// How often the files are read for changes: a few kilobytes a second.
const POLL: Duration = Duration::from_secs(1);

/// The configuration the endpoint serves with now.
#[derive(Clone)]
pub(super) struct Current {
    pub(super) security: watch::Receiver<Arc<Security>>,
    /// Present when the endpoint serves TLS (fixed at start).
    pub(super) tls: Option<watch::Receiver<TlsAcceptor>>,
}

/// Keeps [`Current`] up to date with the file.
pub(super) struct Reloader {
    at: At,
    files: Vec<PathBuf>,
    /// The files' fingerprint when last looked at, loaded or not.
    seen: [u8; 32],
    /// The problem of the last failed attempt, while the file stays broken.
    broken: Option<String>,
    security: watch::Sender<Arc<Security>>,
    tls: Option<watch::Sender<TlsAcceptor>>,
    /// Where reloads are counted (`alys_telemetry_pull_web_config_reloads_total`).
    stats: Arc<ConnectionStats>,
}

/// The current configuration, starting with `web`, and what keeps it current.
pub(super) fn start(web: WebConfig, stats: Arc<ConnectionStats>) -> (Current, Reloader) {
    let (security_tx, security_rx) = watch::channel(Arc::new(web.security));
    let (tls_tx, tls_rx) = match web.tls {
        Some(acceptor) => {
            let (tx, rx) = watch::channel(acceptor);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let current = Current {
        security: security_rx,
        tls: tls_rx,
    };
    let reloader = Reloader {
        at: web.at,
        files: web.files,
        seen: web.fingerprint,
        broken: None,
        security: security_tx,
        tls: tls_tx,
        stats,
    };
    (current, reloader)
}

impl Reloader {
    /// Watches until `stop` resolves.
    pub(super) async fn run(mut self, stop: impl Future<Output = ()>) {
        let mut hangups = hangups();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            let forced = tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => false,
                _ = hangup(&mut hangups) => true,
            };
            self.look(forced).await;
        }
    }

    /// Reloads when forced (SIGHUP), when the files changed, or while the file is broken.
    async fn look(&mut self, forced: bool) {
        let files = self.files.clone();
        // File reads off the runtime's workers.
        let Ok(now) = tokio::task::spawn_blocking(move || security::fingerprint(&files)).await
        else {
            return;
        };
        if !forced && now == self.seen && self.broken.is_none() {
            return;
        }
        self.seen = now;
        let path = self.at.path.clone();
        let loaded = tokio::task::spawn_blocking(move || WebConfig::load(&path)).await;
        let outcome = match loaded {
            Ok(Ok(web)) => self.apply(web),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("web config file {}: {e}", self.at.path.display())),
        };
        match outcome {
            Ok(()) => {
                self.broken = None;
                self.stats.reloaded(ReloadResult::Applied);
                tracing::info!(file = %self.at.path.display(), forced, "web config reloaded");
            }
            Err(problem) => {
                // Counted and logged once per problem (and per SIGHUP), not on every retry
                // while the file stays broken.
                if forced || self.broken.as_deref() != Some(problem.as_str()) {
                    self.stats.reloaded(ReloadResult::Failed);
                    // The error names the file and the key, never a secret.
                    tracing::error!("{problem}; keeping the last good web configuration");
                }
                self.broken = Some(problem);
            }
        }
    }

    /// Serves `web` from now on, unless it would turn TLS on or off.
    fn apply(&mut self, web: WebConfig) -> Result<(), String> {
        match (&self.tls, web.tls) {
            (Some(tx), Some(acceptor)) => {
                tx.send_replace(acceptor);
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                let e: WebConfigError = self.at.invalid(
                    "tls_server_config",
                    "a reload cannot turn TLS on or off (the endpoint keeps the scheme it started with); restart to change it",
                );
                return Err(e.to_string());
            }
        }
        self.security.send_replace(Arc::new(web.security));
        self.files = web.files;
        self.seen = web.fingerprint;
        Ok(())
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

/// SIGHUP, if it can be listened to (a warning otherwise: the files are still polled).
fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup())
            .inspect_err(|e| {
                tracing::warn!("web config: SIGHUP cannot reload it ({e}); file changes still do")
            })
            .ok()
    }
    #[cfg(not(unix))]
    None
}

/// The next SIGHUP; never, when there is none to wait for.
async fn hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(signal) = hangups {
        if signal.recv().await.is_some() {
            return;
        }
        *hangups = None;
    }
    #[cfg(not(unix))]
    let _ = hangups;
    std::future::pending::<()>().await
}
