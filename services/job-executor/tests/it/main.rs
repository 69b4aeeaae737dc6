//! The job executor's tests, one binary: the executor in process behind its real HTTP API
//! (metrics into a registry, spans into memory), and the service's binary as a user runs it.

mod binary;
mod checkpoints;
mod executor;
#[cfg(feature = "stack-tests")]
mod stack;
mod traces;

use std::time::Duration;

use alys_telemetry::exits::pull;
use alys_telemetry::sources::tasks::TaskMonitor;
use job_executor::actions::Simulation;
use job_executor::metrics::TaskKind;
use job_executor::{Executor, ExecutorConfig, api};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::sync::watch;
use tracing_subscriber::layer::SubscriberExt;

/// Metrics into a registry read as `/metrics` serves it, spans into memory, for one test on
/// one thread (the subscriber is the thread's).
struct Harness {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: alys_test_support::metrics::Registry,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Harness {
    fn new() -> Harness {
        opentelemetry::global::set_text_map_propagator(alys_telemetry::pipeline::propagator());
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("test")));
        Harness {
            spans,
            tracer_provider,
            metrics: alys_test_support::metrics::Registry::new(),
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    fn executor(&self, config: ExecutorConfig) -> Executor {
        let meter = self.metrics.meter();
        Executor::new(config, &meter, TaskMonitor::<TaskKind>::new(&meter))
    }

    /// The sum of `name`'s samples with `labels`; 0 when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics.value(name, labels).unwrap_or(0.0)
    }

    fn finished(&self) -> Vec<SpanData> {
        let _ = self.tracer_provider.force_flush();
        self.spans.get_finished_spans().unwrap()
    }
}

/// Fast, deterministic settings: instant actions that fail or hang only when an event says.
fn quick_config() -> ExecutorConfig {
    ExecutorConfig {
        workers: 2,
        queue_capacity: 16,
        admission_wait: Duration::from_millis(50),
        max_retries: 2,
        backoff: alys_telemetry::sources::backoff::Backoff::new(
            Duration::from_millis(5),
            Duration::from_millis(20),
        ),
        action_timeout: Duration::from_millis(100),
        simulation: Simulation {
            latency_scale: 0.0,
            random_faults: false,
        },
        ..ExecutorConfig::default()
    }
}

/// The API served on an ephemeral loopback port until the returned sender says stop.
async fn serve(harness: &Harness, executor: &Executor) -> (String, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, mut stopped) = watch::channel(false);
    let router = api::router(executor.clone(), &harness.metrics.meter());
    tokio::spawn(pull::serve(listener, router, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    (base, stop)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// POSTs `event` (JSON) with `headers`: the status and the body as JSON.
async fn post_event(
    base: &str,
    event: serde_json::Value,
    headers: http::HeaderMap,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(format!("{base}/events"))
        .headers(headers)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

/// Waits until the event `id` has ended; its final state.
async fn ended(executor: &Executor, id: &str) -> String {
    alys_test_support::wait_until_async(
        &format!("event {id} to end"),
        Duration::from_secs(10),
        || executor.event(id).is_some_and(|e| e.state != "in_flight"),
    )
    .await;
    executor.event(id).unwrap().state
}

fn runtime() -> tokio::runtime::Runtime {
    // One thread: the test's thread-local subscriber sees every task.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
