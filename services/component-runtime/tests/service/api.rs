//! The HTTP API: messages go into the pipeline where they are sent and travel to the sink;
//! the list shows every component; bad input gets a 4xx whose JSON body says what is wrong,
//! counted by its status.

use std::time::Duration;

use alys_test_support::{http_get, http_post, http_request, wait_until};

use crate::support::{Service, json};

#[test]
fn a_message_travels_from_the_source_to_the_sink() {
    let service = Service::quiet(&[]);
    let (status, answer) = service.post("source", r#"{"payload": "sensor=s2 temperature=7.5"}"#);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["component"], "source");
    assert!(answer["message_id"].as_u64().is_some(), "{answer}");
    service.wait_handled("sink", 1);

    let (status, text, _) = http_get(&service.api("/components")).expect("GET /components");
    assert_eq!(status, 200);
    let list = json(&text);
    let components = list["components"].as_array().expect("a list");
    let ids: Vec<&str> = components.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["source", "parser", "enricher", "sink"]);
    for c in components {
        assert_eq!(c["processed"], 1, "{c}");
        assert_eq!(c["errors"], 0, "{c}");
        assert_eq!(c["state"], "running", "{c}");
        assert_eq!(c["health"], "healthy", "{c}");
        assert_eq!(c["queue_depth"], 0, "{c}");
    }
    assert_eq!(components[0]["next"], "parser");
    assert!(components[3]["next"].is_null());
}

#[test]
fn a_message_sent_past_the_source_starts_there() {
    let service = Service::quiet(&[]);
    service.send(
        "enricher",
        r#"{"payload": "sensor=s5 temperature=1.0", "fields": {"sensor": "s5"}}"#,
    );
    service.wait_handled("sink", 1);
    assert_eq!(service.component("source")["processed"], 0);
    assert_eq!(service.component("parser")["processed"], 0);
    assert_eq!(service.component("enricher")["processed"], 1);
}

#[test]
fn bad_input_gets_a_4xx_that_says_what_is_wrong_and_is_counted() {
    let service = Service::quiet(&[]);
    let messages = service.api("/components/source/messages");
    // (what is sent, the status, a word the error must contain)
    let cases: Vec<(&str, (u16, String), &str)> = vec![
        (
            "an unknown component",
            post(
                &service.api("/components/mixer/messages"),
                r#"{"payload": "a=1"}"#,
            ),
            "mixer",
        ),
        ("broken JSON", post(&messages, r#"{"payload": "#), "JSON"),
        (
            "no JSON content type",
            http_post(&messages, "text/plain", r#"{"payload": "a=1"}"#).expect("POST"),
            "Content-Type",
        ),
        (
            "a component to crash that does not exist",
            post(&messages, r#"{"payload": "a=1", "crash_at": "mixer"}"#),
            "unknown variant",
        ),
        (
            "a field the API does not know",
            post(&messages, r#"{"payload": "a=1", "colour": "red"}"#),
            "colour",
        ),
        (
            "an empty payload",
            post(&messages, r#"{"payload": " "}"#),
            "payload is empty",
        ),
        (
            "a path the API does not have",
            http_request("GET", &service.api("/pipelines")).expect("GET"),
            "no route",
        ),
        (
            "a method the path does not take",
            http_request("DELETE", &service.api("/components")).expect("DELETE"),
            "DELETE",
        ),
    ];
    let mut statuses = Vec::new();
    for (what, (status, body), word) in &cases {
        assert!((400..500).contains(status), "{what}: {status} {body}");
        let error = json(body)["error"].as_str().map(str::to_string);
        let error = error.unwrap_or_else(|| panic!("{what}: no error text in {body}"));
        assert!(
            error.contains(word),
            "{what}: {error:?} does not say {word:?}"
        );
        statuses.push(status.to_string());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        ["400", "404", "404", "405", "415", "422", "422", "422"]
    );

    // Each refusal is counted by its status; none of them reached a component.
    let counted = |status: &str, route: Option<&str>| {
        let mut labels = vec![("http_response_status_code", status)];
        labels.extend(route.map(|r| ("http_route", r)));
        service.metric("http_server_request_duration_seconds_count", &labels)
    };
    wait_until("the refusals on /metrics", Duration::from_secs(10), || {
        let route = Some("/components/{id}/messages");
        (counted("422", route) == Some(3.0)
            && counted("400", route) == Some(1.0)
            && counted("415", route) == Some(1.0)
            && counted("404", route) == Some(1.0)
            && counted("405", Some("/components")) == Some(1.0)
            && counted("404", None) == Some(2.0))
        .then_some(())
    });
    assert_eq!(service.component("source")["processed"], 0);
}

fn post(url: &str, body: &str) -> (u16, String) {
    http_post(url, "application/json", body).unwrap_or_else(|e| panic!("POST {url}: {e}"))
}
