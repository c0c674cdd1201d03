//! The OpenMetrics 1.0 text format, with exemplars on histogram buckets.
//!
//! `opentelemetry-prometheus` and the `prometheus` crate only write the classic format, and
//! their data model has no exemplars, so this encoder writes OpenMetrics from the same gathered
//! families. The samples are exactly those of the classic format (same names, labels and
//! values), so a Prometheus scraping either format stores the same series; only the metadata
//! differs: counters are families without the `_total` suffix, `# UNIT` is given where the
//! name carries the unit, `target_info` is an `info` family, and the page ends with `# EOF`.

use super::gather::{Exposition, Family};
use crate::metrics::data::Exemplar;
use crate::semconv::MetricDef;
use prometheus::proto::{LabelPair, Metric, MetricType};
use std::io::Write;
use std::time::UNIX_EPOCH;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes `exposition` as OpenMetrics text, `# EOF` included.
pub(crate) fn encode(exposition: &Exposition, out: &mut Vec<u8>) {
    let mut labels = Vec::with_capacity(256);
    // Untyped families are left out, as in the classic format (the SDK bridge makes none).
    for family in exposition.families.iter().filter(|f| f.mf.get_field_type() != MetricType::UNTYPED) {
        encode_family(family, out, &mut labels);
    }
    out.extend_from_slice(b"# EOF\n");
}

/// The OpenMetrics type, family name and sample name of a gathered family.
fn shape(family: &Family) -> (&'static str, &str, &str) {
    let name = family.mf.name();
    match family.mf.get_field_type() {
        MetricType::COUNTER => match name.strip_suffix("_total") {
            Some(base) => ("counter", base, name),
            // A counter without the suffix would need a renamed sample; keeping the classic
            // sample name matters more, so it is exposed as untyped.
            None => ("unknown", name, name),
        },
        MetricType::GAUGE if name == "target_info" => ("info", "target", name),
        MetricType::GAUGE => ("gauge", name, name),
        MetricType::HISTOGRAM => ("histogram", name, name),
        MetricType::SUMMARY => ("summary", name, name),
        MetricType::UNTYPED => ("unknown", name, name),
    }
}

/// The unit word Prometheus names carry for a registry unit.
fn unit_word(def: &MetricDef) -> Option<&'static str> {
    match def.unit {
        "s" => Some("seconds"),
        "By" => Some("bytes"),
        "%" => Some("percent"),
        "Cel" => Some("celsius"),
        "1" => Some("ratio"),
        _ => None,
    }
}

fn encode_family(family: &Family, out: &mut Vec<u8>, labels: &mut Vec<u8>) {
    let (kind, base, sample) = shape(family);
    let mf = &family.mf;
    write_str(out, &["# TYPE ", base, " ", kind, "\n"]);
    if let Some(unit) = family.def.and_then(unit_word) {
        if kind != "info" && base.strip_suffix(unit).is_some_and(|rest| rest.ends_with('_')) {
            write_str(out, &["# UNIT ", base, " ", unit, "\n"]);
        }
    }
    if !mf.help().is_empty() {
        write_str(out, &["# HELP ", base, " "]);
        escape_into(out, mf.help());
        out.push(b'\n');
    }
    for (i, m) in mf.get_metric().iter().enumerate() {
        labels.clear();
        label_text(m.get_label(), labels);
        match mf.get_field_type() {
            MetricType::COUNTER => write_sample(out, sample, "", labels, None, Value::F(m.get_counter().get_value())),
            MetricType::GAUGE => write_sample(out, sample, "", labels, None, Value::F(m.get_gauge().get_value())),
            MetricType::UNTYPED => {}
            MetricType::HISTOGRAM => {
                let exemplars = family.exemplars.get(i).map(Vec::as_slice).unwrap_or_default();
                histogram(out, sample, labels, m, exemplars);
            }
            MetricType::SUMMARY => {
                let s = m.get_summary();
                let mut quantile = Vec::with_capacity(24);
                for q in s.get_quantile() {
                    quantile.clear();
                    write_f64(&mut quantile, q.quantile());
                    let quantile = std::str::from_utf8(&quantile).unwrap_or("NaN");
                    write_sample(out, sample, "", labels, Some(("quantile", quantile)), Value::F(q.value()));
                }
                write_sample(out, sample, "_sum", labels, None, Value::F(s.sample_sum()));
                write_sample(out, sample, "_count", labels, None, Value::U(s.sample_count()));
            }
        }
    }
}

fn histogram(out: &mut Vec<u8>, name: &str, labels: &[u8], m: &Metric, exemplars: &[Exemplar]) {
    let h = m.get_histogram();
    let mut le = Vec::with_capacity(24);
    let mut inf_seen = false;
    for (i, b) in h.get_bucket().iter().enumerate() {
        let bound = b.upper_bound();
        inf_seen |= bound == f64::INFINITY;
        le.clear();
        write_f64(&mut le, bound);
        let le = std::str::from_utf8(&le).unwrap_or("+Inf");
        let exemplar = exemplars.iter().find(|e| e.bucket == i);
        write_sample(out, name, "_bucket", labels, Some(("le", le)), Value::U(b.cumulative_count()));
        if let Some(e) = exemplar {
            attach_exemplar(out, e);
        }
    }
    if !inf_seen {
        let last = h.get_bucket().len();
        write_sample(out, name, "_bucket", labels, Some(("le", "+Inf")), Value::U(h.get_sample_count()));
        if let Some(e) = exemplars.iter().find(|e| e.bucket == last) {
            attach_exemplar(out, e);
        }
    }
    write_sample(out, name, "_count", labels, None, Value::U(h.get_sample_count()));
    write_sample(out, name, "_sum", labels, None, Value::F(h.get_sample_sum()));
}

enum Value {
    F(f64),
    U(u64),
}

/// Writes `name{labels,extra} value\n`; `labels` is pre-rendered (`a="x",b="y"`).
fn write_sample(out: &mut Vec<u8>, name: &str, suffix: &str, labels: &[u8], extra: Option<(&str, &str)>, value: Value) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() || extra.is_some() {
        out.push(b'{');
        out.extend_from_slice(labels);
        if let Some((k, v)) = extra {
            if !labels.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_into(out, v);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
    match value {
        Value::F(v) => write_f64(out, v),
        Value::U(v) => {
            let _ = write!(out, "{v}");
        }
    }
    out.push(b'\n');
}

/// Turns the trailing newline of the sample just written into ` # {ids} value timestamp\n`.
fn attach_exemplar(out: &mut Vec<u8>, e: &Exemplar) {
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    out.extend_from_slice(b" # {");
    if e.trace_id != [0; 16] {
        out.extend_from_slice(b"trace_id=\"");
        hex_into(out, &e.trace_id);
        out.extend_from_slice(b"\",span_id=\"");
        hex_into(out, &e.span_id);
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
    write_f64(out, e.value);
    let since = e.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let _ = writeln!(out, " {}.{:03}", since.as_secs(), since.subsec_millis());
}

fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

fn label_text(pairs: &[LabelPair], out: &mut Vec<u8>) {
    for (i, lp) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(lp.name().as_bytes());
        out.extend_from_slice(b"=\"");
        escape_into(out, lp.value());
        out.push(b'"');
    }
}

/// OpenMetrics escaping, shared by label values and HELP text: `\`, newline and `"`.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' => out.extend_from_slice(b"\\\""),
            b => out.push(b),
        }
    }
}

/// Numbers as OpenMetrics spells them: `+Inf`, `-Inf`, `NaN`, else the shortest decimal that
/// reads back to the same float.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn write_str(out: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
}

#[cfg(test)]
mod tests;
