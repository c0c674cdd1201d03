//! The `bitcraps-node` binary as a test fixture: started on OS-chosen loopback ports, which it
//! announces and the fixture reads back; its output kept, waited on, and shown when a test fails.

use super::{KillOnDrop, Output, LIVENESS};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// The running node, the address its bridge listens on, its health endpoints' address, and
/// everything it has printed so far.
pub struct Node {
    pub child: KillOnDrop,
    pub addr: SocketAddr,
    pub health: Option<SocketAddr>,
    pub output: Output,
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- bitcraps-node output ---\n{}", self.output.tail(200));
        }
    }
}

/// Whether `extra_env` turns the health endpoints off (so the node will not announce them).
fn health_disabled(extra_env: &[(&str, &str)]) -> bool {
    extra_env.iter().any(|(k, v)| {
        (*k == "BITCRAPS_HEALTH_ADDR" && v.parse::<SocketAddr>().is_err())
            || (*k == "OTEL_SDK_DISABLED" && v.eq_ignore_ascii_case("true"))
    })
}

/// The `http://addr/path` a line announces, if any: (address, path).
fn announced(line: &str) -> Option<(SocketAddr, String)> {
    let rest = line.split("http://").nth(1)?;
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = addr.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
    Some((addr, path.to_string()))
}

/// Starts `bitcraps-node` on loopback ports chosen by the OS and waits until it has said
/// where it serves metrics and (unless `extra_env` turns them off) health.
pub fn start_node(extra_env: &[(&str, &str)], args: &[&str]) -> Node {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"));
    cmd.args(["--prometheus-addr", "127.0.0.1:0", "--seed", "42"])
        // A test may ask for its own rate (clap refuses a flag given twice).
        .args(if args.contains(&"--rate") { &[][..] } else { &["--rate", "400"][..] })
        .args(args)
        .env("BITCRAPS_COLLECTION_INTERVAL", "1s")
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        // Tests do not share alert state through the home directory; the ones about it set
        // BITCRAPS_STATE_DIR to a directory of their own.
        .env("BITCRAPS_STATE_DIR", "off")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn bitcraps-node");
    let output = Output::new(2);
    output.drain(child.stdout.take().expect("stdout"));
    output.drain(child.stderr.take().expect("stderr"));
    let child = KillOnDrop(child);
    let want_health = !health_disabled(extra_env);
    // The node announces each address once it is bound: waiting for those lines, not for a
    // time, is what makes the start deterministic. The limit only catches a node that hangs.
    let find = |lines: &[String], health: bool| {
        lines
            .iter()
            .filter_map(|l| announced(l))
            .find(|(_, path)| path.starts_with("metrics") != health)
            .map(|(a, _)| a)
    };
    let announced_all = output
        .wait_until(LIVENESS, |lines| find(lines, false).is_some() && (!want_health || find(lines, true).is_some()));
    let lines = output.lines();
    let (addr, health) = (find(&lines, false), if want_health { find(&lines, true) } else { None });
    match (announced_all, addr) {
        (true, Some(addr)) => Node { child, addr, health, output },
        _ => panic!("bitcraps-node did not announce its addresses; it printed:\n{}", output.tail(200)),
    }
}
