//! The click from a latency spike to its trace, end to end: `bitcraps-node` exports its spans
//! over OTLP to a loopback receiver while a real Prometheus (with exemplar storage) scrapes its
//! `/metrics`; the trace and span ids of the consensus latency exemplars Prometheus stores
//! are those of consensus round spans the node exported.

mod common;
mod otlp_support;

use common::{start_node, start_prometheus, tool_missing, wait_for, LIVENESS};
use otlp_support::{Arrival, Body, Collector};
use std::collections::BTreeSet;

/// (trace id, span id), in hex, of the exported spans named `name`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn exported_span_ids(arrivals: &[Arrival], name: &str) -> BTreeSet<(String, String)> {
    let mut ids = BTreeSet::new();
    for a in arrivals {
        if let Body::Traces(req) = &a.body {
            for span in req.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans) {
                if span.name == name {
                    ids.insert((hex(&span.trace_id), hex(&span.span_id)));
                }
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_exemplars_of_the_consensus_latency_are_consensus_round_spans_the_node_exported() {
    if tool_missing("prometheus") {
        return;
    }
    let collector = Collector::default();
    let endpoint = otlp_support::grpc(collector.clone(), None).await;
    let (node, prometheus) = tokio::task::spawn_blocking(move || {
        let node =
            start_node(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("BITCRAPS_NODE_ID", "ex-node")], &[]);
        let prometheus = start_prometheus(node.addr);
        (node, prometheus)
    })
    .await
    .expect("start the node and Prometheus");

    // Exemplars Prometheus stored for the consensus latency, by trace id.
    let stored = tokio::task::spawn_blocking(move || {
        let ids = wait_for(|| prometheus.exemplar_ids("bitcraps_consensus_latency_seconds_bucket"));
        (ids, prometheus)
    })
    .await
    .expect("query Prometheus");
    let (stored, _prometheus) = stored;
    let stored = stored.expect("Prometheus stored consensus latency exemplars");

    // The batch processor exports on its own schedule: wait until a stored exemplar's trace
    // and span have arrived as a consensus round span.
    let wanted = stored.clone();
    let found = collector
        .wait_until(LIVENESS, move |arrivals| {
            !exported_span_ids(arrivals, "bitcraps.consensus.round").is_disjoint(&wanted)
        })
        .await;
    let rounds = exported_span_ids(&collector.arrivals(), "bitcraps.consensus.round");
    assert!(
        found,
        "no stored exemplar's trace and span ids are a consensus round span the node exported; stored {stored:?}, {} round traces exported",
        rounds.len()
    );
    for (trace, span) in &stored {
        assert_eq!((trace.len(), span.len()), (32, 16), "exemplar ids {trace}/{span} are not W3C-sized hex");
    }
    drop(node);
}
