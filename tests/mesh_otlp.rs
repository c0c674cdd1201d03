//! Traces across a real mesh: three `bitcraps-node` processes export spans over OTLP to one
//! loopback receiver. One trace holds spans of all three nodes, and every span whose parent
//! lives on another node points at a span that node exported in the same trace.

mod common;
mod otlp_support;

use common::mesh::mesh_addr;
use common::{start_node, Node, LIVENESS};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_support::{Body, Collector};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// Every span received, with the node id of the resource that sent it.
fn spans(collector: &Collector) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for arrival in collector.of("traces") {
        let Body::Traces(request) = arrival.body else { continue };
        for rs in request.resource_spans {
            let node = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "bitcraps.node.id")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                out.extend(ss.spans.into_iter().map(|s| (node.clone(), s)));
            }
        }
    }
    out
}

/// Trace ids whose spans come from all of `nodes`.
fn traces_spanning(spans: &[(String, Span)], nodes: usize) -> Vec<Vec<u8>> {
    let mut by_trace: BTreeMap<Vec<u8>, BTreeSet<&str>> = BTreeMap::new();
    for (node, span) in spans {
        by_trace.entry(span.trace_id.clone()).or_default().insert(node);
    }
    by_trace.into_iter().filter(|(_, n)| n.len() >= nodes).map(|(t, _)| t).collect()
}

fn node(id: &str, peers: &[SocketAddr], endpoint: &str) -> (Node, SocketAddr) {
    let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
    let joined = list.join(",");
    let mut args = vec!["--listen", "127.0.0.1:0", "--no-alerting", "--node-id", id, "--rate", "20"];
    if !peers.is_empty() {
        args.extend(["--peers", joined.as_str()]);
    }
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        // Export often, and never drop a span for a full queue: the check needs every parent.
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1000000"),
        ("BITCRAPS_DRAIN_PERIOD", "0s"),
    ];
    let n = start_node(&env, &args);
    let addr = mesh_addr(&n);
    (n, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_traces_whose_cross_node_spans_have_parents_on_other_nodes() {
    let collector = Collector::default();
    let endpoint = otlp_support::grpc(collector.clone(), None).await;
    let a = node("trace-a", &[], &endpoint);
    let b = node("trace-b", &[a.1], &endpoint);
    let c = node("trace-c", &[a.1, b.1], &endpoint);
    let spanning = collector.wait_until(LIVENESS, |_| !traces_spanning(&spans(&collector), 3).is_empty()).await;
    assert!(spanning, "no trace with spans from all three nodes; got {} spans", spans(&collector).len());
    // Stop every node cleanly (each flushes what it recorded), then check the parents.
    let mut nodes = [a, b, c];
    for (n, _) in &mut nodes {
        let pid = n.child.0.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let status = tokio::task::block_in_place(|| n.child.wait_exit()).expect("the node exits");
        assert!(status.success(), "{status:?}");
    }
    let all = spans(&collector);
    let nodes_seen: BTreeSet<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(nodes_seen, BTreeSet::from(["trace-a", "trace-b", "trace-c"]), "distinct node ids in the resources");
    let owner: BTreeMap<(&[u8], &[u8]), &str> =
        all.iter().map(|(n, s)| ((s.trace_id.as_slice(), s.span_id.as_slice()), n.as_str())).collect();
    let mut cross = 0;
    for (node, span) in &all {
        if span.parent_span_id.is_empty() {
            continue;
        }
        match owner.get(&(span.trace_id.as_slice(), span.parent_span_id.as_slice())) {
            Some(parent_node) if parent_node == node => {}
            Some(_) => cross += 1,
            None => panic!("{node}'s span {:?} has a parent that no node exported in its trace", span.name),
        }
    }
    assert!(cross > 0, "no span has its parent on another node");
    // The shared traces hold the mesh's spans: sends on one node, receives on the others.
    let names: BTreeSet<&str> = all.iter().map(|(_, s)| s.name.as_str()).collect();
    for name in ["bitcraps.peer.send", "bitcraps.peer.receive", "bitcraps.consensus.round"] {
        assert!(names.contains(name), "no {name} span among {names:?}");
    }
}
