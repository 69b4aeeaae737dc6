//! The spans every variant sends: finished `SpanData` as the SDK hands them to an exporter,
//! and the resource and attributes they carry.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// A cheap, well-spread id from an index (splitmix64), so that ids differ as real ones do.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

pub fn resource() -> Resource {
    Resource::builder()
        .with_service_name("span-export-bench")
        .build()
}

/// The four attributes the library's message spans carry.
pub fn attributes() -> Vec<KeyValue> {
    vec![
        KeyValue::new("actor", "engine"),
        KeyValue::new("from_actor", "network"),
        KeyValue::new("to_actor", "engine"),
        KeyValue::new("message_type", "ExecuteBlock"),
    ]
}

/// `count` finished spans as the SDK hands them to an exporter: eight to a trace, each with
/// a parent, sampled, 37 µs long.
pub fn span_batch(count: usize) -> Vec<SpanData> {
    let scope = InstrumentationScope::builder("alys-telemetry")
        .with_version("0.1.0")
        .build();
    let base = SystemTime::now();
    (0..count as u64)
        .map(|i| {
            let trace = TraceId::from(((mix(i / 8) as u128) << 64) | mix(!(i / 8)) as u128);
            let start = base + Duration::from_micros(i * 40);
            SpanData {
                span_context: SpanContext::new(
                    trace,
                    SpanId::from(mix(i) | 1),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                ),
                parent_span_id: SpanId::from(mix(i ^ 0x5555) | 1),
                parent_span_is_remote: false,
                span_kind: SpanKind::Internal,
                name: "engine.execute_block".into(),
                start_time: start,
                end_time: start + Duration::from_micros(37),
                attributes: attributes(),
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: scope.clone(),
            }
        })
        .collect()
}
