//! `/` and `/traces`: what is here, and the kept traces by operation, latency and failure.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{format, layout, problem, respond};
use crate::Viewer;
use crate::query::TraceParams;
use crate::store::{BUCKETS, OperationStats, Trace, TraceStore, View, bucket_label};

/// `GET /`
pub async fn index(State(viewer): State<Viewer>) -> Response {
    let store = viewer.store.as_ref().map(|s| (s.service_name(), s.stats()));
    let body = html! {
        h1 { "alys-telemetry" }
        @match &store {
            Some((service, stats)) => p {
                "Service " code { (service) } " · "
                (stats.traces) " traces kept in " (format::bytes(stats.memory_bytes))
                " of " (format::bytes(stats.memory_limit)) "."
            },
            None => p.muted { "The OpenTelemetry SDK is disabled: no traces are kept." },
        }
        h2 { "Pages" }
        ul {
            li { a href="/traces" { "Traces" } ": operations with their latency buckets; recent, slowest and failed traces; each one as a waterfall with its critical path" }
            li { a href="/health" { "Health" } ": every check now and over the last ten minutes" }
        }
        h2 { "For tools" }
        ul {
            li { a href="/metrics" { code { "/metrics" } } ": Prometheus text exposition" }
            li { a href="/ready" { code { "/ready" } } ": 200 when the node is ready" }
            li { code { "/health" } ": the health report as JSON (without " code { "Accept: text/html" } ")" }
            li { a href="/api/" { code { "/api/" } } ": traces as OTLP JSON, operations, health with history, the store" }
        }
        h2 { "In a terminal" }
        p {
            code { "alys-telemetry top" } " shows this node's health, actors, chain and exports; "
            code { "alys-telemetry traces" } " browses its traces as waterfalls (add "
            code { "--jaeger URL" } " to read a Jaeger instead)."
        }
    };
    respond(StatusCode::OK, layout("Overview", "/", body))
}

/// `GET /traces`
pub async fn traces(State(viewer): State<Viewer>, Query(params): Query<TraceParams>) -> Response {
    let Some(store) = &viewer.store else {
        return problem(
            StatusCode::NOT_FOUND,
            "No traces",
            "The OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED): no spans exist to keep.",
        );
    };
    let query = match params.to_query() {
        Ok(q) => q,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "Bad filter", &e.to_string()),
    };
    let operations = store.operations();
    let list = store.query(&query);
    let body = html! {
        h1 { "Traces" }
        (summary(store))
        (filters(&params, &operations, &store.service_name()))
        h2 { "Operations" }
        (operations_table(&params, &operations))
        (tabs(&params, query.view))
        (trace_list(store, &list))
    };
    respond(StatusCode::OK, layout("Traces", "/traces", body))
}

fn summary(store: &TraceStore) -> Markup {
    let s = store.stats();
    html! {
        p.muted {
            (s.traces) " traces kept (" (s.gathering) " still gathering spans) in "
            (format::bytes(s.memory_bytes)) " of " (format::bytes(s.memory_limit)) "; "
            (s.evicted_traces) " evicted, " (s.dropped_spans) " spans dropped since start."
        }
    }
}

fn filters(params: &TraceParams, operations: &[OperationStats], service: &str) -> Markup {
    let chosen = params.operation.as_deref().unwrap_or("");
    html! {
        form.filters method="get" action="/traces" {
            @if let Some(view) = &params.view { input type="hidden" name="view" value=(view); }
            label { "Operation"
                select name="operation" {
                    option value="" { "any" }
                    @for op in operations {
                        option value=(op.name) selected[op.name == chosen] { (op.name) }
                    }
                }
            }
            label { "Service"
                input type="text" name="service" placeholder=(service) value=[params.service.as_deref()];
            }
            label { "Min duration"
                input type="text" name="min_duration" placeholder="250ms" size="8" value=[params.min_duration.as_deref()];
            }
            label { "Search"
                input type="search" name="q" placeholder="name or attribute" value=[params.q.as_deref()];
            }
            label.check {
                input type="checkbox" name="error" value="true" checked[params.error.as_deref().is_some_and(|e| matches!(e, "true" | "on" | "1"))];
                "failed only"
            }
            button type="submit" { "Filter" }
            a href="/traces" { "clear" }
        }
    }
}

fn operations_table(params: &TraceParams, operations: &[OperationStats]) -> Markup {
    html! {
        @if operations.is_empty() {
            p.muted { "No trace has settled yet: a trace is listed a second after its last span ends." }
        } @else {
            table.operations {
                thead { tr {
                    th { "Operation" } th.num { "Traces" }
                    @for b in 0..BUCKETS { th.num { (bucket_label(b)) } }
                    th.num { "Failed" }
                } }
                tbody {
                    @for op in operations {
                        tr {
                            td { a href=(params.link("/traces", |p| { *p = TraceParams { operation: Some(op.name.clone()), ..TraceParams::default() }; })) { (op.name) } }
                            td.num { (op.total()) }
                            @for (b, count) in op.counts.iter().enumerate() {
                                td.num {
                                    @if *count > 0 {
                                        a href=(params.link("/traces", |p| { *p = TraceParams { operation: Some(op.name.clone()), bucket: Some(b.to_string()), view: Some("slowest".into()), ..TraceParams::default() }; })) { (count) }
                                    } @else { span.muted { "·" } }
                                }
                            }
                            td.num {
                                @if op.errors > 0 {
                                    a.badge.error href=(params.link("/traces", |p| { *p = TraceParams { operation: Some(op.name.clone()), view: Some("failed".into()), ..TraceParams::default() }; })) { (op.errors) }
                                } @else { span.muted { "0" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tabs(params: &TraceParams, current: View) -> Markup {
    html! {
        div.tabs {
            @for view in View::ALL {
                a href=(params.link("/traces", |p| p.view = Some(view.as_str().into()))) class=[(view == current).then_some("current")] {
                    (match view { View::Recent => "Recent", View::Slowest => "Slowest", View::Failed => "Failed" })
                }
            }
        }
    }
}

fn trace_list(store: &TraceStore, list: &[Arc<Trace>]) -> Markup {
    html! {
        @if list.is_empty() {
            p.muted { "No kept trace matches." }
        } @else {
            table.traces {
                thead { tr {
                    th { "Started" } th { "Operation" } th.num { "Duration" } th.num { "Spans" } th { "Trace" } th {}
                } }
                tbody {
                    @for t in list {
                        tr.trace data-operation=(t.operation()) {
                            td.mono { (format::time(t.start())) }
                            td { a href=(format!("/traces/{}", t.trace_id())) { (t.operation()) } }
                            td.num { (format::duration(t.duration())) }
                            td.num { (t.spans().len()) }
                            td.mono { a href=(format!("/traces/{}", t.trace_id())) { (t.trace_id()) } }
                            td {
                                @if t.has_error() { span.badge.error { "error" } " " }
                                @if store.is_kept_aside(t.trace_id()) { span.badge.muted title="kept aside for its operation: among its bucket's latest or the latest failed" { "kept" } }
                            }
                        }
                    }
                }
            }
        }
    }
}
