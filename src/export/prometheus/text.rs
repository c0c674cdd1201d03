//! The classic Prometheus text format (0.0.4), written by the `prometheus` crate's own
//! encoder, family by family, so one odd family can never blank the whole page.

use super::gather::Exposition;
use prometheus::proto::MetricType;
use prometheus::{Encoder, TextEncoder};

/// The content type of the classic text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Encodes `exposition` as the classic text format.
pub(crate) fn encode(exposition: &Exposition, out: &mut Vec<u8>) {
    let encoder = TextEncoder::new();
    for family in &exposition.families {
        let mf = &family.mf;
        match mf.get_field_type() {
            // The encoder has no untyped support (it panics); the SDK bridge never makes one.
            MetricType::UNTYPED => continue,
            // A histogram nothing has recorded into yet: its metadata only, so the metric is
            // known without a sample that claims zero observations.
            _ if mf.get_metric().is_empty() => metadata(mf, out),
            _ => {
                if let Err(e) = encoder.encode(std::slice::from_ref(mf), out) {
                    tracing::warn!(family = mf.name(), error = %e, "prometheus text encoding failed");
                }
            }
        }
    }
}

fn metadata(mf: &prometheus::proto::MetricFamily, out: &mut Vec<u8>) {
    if !mf.help().is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(mf.name().as_bytes());
        out.push(b' ');
        for c in mf.help().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        out.push(b'\n');
    }
    let kind = match mf.get_field_type() {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::HISTOGRAM => "histogram",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "untyped",
    };
    out.extend_from_slice(format!("# TYPE {} {kind}\n", mf.name()).as_bytes());
}
