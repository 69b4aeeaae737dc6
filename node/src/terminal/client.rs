//! Where the terminal views read from: a node's pull endpoint (`/metrics`, `/api/…`) or a
//! Jaeger query service (`/api/v3/…`, OTLP JSON).

use std::time::{Duration, SystemTime};

use alys_telemetry::exits::viewer::pages::rfc3339;

pub use super::fetch_error::FetchError;
use super::fetch_error::{describe, unauthorized};
use super::model::{self, TraceView};

/// How long a view waits: it must keep redrawing when the node hangs.
pub const VIEW_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    total: Duration::from_secs(3),
};

/// The bounds of one request: connecting, and the whole request with the TLS handshake and
/// the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// The largest answer read (a list of 500 traces with their spans stays far below it).
const BODY_LIMIT: u64 = 256 * 1024 * 1024;

/// A blocking HTTP(S) client with short timeouts, and the credentials it sends. Built from the
/// command line by [`super::access::NodeAccess::http`]; [`Http::new`] is the plain one.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    authorization: Option<Authorization>,
}

/// The `Authorization` header and, for messages, what it was made from (never the secret).
#[derive(Clone)]
pub(crate) struct Authorization {
    pub(crate) header: std::sync::Arc<str>,
    /// "the password of --password-file for user \"operator\"", "the token of --bearer-token-file".
    pub(crate) described: std::sync::Arc<str>,
}

impl Http {
    /// Plain: no credentials, the built-in roots for https://.
    pub fn new() -> Result<Http, String> {
        Http::build(VIEW_TIMEOUTS, ureq::tls::TlsConfig::default(), None)
    }

    pub(crate) fn build(
        timeouts: Timeouts,
        tls: ureq::tls::TlsConfig,
        authorization: Option<Authorization>,
    ) -> Result<Http, String> {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(timeouts.connect))
            .timeout_global(Some(timeouts.total))
            // Statuses are answers to read (a 401's challenge, an error's body), not errors.
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Http {
            agent,
            authorization,
        })
    }

    /// The body of `url`, or why not (connection refused, a failed TLS handshake, a status
    /// other than 2xx with the body's first line; a 401 names the flags to pass).
    pub fn get(&self, url: &str) -> Result<String, FetchError> {
        let mut request = self.agent.get(url).header("accept", "application/json");
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", &*auth.header);
        }
        let mut response = request.call().map_err(|e| describe(url, &e))?;
        let status = response.status();
        let challenges: Vec<String> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| describe(url, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        if status == ureq::http::StatusCode::UNAUTHORIZED {
            return Err(FetchError {
                message: format!(
                    "{url}: {status}: {}",
                    unauthorized(&challenges, self.authorization.as_ref())
                ),
                refused: true,
            });
        }
        let error = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("error")
                    .and_then(|e| e.as_str().or_else(|| e.get("message")?.as_str()))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.lines().next().unwrap_or("").to_string());
        Err(FetchError {
            message: format!("{url}: {status}: {error}"),
            refused: false,
        })
    }
}

