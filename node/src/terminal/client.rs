//! Where the terminal views read from: a node's pull endpoint (`/metrics`, `/api/…`) or a
//! Jaeger query service (`/api/v3/…`, OTLP JSON).

use std::time::{Duration, SystemTime};

use alys_telemetry::exits::viewer::pages::rfc3339;

use super::model::{self, TraceView};

/// A blocking HTTP client with short timeouts: a view must keep redrawing when the node hangs.
#[derive(Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new() -> Result<Http, String> {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .map(|client| Http { client })
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }

    /// The body of `url`, or why not (connection refused, a status other than 200 with the
    /// body's first line).
    pub fn get(&self, url: &str) -> Result<String, String> {
        let response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .map_err(|e| describe(&e))?;
        let status = response.status();
        let body = response.text().map_err(|e| describe(&e))?;
        if status.is_success() {
            Ok(body)
        } else {
            let error = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("error")
                        .and_then(|e| e.as_str().or_else(|| e.get("message")?.as_str()))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| body.lines().next().unwrap_or("").to_string());
            Err(format!("{url}: {status}: {error}"))
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// `host:port` or a URL, as an `http://` base without a trailing slash.
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
    pub fn list_json(&self, http: &Http, filter: &Filter) -> Result<Vec<String>, String> {
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
    pub fn list(&self, http: &Http, filter: &Filter) -> Result<Vec<TraceView>, String> {
        let mut traces = Vec::new();
        for body in self.list_json(http, filter)? {
            match model::parse(&body) {
                Ok(t) => traces.extend(t),
                // Jaeger answers "not found" for a service without traces in the window.
                Err(e) if e.contains("not found") => {}
                Err(e) => return Err(e),
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
    pub fn trace_json(&self, http: &Http, trace_id: &str) -> Result<String, String> {
        let id = trace_id.trim();
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{id:?} is not a trace id (up to 32 hex digits)"));
        }
        match self {
            Source::Node(base) => http.get(&format!("{base}/api/traces/{id}")),
            Source::Jaeger { base, .. } => http.get(&format!("{base}/api/v3/traces/{id}")),
        }
    }

    /// One trace.
    pub fn trace(&self, http: &Http, trace_id: &str) -> Result<TraceView, String> {
        model::parse(&self.trace_json(http, trace_id)?)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("trace {trace_id} has no spans"))
    }
}

fn jaeger_services(http: &Http, base: &str) -> Result<Vec<String>, String> {
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
