//! The viewer's HTML. Every page is whole in one response: styles inline, no script, no
//! font, nothing fetched from elsewhere, so it works offline and over an SSH tunnel. maud
//! escapes every value it is given (span names, attributes, check details are outside
//! input), and the Content-Security-Policy forbids scripts outright, a second wall.

mod format;
mod health;
mod traces;
mod waterfall;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use format::{bytes, duration, rfc3339, time, unix_ms};
pub use health::health;
pub use traces::{index, traces};
pub use waterfall::trace;

/// Whether the request prefers HTML over JSON: a browser's `Accept` lists `text/html`; API
/// clients send `application/json`, `*/*` or nothing, and keep getting JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let quality = |wanted: &str| {
        accept
            .split(',')
            .filter_map(|part| {
                let mut fields = part.split(';').map(str::trim);
                let kind = fields.next()?;
                let q = fields
                    .find_map(|f| f.strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (kind.eq_ignore_ascii_case(wanted)).then_some(q)
            })
            .fold(None, |best: Option<f32>, q| {
                Some(best.map_or(q, |b| b.max(q)))
            })
    };
    match (quality("text/html"), quality("application/json")) {
        (Some(html), Some(json)) => html > 0.0 && html >= json,
        (Some(html), None) => html > 0.0,
        _ => false,
    }
}

/// No script may run, nothing may load from elsewhere; inline styles only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A page response with the viewer's headers.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::VARY, "Accept"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The frame every page shares.
pub(crate) fn layout(title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · alys-telemetry" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    nav {
                        a.brand href="/" { "alys-telemetry" }
                        @for (href, label) in [("/traces", "Traces"), ("/health", "Health"), ("/metrics", "Metrics"), ("/api/", "API")] {
                            a href=(href) class=[(current == href).then_some("current")] { (label) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page that says what went wrong (a bad filter, an unknown trace).
pub(crate) fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    respond(
        status,
        layout(
            title,
            "",
            html! {
                h1 { (title) }
                p.problem { (message) }
                p { a href="/traces" { "All traces" } }
            },
        ),
    )
}

/// The pages' styles: system fonts, light and dark, nothing loaded.
const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --bg: #fff;
  --panel: #f6f7f9; --bar: #7aa2d6; --crit: #d9480f; --err: #c92a2a; --ok: #2b8a3e; --warn: #e67700; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ec; --muted: #98a2b3; --line: #344054;
  --bg: #101418; --panel: #1a2028; --bar: #4f7cb8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { background: var(--panel); border-bottom: 1px solid var(--line); }
nav { display: flex; gap: 1.2em; padding: .6em 1.2em; align-items: baseline; }
nav a { color: var(--fg); text-decoration: none; }
nav a.current { font-weight: 600; border-bottom: 2px solid var(--bar); }
nav a.brand { font-weight: 700; margin-right: 1em; }
main { padding: 1em 1.2em 3em; max-width: 1400px; }
h1 { font-size: 1.35em; margin: .2em 0 .6em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .5em; }
a { color: #2f6fb5; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .45em; border-radius: .6em; font-size: .85em; border: 1px solid currentColor; }
.badge.error, .status-unhealthy { color: var(--err); }
.status-degraded { color: var(--warn); }
.status-healthy { color: var(--ok); }
.problem { color: var(--err); }
form.filters { display: flex; flex-wrap: wrap; gap: .6em 1em; align-items: end; background: var(--panel); padding: .7em; border: 1px solid var(--line); border-radius: 6px; }
form.filters label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
form.filters label.check { flex-direction: row; gap: .3em; align-items: center; }
form.filters input, form.filters select { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: .2em .4em; }
.tabs { display: flex; gap: .4em; margin: 1em 0 .4em; }
.tabs a { padding: .2em .8em; border: 1px solid var(--line); border-radius: 4px; text-decoration: none; color: var(--fg); }
.tabs a.current { background: var(--bar); color: #fff; border-color: var(--bar); }
.waterfall { border: 1px solid var(--line); border-radius: 6px; }
.waterfall .row { display: grid; grid-template-columns: minmax(260px, 32%) 1fr; border-bottom: 1px solid var(--line); }
.waterfall .row:last-child { border-bottom: 0; }
.waterfall .label { padding: .25em .5em; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.waterfall .label .service { color: var(--muted); font-size: .85em; margin-right: .4em; }
.waterfall .lane { position: relative; min-height: 1.9em; }
.waterfall .bar { position: absolute; top: .45em; height: 1em; min-width: 2px; background: var(--bar); border-radius: 2px; }
.waterfall .row.error .bar { background: var(--err); }
.waterfall .crit { position: absolute; top: .3em; height: 1.3em; min-width: 2px; background: var(--crit); border-radius: 2px; opacity: .85; }
.waterfall .row.critical .label .name { font-weight: 600; }
.waterfall .row.critical .label .name::after { content: " ◆"; color: var(--crit); }
.waterfall .took { position: absolute; top: .25em; font-size: .8em; color: var(--muted); white-space: nowrap; }
.waterfall .axis { font-size: .8em; color: var(--muted); }
.waterfall .axis .lane span { position: absolute; top: .3em; transform: translateX(-50%); }
.waterfall .axis .lane span:first-child { transform: none; }
.waterfall .axis .lane span:last-child { transform: translateX(-100%); }
details.span { grid-column: 1 / -1; padding: 0 .5em .5em 1.5em; background: var(--panel); }
details.span summary { cursor: pointer; color: var(--muted); font-size: .85em; padding: .2em 0; }
details.span table { width: auto; min-width: 50%; }
.legend { display: flex; gap: 1.5em; font-size: .85em; color: var(--muted); margin: .5em 0; }
.legend i { display: inline-block; width: 1.4em; height: .8em; vertical-align: middle; margin-right: .3em; border-radius: 2px; }
.history { display: flex; gap: 1px; align-items: stretch; height: 1.2em; }
.history i { flex: 0 0 6px; border-radius: 1px; }
.history i.healthy { background: var(--ok); } .history i.degraded { background: var(--warn); } .history i.unhealthy { background: var(--err); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0 0 1em; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn browsers_get_html_and_api_clients_json() {
        // Chromium's navigation header.
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        )));
        assert!(wants_html(&accept("text/html")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("application/json, text/html;q=0.5")));
        assert!(!wants_html(&accept("text/html;q=0")));
    }
}
