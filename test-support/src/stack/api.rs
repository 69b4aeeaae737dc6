//! The HTTP APIs the stack's users read: Prometheus's query API, Jaeger's query API (the
//! one its UI uses) and Alertmanager's v2 API.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::http_get;

fn get_json(url: &str) -> Result<Value, String> {
    let (status, body, _) = http_get(url)?;
    if status != 200 {
        return Err(format!("GET {url}: HTTP {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON ({e}): {body}"))
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(base, params)
        .map(|u| u.to_string())
        .unwrap_or_else(|e| panic!("bad URL {base}: {e}"))
}

/// Prometheus's HTTP API at `base`.
pub struct PrometheusApi {
    pub base: String,
}

impl PrometheusApi {
    /// Instant query: `data.result`.
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let json = get_json(&with_params(
            &format!("{}/api/v1/query", self.base),
            &[("query", promql)],
        ))?;
        if json["status"] != "success" {
            return Err(format!("query {promql:?}: {}", json["error"]));
        }
        json["data"]["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("query {promql:?}: no data.result in {json}"))
    }

    /// Exemplars of `promql` over the last `seconds`.
    pub fn exemplars(&self, promql: &str, seconds: u64) -> Result<Vec<Value>, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (start, end) = ((now - seconds).to_string(), (now + 60).to_string());
        let json = get_json(&with_params(
            &format!("{}/api/v1/query_exemplars", self.base),
            &[("query", promql), ("start", &start), ("end", &end)],
        ))?;
        json["data"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("exemplars {promql:?}: no data in {json}"))
    }

    /// Alerts in the firing state, by name.
    pub fn firing(&self) -> BTreeSet<String> {
        get_json(&format!("{}/api/v1/alerts", self.base))
            .ok()
            .and_then(|j| j["data"]["alerts"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
            .collect()
    }

    /// Scrape targets: job → health of each of its targets.
    pub fn target_health(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let targets = get_json(&format!("{}/api/v1/targets", self.base))
            .ok()
            .and_then(|j| j["data"]["activeTargets"].as_array().cloned())
            .unwrap_or_default();
        for t in targets {
            let job = t["labels"]["job"].as_str().unwrap_or("?").to_string();
            let health = format!(
                "{} {}",
                t["health"].as_str().unwrap_or("?"),
                t["lastError"].as_str().unwrap_or("")
            );
            out.entry(job).or_default().push(health);
        }
        out
    }
}

/// The numeric value of one instant-vector sample.
pub fn value(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}

/// Jaeger's query API at `base` (what the Jaeger UI reads).
pub struct JaegerApi {
    pub base: String,
}

impl JaegerApi {
    pub fn services(&self) -> Result<Vec<String>, String> {
        let json = get_json(&format!("{}/api/services", self.base))?;
        Ok(json["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Recent traces of `service` whose root or any span is `operation`.
    pub fn traces(&self, service: &str, operation: &str, limit: u32) -> Result<Vec<Trace>, String> {
        let json = get_json(&with_params(
            &format!("{}/api/traces", self.base),
            &[
                ("service", service),
                ("operation", operation),
                ("limit", &limit.to_string()),
                ("lookback", "1h"),
            ],
        ))?;
        Ok(json["data"]
            .as_array()
            .map(|a| a.iter().map(Trace::from_json).collect())
            .unwrap_or_default())
    }

    /// One trace by id, if Jaeger has it.
    pub fn trace(&self, trace_id: &str) -> Option<Trace> {
        let json = get_json(&format!("{}/api/traces/{trace_id}", self.base)).ok()?;
        json["data"].as_array()?.first().map(Trace::from_json)
    }

    /// The Monitor tab's data: `kind` is calls, latencies or errors.
    pub fn monitor(&self, kind: &str, service: &str, span_kind: &str) -> Result<Value, String> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
            .to_string();
        let mut params = vec![
            ("service", service),
            ("spanKind", span_kind),
            ("endTs", now_ms.as_str()),
            ("lookback", "600000"),
            ("step", "15000"),
            ("ratePer", "60000"),
        ];
        if kind == "latencies" {
            params.push(("quantile", "0.95"));
        }
        get_json(&with_params(
            &format!("{}/api/metrics/{kind}", self.base),
            &params,
        ))
    }
}

/// A span of a Jaeger trace.
#[derive(Debug, Clone)]
pub struct Span {
    pub span_id: String,
    pub parent: Option<String>,
    pub operation: String,
    pub service: String,
    pub start_us: u64,
    pub tags: BTreeMap<String, Value>,
}

/// A trace as Jaeger returns it.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: String,
    pub spans: Vec<Span>,
}

impl Trace {
    fn from_json(json: &Value) -> Trace {
        let services: BTreeMap<String, String> = json["processes"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(id, proc)| {
                        (
                            id.clone(),
                            proc["serviceName"].as_str().unwrap_or("?").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let spans = json["spans"]
            .as_array()
            .map(|spans| {
                spans
                    .iter()
                    .map(|s| Span {
                        span_id: s["spanID"].as_str().unwrap_or("").to_string(),
                        parent: s["references"].as_array().and_then(|refs| {
                            refs.iter()
                                .find(|r| r["refType"] == "CHILD_OF")
                                .and_then(|r| r["spanID"].as_str().map(str::to_string))
                        }),
                        operation: s["operationName"].as_str().unwrap_or("").to_string(),
                        service: services
                            .get(s["processID"].as_str().unwrap_or(""))
                            .cloned()
                            .unwrap_or_default(),
                        start_us: s["startTime"].as_u64().unwrap_or(0),
                        tags: s["tags"]
                            .as_array()
                            .map(|tags| {
                                tags.iter()
                                    .filter_map(|t| {
                                        Some((t["key"].as_str()?.to_string(), t["value"].clone()))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Trace {
            trace_id: json["traceID"].as_str().unwrap_or("").to_string(),
            spans,
        }
    }

    pub fn span(&self, operation: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.operation == operation)
    }

    pub fn parent_of(&self, span: &Span) -> Option<&Span> {
        let parent = span.parent.as_deref()?;
        self.spans.iter().find(|s| s.span_id == parent)
    }

    pub fn services(&self) -> BTreeSet<&str> {
        self.spans.iter().map(|s| s.service.as_str()).collect()
    }
}

/// Alertmanager's v2 API at `base`.
pub struct AlertmanagerApi {
    pub base: String,
}

impl AlertmanagerApi {
    /// Active (not resolved, not silenced) alerts by name.
    pub fn active(&self) -> BTreeSet<String> {
        get_json(&format!(
            "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
            self.base
        ))
        .ok()
        .and_then(|j| j.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|a| a["status"]["state"] == "active")
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect()
    }
}
