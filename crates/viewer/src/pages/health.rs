//! `/health` for a browser: every check now, and its results over the last ten minutes.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{format, layout, respond};
use crate::history::{HealthHistory, OVERALL, SAMPLE_INTERVAL};
use alys_telemetry_core::health::{HealthReport, HealthStatus};

fn class(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Degraded => "degraded",
        HealthStatus::Unhealthy => "unhealthy",
    }
}

/// The page for `report` (answered with `/health`'s status code: 503 when unhealthy).
pub fn health(report: &HealthReport, history: &HealthHistory, code: StatusCode) -> Response {
    let past = history.snapshot();
    let body = html! {
        h1 { "Health: " span class=(format!("status-{}", class(report.status))) { (class(report.status)) } }
        p.muted {
            "Version " (report.version) " · up " (format::duration(std::time::Duration::from_secs(report.uptime_seconds)))
            " · history: one result every " (SAMPLE_INTERVAL.as_secs()) " s, oldest left"
        }
        table.checks {
            thead { tr { th { "Check" } th { "Now" } th { "Detail" } th { "History" } } }
            tbody {
                @for (name, name_label, status, detail) in std::iter::once((OVERALL, "whole process", report.status, "")).chain(report.checks.iter().map(|(n, r)| (n.as_str(), n.as_str(), r.status, r.detail.as_str()))) {
                    tr.check data-check=(name_label) {
                        td { @if name.is_empty() { em { (name_label) } } @else { code { (name_label) } } }
                        td class=(format!("status-{}", class(status))) { (class(status)) }
                        td { (detail) }
                        td {
                            div.history {
                                @for s in past.get(name).map(Vec::as_slice).unwrap_or(&[]) {
                                    i class=(class(s.status)) title=(format!("{} {} {}", format::unix_ms(s.at_unix_ms), class(s.status), s.detail)) {}
                                }
                            }
                        }
                    }
                }
            }
        }
        p.muted { "The same as JSON: " code { "curl " "/health" } " (the report) or " a href="/api/health" { code { "/api/health" } } " (with history)." }
    };
    respond(code, layout("Health", "/health", body))
}
