//! The signals a service stops on. Every program on the library (the demo node, the
//! governance node, the three services) runs until SIGINT or SIGTERM, marks itself stopping
//! and shuts the pipeline down within `shutdown.timeout_ms`; this is that wait, once.
//!
//! The handlers are installed by [`StopRequests::listen`], not on the first poll: a SIGTERM
//! that arrives while a service is still starting (a rolling update that gives up on it)
//! then stops it through its shutdown, instead of killing it with nothing flushed.

use std::fmt;
use std::io;

/// How the process was asked to stop: the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: `docker stop`, `kubectl delete pod`, systemd.
    Terminate,
}

impl StopRequest {
    /// The signal's name, as logs and operators write it.
    pub fn name(self) -> &'static str {
        match self {
            StopRequest::Interrupt => "SIGINT",
            StopRequest::Terminate => "SIGTERM",
        }
    }
}

impl fmt::Display for StopRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SIGINT and SIGTERM, caught from [`listen`](StopRequests::listen) on.
///
/// ```no_run
/// use alys_telemetry_config::TelemetryConfig;
/// use alys_telemetry_pipeline::{StopRequests, Telemetry};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut stop = StopRequests::listen()?;
///     let telemetry = Telemetry::init(&TelemetryConfig::load(None)?)?;
///     telemetry.mark_ready();
///     let request = stop.recv().await;
///     tracing::info!(%request, "stopping");
///     telemetry.mark_stopping();
///     telemetry.shutdown().await;
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct StopRequests {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopRequests {
    /// Installs the handlers now: from here on SIGINT and SIGTERM no longer end the process
    /// but wake [`recv`](StopRequests::recv). Needs a Tokio runtime; fails as the operating
    /// system refuses a handler.
    pub fn listen() -> io::Result<StopRequests> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopRequests {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopRequests {})
        }
    }

    /// Waits for the next SIGINT or SIGTERM, and says which.
    pub async fn recv(&mut self) -> StopRequest {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => StopRequest::Interrupt,
                _ = self.terminate.recv() => StopRequest::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            ctrl_c().await
        }
    }
}

/// Waits for SIGINT or SIGTERM, with the handlers installed on the first poll (see
/// [`StopRequests`] to install them earlier). Where the handlers cannot be installed it says
/// so in a warning and waits for Ctrl-C alone.
pub async fn stop_requested() -> StopRequest {
    match StopRequests::listen() {
        Ok(mut requests) => requests.recv().await,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGINT and SIGTERM; Ctrl-C still stops");
            ctrl_c().await
        }
    }
}

async fn ctrl_c() -> StopRequest {
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!(%error, "cannot listen for Ctrl-C either; running until killed");
        std::future::pending::<()>().await;
    }
    StopRequest::Interrupt
}
