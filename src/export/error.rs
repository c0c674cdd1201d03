//! [`ExportError`]: why an exporter could not be built. It is export's own, so this module
//! depends on nothing above it; the crate's [`crate::Error`] and the logging error convert it.

/// An exporter could not be built from its configuration (a bad header, an unreadable
/// certificate, a client the TLS stack refused).
///
/// ```
/// use bitcraps_otel::export::ExportError;
///
/// let e = ExportError { signal: "metrics", endpoint: "https://collector:4317".into(), reason: "bad header".into() };
/// assert!(e.to_string().contains("metrics OTLP exporter for https://collector:4317"));
/// let top: bitcraps_otel::Error = e.into();
/// assert!(matches!(top, bitcraps_otel::Error::Exporter { signal: "metrics", .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the {signal} OTLP exporter for {endpoint}: {reason}")]
pub struct ExportError {
    /// `metrics`, `traces` or `logs`.
    pub signal: &'static str,
    /// The configured endpoint, credentials removed.
    pub endpoint: String,
    /// The exporter's message.
    pub reason: String,
}
