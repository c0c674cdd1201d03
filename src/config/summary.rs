//! How the configuration appears in log lines: the one INFO line at start with the effective
//! settings. Secrets never appear: header values, userinfo and query strings are left out.

use super::otlp::{OtlpSignal, Signal};
use super::Config;

/// One signal's export settings, e.g. `otlp grpc http://c:4317 timeout=10s gzip headers=[x-key]`.
fn describe(signal: Option<&OtlpSignal>) -> String {
    let Some(s) = signal else { return "off".into() };
    let mut out = format!(
        "otlp {} {} timeout={}",
        s.protocol.as_str(),
        s.endpoint_for_display(),
        humantime::format_duration(s.timeout)
    );
    if let Some(c) = s.compression {
        out.push(' ');
        out.push_str(c.as_str());
    }
    if !s.headers.is_empty() {
        let names: Vec<&str> = s.headers.iter().map(|(n, _)| n.as_str()).collect();
        out.push_str(&format!(" headers=[{}]", names.join(",")));
    }
    if s.tls.certificate.is_some() {
        out.push_str(" ca=custom");
    }
    if s.tls.client_certificate.is_some() {
        out.push_str(" mtls=on");
    }
    out
}

impl Config {
    /// The effective settings as name/value pairs, for the start-up line and for humans.
    /// Header values, credentials and query strings are never included.
    ///
    /// ```
    /// use bitcraps_otel::Config;
    /// let config = Config::builder()
    ///     .otlp_endpoint("https://bob:hunter2@collector:4318?token=abc")
    ///     .otlp_header("x-api-key", "s3cret")
    ///     .build()?;
    /// let text = format!("{:?}", config.effective_settings());
    /// assert!(text.contains("https://collector:4318?…") && text.contains("headers=[x-api-key,authorization]"));
    /// for secret in ["bob", "hunter2", "abc", "s3cret"] {
    ///     assert!(!text.contains(secret), "{secret} in {text}");
    /// }
    /// # Ok::<(), bitcraps_otel::ConfigError>(())
    /// ```
    pub fn effective_settings(&self) -> Vec<(&'static str, String)> {
        let addr = |a: Option<std::net::SocketAddr>| a.map_or("off".to_string(), |a| a.to_string());
        let otlp = self.otlp.as_ref();
        let signal = |s: Signal| describe(otlp.and_then(|o| o.signal(s)));
        let mut out = vec![
            ("service_name", self.service_name.clone()),
            ("node_id", self.constant_labels.get("node_id").cloned().unwrap_or_default()),
            ("prometheus", addr(self.prometheus_addr)),
            ("health", addr(self.health.addr)),
            ("traces", signal(Signal::Traces)),
            ("metrics", signal(Signal::Metrics)),
            ("logs", signal(Signal::Logs)),
        ];
        if let Some(o) = otlp.filter(|o| o.metrics.is_some()) {
            out.push((
                "metric_export",
                format!(
                    "every {} timeout={} temporality={}",
                    humantime::format_duration(o.metric_export_interval),
                    humantime::format_duration(o.metric_export_timeout),
                    o.temporality.as_str()
                ),
            ));
        }
        out.push(("collection_interval", humantime::format_duration(self.collection_interval).to_string()));
        out.push(("log_filter", self.log_filter.clone()));
        out.push(("sdk_disabled", self.sdk_disabled.to_string()));
        out
    }

    /// Writes [`Self::effective_settings`] as one INFO line.
    pub(crate) fn log_effective(&self) {
        let s: std::collections::HashMap<_, _> = self.effective_settings().into_iter().collect();
        let get = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
        tracing::info!(
            service_name = get("service_name"),
            node_id = get("node_id"),
            prometheus = get("prometheus"),
            health = get("health"),
            traces = get("traces"),
            metrics = get("metrics"),
            logs = get("logs"),
            metric_export = get("metric_export"),
            collection_interval = get("collection_interval"),
            log_filter = get("log_filter"),
            sdk_disabled = get("sdk_disabled"),
            "effective configuration"
        );
    }
}
