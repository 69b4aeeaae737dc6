//! The Resource every signal carries: who is speaking.

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use opentelemetry_semantic_conventions::resource as semconv;

use alys_telemetry_config::TelemetryConfig;

pub(crate) const DEFAULT_SERVICE_NAME: &str = "alys-node";
pub(crate) const DEFAULT_ENVIRONMENT: &str = "development";

/// Builds the resource. Precedence per attribute: an explicit setting (OTEL_SERVICE_NAME,
/// ALYS_TELEMETRY_ENVIRONMENT) over OTEL_RESOURCE_ATTRIBUTES over the built-in default.
pub fn build(config: &TelemetryConfig) -> Resource {
    let from_attributes = |key: &str| {
        config
            .resource_attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let service_name = config
        .service_name
        .clone()
        .or_else(|| from_attributes(semconv::SERVICE_NAME))
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.into());
    let environment = config
        .environment
        .clone()
        .or_else(|| from_attributes(semconv::DEPLOYMENT_ENVIRONMENT_NAME))
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.into());
    let instance_id = from_attributes(semconv::SERVICE_INSTANCE_ID)
        .unwrap_or_else(|| uuid_v4(RandomIdGenerator::default().new_trace_id()));

    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(
            config
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_service_name(service_name)
        .with_attribute(KeyValue::new(
            semconv::SERVICE_VERSION,
            env!("CARGO_PKG_VERSION"),
        ))
        .with_attribute(KeyValue::new(semconv::SERVICE_INSTANCE_ID, instance_id))
        .with_attribute(KeyValue::new(
            semconv::DEPLOYMENT_ENVIRONMENT_NAME,
            environment,
        ));
    if from_attributes(semconv::HOST_NAME).is_none()
        && let Ok(host) = sysinfo::System::host_name()
    {
        builder = builder.with_attribute(KeyValue::new(semconv::HOST_NAME, host));
    }
    builder.build()
}

/// Formats 128 random bits as a version-4 UUID, the form service.instance.id suggests.
fn uuid_v4(random: TraceId) -> String {
    let mut b = random.to_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alys_telemetry_config::{Layer, Origin, settings};
    use opentelemetry::Key;

    fn get(r: &Resource, key: &'static str) -> Option<String> {
        r.get(&Key::from_static_str(key)).map(|v| v.to_string())
    }

    #[test]
    fn explicit_settings_win_over_resource_attributes() {
        let layer = Layer::new(Origin::Env)
            .set(
                settings::RESOURCE_ATTRIBUTES,
                "service.name=from-attrs,deployment.environment.name=staging,team=chain",
            )
            .set(settings::SERVICE_NAME, "from-setting");
        let config = TelemetryConfig::from_layers(&[layer]).unwrap();
        let r = build(&config);
        assert_eq!(get(&r, "service.name").as_deref(), Some("from-setting"));
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert_eq!(get(&r, "team").as_deref(), Some("chain"));
        assert_eq!(
            get(&r, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(get(&r, "service.instance.id").map(|s| s.len()), Some(36));
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let r = build(&TelemetryConfig::default());
        assert_eq!(
            get(&r, "service.name").as_deref(),
            Some(DEFAULT_SERVICE_NAME)
        );
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some(DEFAULT_ENVIRONMENT)
        );
    }

    #[test]
    fn uuid_has_version_and_variant_bits() {
        let id = uuid_v4(TraceId::from_bytes([0xff; 16]));
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }
}
