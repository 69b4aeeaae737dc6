//! The gate in front of the routes: which credentials a path asks for, the 401 when they are
//! missing or wrong (counted, and logged at a limited rate), and the configured extra
//! response headers on every answer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Credentials;
use super::reload::Current;
use crate::exits::connections::ConnectionStats;
use alys_telemetry_catalog::pipeline::PullDenyReason;
use alys_telemetry_core::throttle::Throttle;

/// Refusals are logged at most this often, per reason (all are counted).
const REFUSAL_LOG: Duration = Duration::from_secs(30);

/// The parts of the endpoint, by the credentials they ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `/health` and `/ready`: probes, never asked for credentials.
    Probes,
    /// `/metrics`: the top-level credentials.
    Metrics,
    /// Everything else: the viewer's pages and API.
    Viewer,
}

impl Part {
    fn of(path: &str) -> Part {
        match path {
            "/health" | "/ready" => Part::Probes,
            p if p == "/metrics" || p.starts_with("/metrics/") => Part::Metrics,
            _ => Part::Viewer,
        }
    }

    fn realm(self) -> &'static str {
        match self {
            Part::Metrics => "alys-telemetry metrics",
            Part::Probes | Part::Viewer => "alys-telemetry viewer",
        }
    }
}

/// What the gate needs: the current configuration, and where refusals are counted.
#[derive(Clone)]
pub(super) struct Gate {
    current: Current,
    stats: Arc<ConnectionStats>,
    missing_log: Arc<Throttle>,
    wrong_log: Arc<Throttle>,
}

impl Gate {
    pub(super) fn new(current: Current, stats: Arc<ConnectionStats>) -> Gate {
        Gate {
            current,
            stats,
            missing_log: Arc::new(Throttle::new(REFUSAL_LOG)),
            wrong_log: Arc::new(Throttle::new(REFUSAL_LOG)),
        }
    }

    /// The 401, counted and (at a limited rate) logged without anything the client sent.
    fn refuse(
        &self,
        credentials: &Credentials,
        part: Part,
        reason: PullDenyReason,
        path: &str,
    ) -> Response {
        self.stats.deny(reason);
        let log = match reason {
            PullDenyReason::MissingCredentials => &self.missing_log,
            _ => &self.wrong_log,
        };
        if let Some(times) = log.occurred() {
            tracing::warn!(
                times,
                reason = reason.as_str(),
                path,
                "pull endpoint refused a request: credentials missing or wrong"
            );
        }
        let mut response = (StatusCode::UNAUTHORIZED, "401 Unauthorized\n").into_response();
        for challenge in credentials.challenges(part.realm()) {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The middleware: the request passes when its part asks for no credentials or its
/// credentials are accepted.
pub(super) async fn check(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let security = gate.current.security.borrow().clone();
    let part = Part::of(request.uri().path());
    let credentials = match part {
        Part::Probes => None,
        Part::Metrics => security.metrics.as_ref(),
        Part::Viewer => security.viewer.as_ref(),
    };
    let refused = match credentials {
        Some(credentials) => {
            let authorization = request.headers().get(header::AUTHORIZATION);
            match credentials.check(authorization).await {
                Ok(()) => None,
                Err(reason) => Some(gate.refuse(credentials, part, reason, request.uri().path())),
            }
        }
        None => None,
    };
    let mut response = match refused {
        Some(response) => response,
        None => next.run(request).await,
    };
    for (name, value) in &security.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_stay_open_metrics_and_the_viewer_are_apart() {
        assert_eq!(Part::of("/health"), Part::Probes);
        assert_eq!(Part::of("/ready"), Part::Probes);
        assert_eq!(Part::of("/metrics"), Part::Metrics);
        for viewer in [
            "/",
            "/traces",
            "/traces/abc",
            "/api/traces",
            "/api/health",
            "/healthz",
            "/ready/x",
        ] {
            assert_eq!(Part::of(viewer), Part::Viewer, "{viewer}");
        }
    }
}
