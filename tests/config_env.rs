//! The node refuses configuration that would silently misbehave, naming the variable: an
//! unknown level word (while `warning` works), a value that is not UTF-8 (never a fallback to
//! the default address on all interfaces).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

fn node(vars: &[(&str, &OsStr)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"));
    cmd.args(["--duration", "1s"])
        .env("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_STATE_DIR", "off")
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_LOG");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run node")
}

#[test]
fn an_unknown_level_word_stops_the_node_naming_the_variable() {
    let out = node(&[("BITCRAPS_LOG", OsStr::new("inf"))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the node ran with BITCRAPS_LOG=inf");
    assert!(stderr.contains("BITCRAPS_LOG") && stderr.contains("`inf` is not a level"), "{stderr}");
}

#[test]
fn warning_is_read_as_warn() {
    let out = node(&[("BITCRAPS_LOG", OsStr::new("warning"))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // INFO lines (the start-up ones) are filtered out; nothing below WARN gets through.
    assert!(!stdout.contains("\"level\":\"INFO\""), "{stdout}");
}

#[test]
fn a_non_utf8_value_stops_the_node_naming_the_variable() {
    let out = node(&[("BITCRAPS_PROMETHEUS_ADDR", OsStr::from_bytes(b"127.0.0.1:\xff"))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the node fell back to a default address");
    assert!(stderr.contains("BITCRAPS_PROMETHEUS_ADDR") && stderr.contains("UTF-8"), "{stderr}");
}
