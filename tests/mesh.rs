//! The peer mesh between real `bitcraps-node` processes on loopback: a mesh forms and carries
//! real traffic, a peer that dies mid-round ends the round as `peer_lost` while the others
//! keep running, garbage on the mesh port drops only that connection, and bad mesh options
//! are errors that name the option.

mod common;

use bitcraps_otel::mesh::{Envelope, MessageKind};
use common::mesh::{hello, mesh_addr, metric, receive, send, wait_closed};
use common::{http, start_node, try_http, wait_for, Node, LIVENESS};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};

const RECEIVED: &str = "bitcraps_network_messages_received_total";
const SENT: &str = "bitcraps_network_messages_sent_total";
const ACTIVE: &str = "bitcraps_network_active_connections";
const ACCEPTED: &str = "bitcraps_consensus_proposals_accepted_total";
const REJECTED: &str = "bitcraps_consensus_proposals_rejected_total";
const TCP: (&str, &str) = ("transport", "tcp");

/// A node in a mesh: `--listen 127.0.0.1:0`, the given peers, its own node id.
fn mesh_node(id: &str, peers: &[SocketAddr], env: &[(&str, &str)]) -> (Node, SocketAddr) {
    let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
    let mut args = vec!["--listen", "127.0.0.1:0", "--no-alerting", "--node-id", id];
    let joined = list.join(",");
    if !peers.is_empty() {
        args.extend(["--peers", joined.as_str()]);
    }
    let node = start_node(env, &args);
    let addr = mesh_addr(&node);
    (node, addr)
}

/// Three nodes: a alone, b dialling a, c dialling both (a and b learn the others from their
/// hellos and dial back).
fn three_nodes(env: &[(&str, &str)]) -> [(Node, SocketAddr); 3] {
    let a = mesh_node("mesh-a", &[], env);
    let b = mesh_node("mesh-b", &[a.1], env);
    let c = mesh_node("mesh-c", &[a.1, b.1], env);
    [a, b, c]
}

