//! The node's stack-tier tests (README, "Tests"): against the Go-built collector, Prometheus,
//! Alertmanager and promtool, the compose and Kubernetes files, chromium and tmux. One binary,
//! a module each. Three stack-tier tests stay binaries of their own: stack_live and
//! stack_gateway each bring up a whole compose stack (the harness keeps one per binary), and
//! stack_image's release build would starve the timing-bound tests beside it.

#[path = "../support/mod.rs"]
mod support;

mod catalog_live;
mod collector_restart;
mod pull_prometheus;
mod push_otlp;
mod stack_alerting_e2e;
mod stack_alerts;
mod stack_compose;
mod stack_dashboards;
mod stack_kubernetes;
mod stack_versions;
mod terminal_views;
mod viewer_browser;
