//! Metrics recorded in-process into a Prometheus registry, read back as the pull endpoint
//! would serve them.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::Exposition;

/// The text exposition of `registry`, as the pull endpoint serves it.
pub fn text_of(registry: &prometheus::Registry) -> String {
    let mut out = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut out,
    )
    .expect("encode");
    String::from_utf8(out).expect("utf-8")
}

/// A meter provider read by the Prometheus exporter into a registry of its own.
pub struct Registry {
    pub registry: prometheus::Registry,
    pub provider: SdkMeterProvider,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        let registry = prometheus::Registry::new();
        let provider = SdkMeterProvider::builder()
            .with_reader(
                opentelemetry_prometheus::exporter()
                    .with_registry(registry.clone())
                    .scope_info_enabled(false)
                    .build()
                    .expect("prometheus exporter"),
            )
            .build();
        Registry { registry, provider }
    }

    pub fn meter(&self) -> opentelemetry::metrics::Meter {
        self.provider.meter("test")
    }

    /// The text exposition.
    pub fn text(&self) -> String {
        text_of(&self.registry)
    }

    /// The exposition, parsed.
    pub fn exposition(&self) -> Exposition {
        crate::exposition::parse_exposition(&self.text())
    }

    /// Sum of the samples of `name` with every one of `labels` (exact label matching).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.exposition().sum(name, labels)
    }
}