#[test]
fn three_node_processes_form_a_full_mesh_whose_metrics_come_from_real_traffic() {
    let nodes = three_nodes(&[]);
    for (node, _) in &nodes {
        // Two connections dialled, two accepted; messages both ways; rounds agreed by all.
        let formed = wait_for(|| {
            let body = http("GET", node.addr, "/metrics").1;
            let s = |name, labels: &[(&str, &str)]| common::mesh::sample_sum(&body, name, labels);
            (s(ACTIVE, &[TCP]) == 4.0 && s(RECEIVED, &[TCP]) > 0.0 && s(SENT, &[TCP]) > 0.0 && s(ACCEPTED, &[]) > 0.0)
                .then_some(())
        });
        assert!(formed.is_some(), "node never had 4 open tcp connections, traffic and a committed round");
        // The simulator no longer invents peer traffic: every message series is tcp.
        for transport in ["ble", "udp", "wifi_direct"] {
            assert_eq!(metric(node.addr, RECEIVED, &[("transport", transport)]), 0.0, "{transport}");
        }
        let lines = node.output.lines();
        assert!(lines.iter().any(|l| l.contains("connected to peer")), "no outbound connection logged");
    }
    // Vote round trips are measured, and the node ids stay distinct.
    assert!(metric(nodes[0].0.addr, "bitcraps_network_latency_seconds_count", &[]) > 0.0);
    let ids: std::collections::BTreeSet<String> = nodes
        .iter()
        .map(|(n, _)| {
            let body = http("GET", n.addr, "/metrics").1;
            ["mesh-a", "mesh-b", "mesh-c"]
                .into_iter()
                .find(|id| body.contains(&format!("node_id=\"{id}\"")))
                .expect("a node id")
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn a_peer_killed_mid_mesh_ends_rounds_as_peer_lost_while_the_others_keep_exchanging_messages() {
    let [a, b, mut c] = three_nodes(&[]);
    // The full mesh first (every node dialled and dialled by both others), else c could die
    // before a or b ever knew it.
    for (node, _) in [&a, &b, &c] {
        let formed = wait_for(|| {
            (metric(node.addr, ACTIVE, &[TCP]) == 4.0 && metric(node.addr, ACCEPTED, &[]) > 0.0).then_some(())
        });
        assert!(formed.is_some(), "the mesh did not form");
    }
    c.0.child.0.kill().expect("kill mesh-c");
    let _ = c.0.child.0.wait();
    for (node, _) in [&a, &b] {
        // The loss is said in the log (which peer, which outcome) and counted by reason.
        let said = node.output.wait_until(LIVENESS, |lines| {
            lines.iter().any(|l| l.contains("peer mesh-c went away"))
                && lines.iter().any(|l| l.contains("ended without a decision: peer mesh-c") && l.contains("peer_lost"))
        });
        assert!(said, "the loss of mesh-c and a peer_lost round were not logged");
        assert!(metric(node.addr, REJECTED, &[("reason", "peer_lost")]) > 0.0);
        assert!(
            wait_for(|| (metric(node.addr, ACTIVE, &[TCP]) == 2.0).then_some(())).is_some(),
            "connections to mesh-c still counted"
        );
    }
    // The survivors keep running and keep talking to each other.
    for (node, _) in [&a, &b] {
        let before = metric(node.addr, RECEIVED, &[TCP]);
        assert!(wait_for(|| (metric(node.addr, RECEIVED, &[TCP]) > before).then_some(())).is_some(), "traffic stopped");
        assert_eq!(http("GET", node.health.expect("health"), "/health").0, 200);
    }
    let mut a = a;
    assert!(a.0.child.0.try_wait().expect("status").is_none(), "mesh-a exited");
    // Redialling the dead peer backs off instead of spinning: a handful of attempts logged.
    assert!(a.0.output.lines().iter().any(|l| l.contains("peer") && l.contains("retrying with backoff")));
}

#[test]
fn a_proposal_left_unanswered_by_a_peer_that_disconnects_ends_with_outcome_peer_lost() {
    // The round timeout is an hour: only the lost peer can end the round.
    let (node, addr) = mesh_node("mesh-solo", &[], &[("BITCRAPS_MESH_ROUND_TIMEOUT", "1h")]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut dial_in = TcpStream::connect(addr).expect("connect to the mesh port");
    send(&mut dial_in, &hello("scripted", listener.local_addr().expect("addr")));
    // The node learns us from the hello and dials back; its rounds now need our vote.
    let (mut dialled_back, _) = listener.accept().expect("the node dials back");
    dialled_back.set_read_timeout(Some(LIVENESS)).expect("timeout");
    let first = receive(&mut dialled_back).expect("a hello");
    assert_eq!((first.kind, first.sender.as_str()), (MessageKind::Hello, "mesh-solo"));
    let round = loop {
        let m = receive(&mut dialled_back).expect("a proposal before the stream ends");
        if m.kind == MessageKind::Propose {
            break m.id;
        }
    };
    drop(dial_in);
    drop(dialled_back);
    drop(listener);
    let line = format!("consensus round {round} ended without a decision: peer scripted went away before voting");
    assert!(node.output.wait_until(LIVENESS, |lines| lines.iter().any(|l| l.contains(&line))), "no `{line}`");
    assert!(metric(node.addr, REJECTED, &[("reason", "peer_lost")]) >= 1.0);
    assert_eq!(metric(node.addr, REJECTED, &[("reason", "timeout")]), 0.0);
}

#[test]
fn garbage_on_the_mesh_port_drops_that_connection_with_a_warning_and_the_node_serves_on() {
    let (node, addr) = mesh_node("mesh-target", &[], &[]);
    let valid_then_garbage = {
        let mut bytes = hello("x", "127.0.0.1:9".parse().expect("addr")).encode().expect("encode");
        bytes.splice(0..0, (bytes.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 3, 0xde, 0xad, 0xbe]);
        bytes
    };
    let attacks: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0xff; 64],
        vec![0, 0, 0, 0],
        [&[0u8, 0, 0, 5][..], b"\x01\x00\xff\xff\xff"].concat(),
        [&[0u8, 0, 0, 2][..], b"\x01\x06"].concat(),
        valid_then_garbage,
    ];
    for (i, attack) in attacks.iter().enumerate() {
        let mut s = TcpStream::connect(addr).expect("connect");
        use std::io::Write;
        s.write_all(attack).expect("write");
        assert!(wait_closed(&mut s), "attack {i}: the node kept the connection open");
    }
    let warned = node.output.wait_until(LIVENESS, |lines| {
        lines.iter().filter(|l| l.contains("WARN") && l.contains("dropping")).count() >= attacks.len()
    });
    assert!(warned, "not every dropped connection was logged at WARN");
    // Still alive, still serving, still a mesh node.
    assert_eq!(http("GET", node.health.expect("health"), "/health").0, 200);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut peer = TcpStream::connect(addr).expect("connect");
    send(&mut peer, &hello("honest", listener.local_addr().expect("addr")));
    send(&mut peer, &Envelope::new(MessageKind::Bet, "honest", 1).with_payload(b"cash".to_vec()));
    assert!(node.output.wait_until(LIVENESS, |l| l.iter().any(|l| l.contains("peer honest connected"))));
    assert!(wait_for(|| (metric(node.addr, RECEIVED, &[TCP]) >= 2.0).then_some(())).is_some());
}

/// Runs the node with `args` and `env` and returns (exit code, stderr).
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"));
    cmd.args(["--prometheus-addr", "127.0.0.1:0", "--duration", "1ms"])
        .args(args)
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_STATE_DIR", "off")
        .env_remove("BITCRAPS_MESH_PEERS")
        .env_remove("BITCRAPS_MESH_LISTEN")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bitcraps-node");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Options, variables, and the name the error must mention.
type BadCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_mesh_options_and_variables_are_errors_that_name_them() {
    let cases: [BadCase; 7] = [
        (&["--peers", "127.0.0.1"], &[], "--peers"),
        (&["--peers", "127.0.0.1:7001,,"], &[], "--peers"),
        (&["--peers", "127.0.0.1:0"], &[], "--peers"),
        (&[], &[("BITCRAPS_MESH_PEERS", "not-an-address")], "BITCRAPS_MESH_PEERS"),
        (&["--listen", "localhost"], &[], "--listen"),
        (&[], &[("BITCRAPS_MESH_LISTEN", "127.0.0.1:99999")], "BITCRAPS_MESH_LISTEN"),
        (&["--mesh", "1"], &[], "--mesh"),
    ];
    for (args, env, named) in cases {
        let (code, stderr) = run_to_exit(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} {env:?} does not name {named}: {stderr}");
    }
    // A listen address in use is a start-up failure too, not a node without its mesh.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").to_string();
    let (code, stderr) = run_to_exit(&["--listen", &port], &[]);
    assert!(code.is_some_and(|c| c != 0), "{stderr}");
    assert!(stderr.contains("cannot listen for peers"), "{stderr}");
}

#[test]
fn mesh_3_starts_two_children_with_their_own_ids_and_ports_and_stops_them_on_sigterm() {
    let mut parent = start_node(&[], &["--mesh", "3", "--no-alerting"]);
    let announced = |lines: &[String]| -> Vec<SocketAddr> {
        let mut metrics: Vec<SocketAddr> = lines
            .iter()
            .filter(|l| l.contains("serving Prometheus metrics on http://"))
            .filter_map(|l| l.split("http://").nth(1)?.split('/').next()?.parse().ok())
            .collect();
        metrics.dedup();
        metrics
    };
    assert!(parent.output.wait_until(LIVENESS, |l| announced(l).len() == 3), "three nodes did not start");
    let nodes = announced(&parent.output.lines());
    let mut ids = std::collections::BTreeSet::new();
    for addr in &nodes {
        assert!(wait_for(
            || (metric(*addr, RECEIVED, &[TCP]) > 0.0 && metric(*addr, ACCEPTED, &[]) > 0.0).then_some(())
        )
        .is_some());
        let body = http("GET", *addr, "/metrics").1;
        let id = ["node-1", "node-2", "node-3"].into_iter().find(|id| body.contains(&format!("node_id=\"{id}\"")));
        ids.insert(id.expect("a node id").to_string());
    }
    assert_eq!(ids.len(), 3, "node ids are not distinct");
    #[cfg(unix)]
    {
        let pid = parent.child.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let status = parent.child.wait_exit().expect("the parent exits");
        assert!(status.success(), "{status:?}");
        // The children are gone with it: nothing answers on their metrics ports any more.
        for addr in &nodes {
            assert!(try_http("GET", *addr, "/metrics").is_none(), "{addr} still serves after the parent exited");
        }
        assert!(parent.output.lines().iter().filter(|l| l.contains("stopped") && l.contains("mesh node")).count() == 2);
    }
}
