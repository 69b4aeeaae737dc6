//! The HTTP layer labels a request by its route template, never its path: ten thousand
//! distinct paths, matched and unmatched, make a handful of series.

use std::time::Duration;

use crate::support::Service;

#[test]
fn ten_thousand_paths_make_a_handful_of_series() {
    let service = Service::quiet();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let base = service.api("");
    let statuses: Vec<u16> = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        // Eight clients, each sending its share in turn.
        for worker in 0..8u32 {
            let (client, base) = (client.clone(), base.clone());
            tasks.spawn(async move {
                let mut statuses = Vec::new();
                for i in (worker..10_000).step_by(8) {
                    let path = match i % 2 {
                        0 => format!("/entities/e-{i}"),
                        _ => format!("/nope/{i}"),
                    };
                    let response = client.get(format!("{base}{path}")).send().await;
                    let status = response.map_or(0, |r| r.status().as_u16());
                    statuses.push(status);
                }
                statuses
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.expect("a client task"));
        }
        all
    });
    assert_eq!(statuses.len(), 10_000);
    assert!(
        statuses.iter().all(|s| *s == 404),
        "every path is unknown: {:?}",
        &statuses[..10]
    );

    service.wait_for_sum("http_server_request_duration_seconds_count", &[], 10_000.0);
    let x = service.exposition();
    let series: Vec<_> = x
        .matching("http_server_request_duration_seconds_count", &[])
        .collect();
    assert!(
        series.len() <= 3,
        "{} series for 10,000 paths: {series:#?}",
        series.len()
    );
    let matched = [
        ("http_route", "/entities/{id}"),
        ("http_response_status_code", "404"),
    ];
    assert_eq!(
        x.sum("http_server_request_duration_seconds_count", &matched),
        Some(5_000.0)
    );
    assert!(
        series.iter().all(|s| s
            .labels
            .get("http_route")
            .is_none_or(|r| r == "/entities/{id}")),
        "a raw path became a route: {series:#?}"
    );
    assert!(
        !x.samples
            .iter()
            .any(|s| s.labels.values().any(|v| v.contains("/nope/")))
    );
}
