//! Where metric data goes: the Prometheus pull bridge and the OTLP push exporter. Both are
//! readers on the one meter provider the guard owns.

mod error;
pub mod otlp;
mod otlp_cause;
mod otlp_histograms;
pub mod otlp_metrics;
pub mod otlp_reporting;
mod otlp_tls;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod status;

pub use error::ExportError;
