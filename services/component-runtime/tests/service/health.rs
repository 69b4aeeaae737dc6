//! Each component's health on `/health` (a check per component, beside the library's
//! `actors`) and as `component_health_status{component,status}`: healthy at rest, unhealthy
//! when most of its messages fail, unhealthy and refusing messages when its supervisor gave
//! up on it.

use std::time::Duration;

use alys_test_support::wait_until;

use crate::support::Service;

const COMPONENTS: [&str; 4] = ["source", "parser", "enricher", "sink"];

fn status_metric(service: &Service, component: &str, status: &str) -> Option<f64> {
    service.metric(
        "component_health_status",
        &[("component", component), ("status", status)],
    )
}

#[test]
fn every_component_has_its_check_and_its_status_metric() {
    let service = Service::quiet(&[]);
    let (code, report) = service.health();
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["status"], "healthy", "{report}");
    for c in COMPONENTS {
        let check = &report["checks"][format!("component.{c}")];
        assert_eq!(check["status"], "healthy", "{c}: {report}");
        assert_eq!(status_metric(&service, c, "healthy"), Some(1.0), "{c}");
        assert_eq!(status_metric(&service, c, "degraded"), Some(0.0), "{c}");
        assert_eq!(status_metric(&service, c, "unhealthy"), Some(0.0), "{c}");
    }
    assert_eq!(report["checks"]["actors"]["status"], "healthy", "{report}");
}

#[test]
fn a_component_whose_messages_fail_turns_unhealthy() {
    let service = Service::quiet(&[]);
    for _ in 0..4 {
        service.send("parser", r#"{"payload": "not pairs"}"#);
    }
    service.wait_handled("parser", 4);
    let (code, report) = wait_until("/health to say unhealthy", Duration::from_secs(10), || {
        let (code, report) = service.health();
        (code == 503).then_some((code, report))
    });
    assert_eq!(code, 503);
    let parser = &report["checks"]["component.parser"];
    assert_eq!(parser["status"], "unhealthy", "{report}");
    assert_eq!(
        parser["detail"], "4 of 4 messages failed in the last 60 s",
        "{report}"
    );
    assert_eq!(
        report["checks"]["component.source"]["status"], "healthy",
        "{report}"
    );
    assert_eq!(status_metric(&service, "parser", "unhealthy"), Some(1.0));
    assert_eq!(status_metric(&service, "parser", "healthy"), Some(0.0));
    // It failed the messages, not itself: it still runs.
    let listed = service.component("parser");
    assert_eq!(listed["health"], "unhealthy", "{listed}");
    assert_eq!(listed["state"], "running", "{listed}");
}

#[test]
fn a_component_its_supervisor_gave_up_on_is_unhealthy_and_takes_no_messages() {
    // Two restarts allowed: the third crash is one too many.
    let service = Service::quiet(&["--max-restarts", "2", "--restart-window", "5m"]);
    for _ in 0..3 {
        service.send("sink", r#"{"payload": "a=1", "crash_at": "sink"}"#);
    }
    wait_until("the sink to be stopped", Duration::from_secs(20), || {
        (service.component("sink")["state"] == "stopped").then_some(())
    });
    let (code, report) = service.health();
    assert_eq!(code, 503, "{report}");
    let sink = &report["checks"]["component.sink"];
    assert_eq!(sink["status"], "unhealthy", "{report}");
    assert_eq!(
        sink["detail"], "stopped after crash: a fault injected by the caller",
        "{report}"
    );
    assert_eq!(status_metric(&service, "sink", "unhealthy"), Some(1.0));
    assert_eq!(
        service.metric(
            "component_state",
            &[("component", "sink"), ("state", "stopped")]
        ),
        Some(1.0)
    );
    assert_eq!(
        service.metric("component_restarts_total", &[("component", "sink")]),
        Some(2.0)
    );
    let (status, answer) = service.post("sink", r#"{"payload": "a=1"}"#);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        answer["error"],
        "sink is stopped: its supervisor gave up on it"
    );
}
