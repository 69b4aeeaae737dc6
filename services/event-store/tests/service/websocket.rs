//! The WebSocket stream: a subscriber receives every event stored after it connects, and the
//! connection metrics follow connections opening, closing cleanly and breaking.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Service, event};

#[test]
fn subscribers_receive_every_event_and_are_counted() {
    let service = Service::quiet();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(service.ws_url())
            .await
            .expect("the stream accepts a subscriber");
        service.wait_for_sum("allsource_websocket_connections_active", &[], 1.0);
        for entity in ["a", "b", "c"] {
            assert_eq!(
                service.post("/events", &event("user.created", entity)).0,
                201
            );
        }
        let mut entities = Vec::new();
        while entities.len() < 3 {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("an event within 10 s")
                .expect("the stream stays open")
                .expect("a message, not an error");
            let Message::Text(text) = message else {
                continue;
            };
            let stored: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            entities.push(stored["entity_id"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(entities, ["a", "b", "c"]);
        socket
            .send(Message::Close(None))
            .await
            .expect("a close frame");
        // Drain until the server's answer to the close.
        while let Some(Ok(_)) = socket.next().await {}

        // A subscriber that vanishes without the close handshake.
        let (broken, _) = tokio_tungstenite::connect_async(service.ws_url())
            .await
            .expect("a second subscriber");
        drop(broken.into_inner());
    });

    let reason = [("reason", "receive_failed")];
    service.wait_for_sum("allsource_websocket_errors_total", &reason, 1.0);
    service.wait_for_sum("allsource_websocket_connections_total", &[], 2.0);
    let x = alys_test_support::wait_until("no active subscriber", Duration::from_secs(10), || {
        let x = service.exposition();
        (x.sum("allsource_websocket_connections_active", &[]) == Some(0.0)).then_some(x)
    });
    let sum = |name: &str, labels: &[(&str, &str)]| x.sum(name, labels).unwrap_or(-1.0);
    assert_eq!(sum("allsource_websocket_messages_sent_total", &[]), 3.0);
    assert_eq!(sum("allsource_websocket_connections_total", &[]), 2.0);
    assert_eq!(
        sum(
            "allsource_websocket_errors_total",
            &[("reason", "send_failed")]
        ),
        0.0
    );
    let upgrades = [("http_route", "/ws"), ("http_response_status_code", "101")];
    assert_eq!(
        sum("http_server_request_duration_seconds_count", &upgrades),
        2.0
    );
}
