//! Traces and joined logs leaving the process over OTLP, to a loopback receiver built on
//! `opentelemetry-proto`: `bitcraps-node` exports its typed spans with nothing but
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, and a `log` crate record inside a typed span becomes a
//! JSON line and an OTLP log record, both carrying the span's ids, through the same filter.

mod common;
mod otlp_support;

use common::{is_child, run_in_child, start_node, LIVENESS};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_support::{Arrival, Body, Collector};

fn spans(arrivals: &[Arrival]) -> Vec<(Option<String>, Span)> {
    let mut out = Vec::new();
    for a in arrivals {
        if let Body::Traces(req) = &a.body {
            for rs in &req.resource_spans {
                let node = rs.resource.as_ref().and_then(|r| {
                    r.attributes.iter().find(|kv| kv.key == "bitcraps.node.id").and_then(|kv| match &kv.value {
                        Some(v) => match &v.value {
                            Some(Value::StringValue(s)) => Some(s.clone()),
                            _ => None,
                        },
                        None => None,
                    })
                });
                for ss in &rs.scope_spans {
                    out.extend(ss.spans.iter().map(|s| (node.clone(), s.clone())));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_exports_typed_spans_with_only_the_otlp_endpoint_set() {
    let collector = Collector::default();
    let endpoint = otlp_support::grpc(collector.clone(), None).await;
    let node = tokio::task::spawn_blocking(move || {
        start_node(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("BITCRAPS_NODE_ID", "node-t")], &[])
    })
    .await
    .expect("start the node");
    // A round that ran inside a game, with that game's span exported too.
    let nested = |arrivals: &[Arrival]| {
        let all = spans(arrivals);
        all.iter().any(|(_, round)| {
            round.name == "bitcraps.consensus.round"
                && all.iter().any(|(_, game)| game.name == "bitcraps.game" && game.span_id == round.parent_span_id)
        })
    };
    let arrived = collector.wait_until(LIVENESS, nested).await;
    assert!(
        arrived,
        "no consensus round inside a game arrived; got {:?}",
        spans(&collector.arrivals()).iter().map(|(_, s)| s.name.clone()).collect::<std::collections::BTreeSet<_>>()
    );
    let all = spans(&collector.arrivals());
    assert!(all.iter().all(|(node, _)| node.as_deref() == Some("node-t")), "every span names its node");
    drop(node);
}

const LOG_TEST: &str = "a_log_crate_record_inside_a_typed_span_is_a_json_line_and_an_otlp_log_record";

#[test]
fn a_log_crate_record_inside_a_typed_span_is_a_json_line_and_an_otlp_log_record() {
    if is_child(LOG_TEST) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let collector = Collector::default();
        let endpoint = rt.block_on(otlp_support::grpc(collector.clone(), None));
        let config = bitcraps_otel::Config::builder()
            .without_prometheus()
            .without_health()
            .otlp_endpoint(endpoint)
            .log_filter("info")
            .build()
            .expect("config");
        let telemetry = bitcraps_otel::init_with(config).expect("init");
        let game = telemetry.traces().game("game_log", bitcraps_otel::semconv::GameType::Cash);
        game.in_scope(|| {
            log::info!(target: "third_party", "hello from the log crate");
            log::debug!(target: "third_party", "filtered out at info");
        });
        let ids = game.span_context();
        println!("GAME_IDS {} {}", ids.trace_id(), ids.span_id());
        telemetry.logging().expect("logging").flush().expect("flush");
        let want_trace = ids.trace_id().to_bytes().to_vec();
        let found = rt.block_on(collector.wait_until(LIVENESS, |arrivals| {
            arrivals.iter().any(|a| match &a.body {
                Body::Logs(req) => {
                    req.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).any(|r| {
                        let body = r.body.as_ref().and_then(|b| b.value.as_ref());
                        matches!(body, Some(Value::StringValue(s)) if s == "hello from the log crate")
                            && r.trace_id == want_trace
                    })
                }
                _ => false,
            })
        }));
        assert!(found, "the log record with the game's trace id reached the collector");
        let filtered = collector.arrivals().iter().any(|a| format!("{:?}", a.body).contains("filtered out at info"));
        assert!(!filtered, "the filter applies to `log` records exported over OTLP");
        return;
    }
    let out = run_in_child(LOG_TEST, &[]);
    let ids = out.lines().find_map(|l| l.strip_prefix("GAME_IDS ")).expect("the child printed the ids");
    let (trace, span) = ids.split_once(' ').expect("two ids");
    let line = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "hello from the log crate")
        .unwrap_or_else(|| panic!("no JSON line for the log record in:\n{out}"));
    assert_eq!(line["target"], "third_party", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!((line["trace_id"].as_str(), line["span_id"].as_str()), (Some(trace), Some(span)), "{line}");
    assert!(line.get("fields").is_none_or(|f| f.get("log.target").is_none()), "no tracing-log internals: {line}");
    assert!(!out.contains("filtered out at info"), "the filter applies to `log` records");
}
