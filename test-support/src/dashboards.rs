//! The Grafana dashboards of dashboards/ as data: their panels and Prometheus queries, and
//! the variables Grafana fills in before a query reaches Prometheus. Read by the static checks
//! (node/tests/stack/stack_dashboards.rs) and by the live ones (node/tests/stack_live.rs).

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

/// The Prometheus datasource every panel query names by UID.
pub const PROMETHEUS_UID: &str = "alys-prometheus";

/// One dashboard file.
pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

pub fn dir() -> PathBuf {
    crate::stack::repo().join("dashboards")
}

/// Every dashboards/*.json, sorted by file name.
pub fn load() -> Vec<Dashboard> {
    let dir = dir();
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(".json").then_some(name)
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let path = dir.join(&file);
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            Dashboard { file, json }
        })
        .collect()
}

/// Every panel, rows included, with the panels nested in collapsed rows.
pub fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every panel that shows data (rows aside).
pub fn data_panels(dashboard: &Value) -> Vec<&Value> {
    all_panels(dashboard)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

pub fn panel_title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("<untitled>")
}

/// Whether a panel's target queries Prometheus (its own datasource, or the panel's).
pub fn is_prometheus_target(target: &Value, panel: &Value) -> bool {
    let ds = target.get("datasource").unwrap_or(&panel["datasource"]);
    ds["uid"] == PROMETHEUS_UID
}

/// One Prometheus query of a dashboard panel.
pub struct PromQuery {
    pub file: String,
    pub title: String,
    pub ref_id: String,
    pub expr: String,
    pub legend: String,
}

impl PromQuery {
    pub fn name(&self) -> String {
        format!("{} / {} / {}", self.file, self.title, self.ref_id)
    }

    /// The `{{label}}` placeholders of the legend.
    pub fn legend_labels(&self) -> Vec<&str> {
        let mut labels = Vec::new();
        let mut rest = self.legend.as_str();
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                break;
            };
            labels.push(rest[start + 2..start + len].trim());
            rest = &rest[start + len + 2..];
        }
        labels
    }
}

/// Every Prometheus query of `dashboards`.
pub fn prometheus_queries(dashboards: &[Dashboard]) -> Vec<PromQuery> {
    let mut out = Vec::new();
    for d in dashboards {
        for panel in data_panels(&d.json) {
            for t in panel["targets"].as_array().into_iter().flatten() {
                if !is_prometheus_target(t, panel) {
                    continue;
                }
                let text = |key: &str| t[key].as_str().unwrap_or_default().to_string();
                out.push(PromQuery {
                    file: d.file.clone(),
                    title: panel_title(panel).to_string(),
                    ref_id: text("refId"),
                    expr: text("expr"),
                    legend: text("legendFormat"),
                });
            }
        }
    }
    out
}

/// `expr` as Grafana sends it with the dashboards' defaults, on metric path `path`.
pub fn substitute(expr: &str, path: &str) -> String {
    [
        ("${__rate_interval}", "1m"),
        ("$__rate_interval", "1m"),
        ("${__interval}", "15s"),
        ("$__interval", "15s"),
        ("${__range}", "5m"),
        ("$__range", "5m"),
        ("${path}", path),
        ("$path", path),
        ("${instance}", ".*"),
        ("$instance", ".*"),
    ]
    .iter()
    .fold(expr.to_string(), |e, (from, to)| e.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legends_and_variables() {
        let q = PromQuery {
            file: "f".into(),
            title: "t".into(),
            ref_id: "A".into(),
            expr: String::new(),
            legend: "{{actor_type}} / {{ outcome }}".into(),
        };
        assert_eq!(q.legend_labels(), ["actor_type", "outcome"]);
        assert_eq!(
            substitute(
                r#"rate(x{path="$path", instance=~"${instance}"}[$__rate_interval])"#,
                "push"
            ),
            r#"rate(x{path="push", instance=~".*"}[1m])"#
        );
    }
}