/// `host:port` or a URL, as a base without a trailing slash: `host:port` is `http://`.
pub fn base_url(address: &str) -> String {
    let address = address.trim().trim_end_matches('/');
    if address.starts_with("http://") || address.starts_with("https://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

/// What a trace list asks for; the node filters itself, Jaeger's answers are filtered here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// recent, slowest or failed.
    pub view: String,
    pub operation: Option<String>,
    pub service: Option<String>,
    pub min_duration: Option<Duration>,
    pub errors_only: bool,
    pub search: Option<String>,
    pub limit: usize,
}

/// Where traces come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A node's `/api/traces`.
    Node(String),
    /// A Jaeger query service's `/api/v3/traces` (the last `lookback` of traces).
    Jaeger { base: String, lookback: Duration },
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Node(base) => format!("node {base}"),
            Source::Jaeger { base, .. } => format!("Jaeger {base}"),
        }
    }

    /// The OTLP JSON bodies of the traces `filter` selects (one per Jaeger service asked).
    pub fn list_json(&self, http: &Http, filter: &Filter) -> Result<Vec<String>, FetchError> {
        match self {
            Source::Node(base) => {
                let mut params = vec![
                    ("view", filter.view.clone()),
                    ("limit", filter.limit.to_string()),
                ];
                let mut add = |k: &'static str, v: &Option<String>| {
                    if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                        params.push((k, v.clone()));
                    }
                };
                add("operation", &filter.operation);
                add("service", &filter.service);
                add("q", &filter.search);
                if let Some(d) = filter.min_duration {
                    params.push(("min_duration", format!("{}us", d.as_micros())));
                }
                if filter.errors_only {
                    params.push(("error", "true".into()));
                }
                let query = serde_urlencoded::to_string(&params).map_err(|e| e.to_string())?;
                Ok(vec![http.get(&format!("{base}/api/traces?{query}"))?])
            }
            Source::Jaeger { base, lookback } => {
                let services = match &filter.service {
                    Some(s) if !s.is_empty() => vec![s.clone()],
                    _ => jaeger_services(http, base)?,
                };
                let now = SystemTime::now();
                let from = now.checked_sub(*lookback).unwrap_or(SystemTime::UNIX_EPOCH);
                let mut bodies = Vec::new();
                for service in services {
                    let mut params = vec![
                        ("query.service_name", service),
                        ("query.start_time_min", rfc3339(from)),
                        (
                            "query.start_time_max",
                            rfc3339(now + Duration::from_secs(60)),
                        ),
                        // Jaeger 2.13 reads `query.num_traces` (later releases keep it as an alias).
                        ("query.num_traces", filter.limit.max(1).to_string()),
                    ];
                    if let Some(op) = filter.operation.as_ref().filter(|o| !o.is_empty()) {
                        params.push(("query.operation_name", op.clone()));
                    }
                    if let Some(d) = filter.min_duration {
                        params.push(("query.duration_min", format!("{:.6}s", d.as_secs_f64())));
                    }
                    let query = serde_urlencoded::to_string(&params).map_err(|e| e.to_string())?;
                    bodies.push(http.get(&format!("{base}/api/v3/traces?{query}"))?);
                }
                Ok(bodies)
            }
        }
    }

    /// The traces `filter` selects, in its view's order.
    pub fn list(&self, http: &Http, filter: &Filter) -> Result<Vec<TraceView>, FetchError> {
        let mut traces = Vec::new();
        for body in self.list_json(http, filter)? {
            match model::parse(&body) {
                Ok(t) => traces.extend(t),
                // Jaeger answers "not found" for a service without traces in the window.
                Err(e) if e.contains("not found") => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Source::Jaeger { .. } = self {
            traces.retain(|t| {
                (!filter.errors_only && filter.view != "failed" || t.has_error())
                    && filter
                        .search
                        .as_deref()
                        .is_none_or(|s| s.is_empty() || t.mentions(s))
            });
            traces.dedup_by(|a, b| a.trace_id == b.trace_id);
            match filter.view.as_str() {
                "slowest" => traces.sort_by_key(|t| std::cmp::Reverse(t.duration_ns())),
                _ => traces.sort_by_key(|t| std::cmp::Reverse(t.start_ns)),
            }
            traces.truncate(filter.limit.max(1));
        }
        Ok(traces)
    }

    /// One trace's OTLP JSON.
    pub fn trace_json(&self, http: &Http, trace_id: &str) -> Result<String, FetchError> {
        let id = trace_id.trim();
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{id:?} is not a trace id (up to 32 hex digits)").into());
        }
        match self {
            Source::Node(base) => http.get(&format!("{base}/api/traces/{id}")),
            Source::Jaeger { base, .. } => http.get(&format!("{base}/api/v3/traces/{id}")),
        }
    }

    /// One trace.
    pub fn trace(&self, http: &Http, trace_id: &str) -> Result<TraceView, FetchError> {
        model::parse(&self.trace_json(http, trace_id)?)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("trace {trace_id} has no spans").into())
    }
}

fn jaeger_services(http: &Http, base: &str) -> Result<Vec<String>, FetchError> {
    let body = http.get(&format!("{base}/api/v3/services"))?;
    let value: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{base}/api/v3/services: {e}"))?;
    Ok(value
        .get("services")
        .and_then(|s| s.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                // Jaeger's own spans are not the node's.
                .filter(|s| s != "jaeger")
                .collect()
        })
        .unwrap_or_default())
}
