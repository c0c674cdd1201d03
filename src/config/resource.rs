//! The OpenTelemetry [`Resource`] every signal carries, built from a [`Config`] with the
//! precedence the specification gives.
//!
//! From lowest to highest: this crate's defaults (`service.name = bitcraps-node`, the crate
//! version, the host name as node id), then `OTEL_RESOURCE_ATTRIBUTES` (or
//! [`super::ConfigBuilder::resource_attributes`]), then the settings that name one attribute
//! (`OTEL_SERVICE_NAME`, `BITCRAPS_NODE_ID`, `BITCRAPS_REGION`, constant labels and their
//! builder methods). The SDK's `telemetry.sdk.*` attributes are always present and always the
//! SDK's own.

use super::Config;
use opentelemetry::KeyValue;
use opentelemetry_sdk::resource::{ResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::Resource;
use std::collections::BTreeMap;

/// `service.name` when nothing sets it.
pub const DEFAULT_SERVICE_NAME: &str = "bitcraps-node";

/// The resource of `config`'s signals.
///
/// ```
/// use bitcraps_otel::config::resource;
/// use bitcraps_otel::ConfigBuilder;
/// use opentelemetry::Key;
///
/// // OTEL_RESOURCE_ATTRIBUTES alone may name the service; the default does not overwrite it.
/// let vars = [("OTEL_RESOURCE_ATTRIBUTES", "service.name=dice-table,deployment.environment=prod")];
/// let config = ConfigBuilder::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
///     .node_id("n1")
///     .build()?;
/// let r = resource(&config);
/// assert_eq!(r.get(&Key::new("service.name")).map(|v| v.to_string()).as_deref(), Some("dice-table"));
/// assert_eq!(r.get(&Key::new("bitcraps.node.id")).map(|v| v.to_string()).as_deref(), Some("n1"));
/// assert!(r.get(&Key::new("telemetry.sdk.version")).is_some());
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
pub fn resource(config: &Config) -> Resource {
    let mut attrs: BTreeMap<String, opentelemetry::Value> = BTreeMap::new();
    for (k, v) in &config.resource_attributes {
        attrs.insert(k.clone(), v.clone().into());
    }
    // `service.name` and `service.version` are already resolved with their precedence.
    attrs.insert("service.name".into(), config.service_name.clone().into());
    attrs.insert("service.version".into(), config.service_version.clone().into());
    for (k, v) in &config.constant_labels {
        match k.as_str() {
            "node_id" => {
                attrs.insert(crate::semconv::attribute::NODE_ID.id.into(), v.clone().into());
                // An instance id given in OTEL_RESOURCE_ATTRIBUTES beats the host-name default,
                // not an explicit node id.
                if config.node_id_explicit || !attrs.contains_key("service.instance.id") {
                    attrs.insert("service.instance.id".into(), v.clone().into());
                }
            }
            _ => {
                attrs.insert(k.clone(), v.clone().into());
            }
        }
    }
    for kv in TelemetryResourceDetector.detect().iter() {
        attrs.insert(kv.0.to_string(), kv.1.clone());
    }
    Resource::builder_empty().with_attributes(attrs.into_iter().map(|(k, v)| KeyValue::new(k, v))).build()
}
