//! The filters of `/traces` and `/api/traces` as the URL carries them, and their parsing: a
//! bad value is refused with a message that names the parameter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{BUCKETS, TraceQuery, View};

/// The most traces one list returns.
pub const MAX_LIMIT: usize = 500;

/// The URL parameters, as given. Empty values count as unset (a form sends empty fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct TraceParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// For example `250ms`, `1.5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<String>,
    /// A latency bucket, 0 to 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// `true`, `on` or `1`: failed traces only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Text in a span name or attribute value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// A parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {param} = {value:?}: {reason}")]
pub struct ParamError {
    pub param: &'static str,
    pub value: String,
    pub reason: String,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl TraceParams {
    /// The selection these parameters ask for.
    pub fn to_query(&self) -> Result<TraceQuery, ParamError> {
        let fail = |param: &'static str, value: &str, reason: &str| ParamError {
            param,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let view = match set(&self.view) {
            None => View::Recent,
            Some(v) => View::parse(v)
                .ok_or_else(|| fail("view", v, "expected recent, slowest or failed"))?,
        };
        let min_duration = match set(&self.min_duration) {
            None => None,
            Some(v) => Some(parse_duration(v).map_err(|r| fail("min_duration", v, &r))?),
        };
        let bucket = match set(&self.bucket) {
            None => None,
            Some(v) => Some(
                v.parse::<usize>()
                    .ok()
                    .filter(|b| *b < BUCKETS)
                    .ok_or_else(|| fail("bucket", v, "expected a latency bucket from 0 to 8"))?,
            ),
        };
        let errors_only = match set(&self.error) {
            None | Some("false" | "off" | "0") => false,
            Some("true" | "on" | "1") => true,
            Some(v) => return Err(fail("error", v, "expected true or false")),
        };
        let limit = match set(&self.limit) {
            None => TraceQuery::default().limit,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| fail("limit", v, "expected a number from 1 to 500"))?,
        };
        Ok(TraceQuery {
            view,
            operation: set(&self.operation).map(str::to_string),
            service: set(&self.service).map(str::to_string),
            min_duration,
            bucket,
            errors_only,
            search: set(&self.q).map(str::to_string),
            limit,
        })
    }

    /// `/traces?…` with these parameters, `change` applied (percent-encoded).
    pub fn link(&self, path: &str, change: impl FnOnce(&mut TraceParams)) -> String {
        let mut p = self.clone();
        change(&mut p);
        for field in [
            &mut p.view,
            &mut p.operation,
            &mut p.service,
            &mut p.min_duration,
            &mut p.bucket,
            &mut p.error,
            &mut p.q,
            &mut p.limit,
        ] {
            if set(field).is_none() {
                *field = None;
            }
        }
        match serde_urlencoded::to_string(&p) {
            Ok(q) if !q.is_empty() => format!("{path}?{q}"),
            _ => path.to_string(),
        }
    }
}

/// A duration with its unit: `250ms`, `1.5s`, `2m`, `800us` (or `µs`), `100ns`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a number and a unit, for example 250ms or 1.5s".to_string())?;
    let seconds_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "" => return Err("add a unit, for example 250ms or 1.5s".into()),
        _ => return Err("the unit must be ns, us, ms, s, m or h".into()),
    };
    Duration::try_from_secs_f64(number * seconds_per_unit).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_a_query_and_bad_ones_are_named() {
        let p = TraceParams {
            view: Some("slowest".into()),
            min_duration: Some("1.5s".into()),
            error: Some("on".into()),
            operation: Some(String::new()),
            ..TraceParams::default()
        };
        let q = p.to_query().unwrap();
        assert_eq!(q.view, View::Slowest);
        assert_eq!(q.min_duration, Some(Duration::from_millis(1500)));
        assert!(q.errors_only);
        assert_eq!(q.operation, None);
        let bad = TraceParams {
            min_duration: Some("250".into()),
            ..TraceParams::default()
        };
        let e = bad.to_query().unwrap_err().to_string();
        assert!(e.contains("min_duration") && e.contains("unit"), "{e}");
        let bad = TraceParams {
            bucket: Some("9".into()),
            ..TraceParams::default()
        };
        assert_eq!(bad.to_query().unwrap_err().param, "bucket");
    }

    #[test]
    fn links_keep_the_filters_and_encode_them() {
        let p = TraceParams {
            operation: Some("a&b=<c>".into()),
            q: Some(String::new()),
            ..TraceParams::default()
        };
        let link = p.link("/traces", |p| p.view = Some("failed".into()));
        assert_eq!(link, "/traces?view=failed&operation=a%26b%3D%3Cc%3E");
        assert_eq!(TraceParams::default().link("/traces", |_| {}), "/traces");
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("800µs"), Ok(Duration::from_micros(800)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
