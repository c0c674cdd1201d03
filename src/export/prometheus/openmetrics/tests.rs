//! Unit tests of the OpenMetrics encoder against the classic text of the same scrape.

use crate::export::prometheus::PrometheusBridge;
use crate::metrics::{Metrics, MetricsOptions};
use crate::semconv::{BetType, GameType};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use std::collections::BTreeSet;
use std::time::Duration;

fn node() -> (SdkMeterProvider, PrometheusBridge, Metrics) {
    let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "n\"1\\".to_string())]).expect("bridge");
    let provider = SdkMeterProvider::builder()
        .with_resource(Resource::builder_empty().with_service_name("om-test").build())
        .with_reader(reader)
        .build();
    let metrics = Metrics::new(&provider, MetricsOptions { system_metrics: false, ..Default::default() });
    bridge.attach(&metrics);
    metrics.gaming().bet_placed_on(BetType::Field, 40);
    metrics.gaming().game_started(GameType::Cash);
    metrics.gaming().game_completed(GameType::Cash, Duration::from_secs(42));
    (provider, bridge, metrics)
}

/// Sample lines without comments and without exemplars.
fn samples(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(" # ").next().unwrap_or(l).to_string()).collect()
}

#[test]
fn openmetrics_has_exactly_the_samples_of_the_classic_text() {
    let (_p, bridge, m) = node();
    m.consensus().record_latency(Duration::from_millis(70));
    let classic = samples(&bridge.render());
    let om = samples(&bridge.render_openmetrics());
    assert!(classic.len() > 20, "{classic:?}");
    assert_eq!(classic, om);
}

#[test]
fn openmetrics_metadata_follows_the_specification() {
    let (_p, bridge, _m) = node();
    let text = bridge.render_openmetrics();
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    // Counters: a family without the suffix, samples with it.
    assert!(text.contains("# TYPE bitcraps_bets counter\n"), "{text}");
    assert!(text.contains("# HELP bitcraps_bets Bets placed.\n"), "{text}");
    assert!(text.contains("bitcraps_bets_total{bet_type=\"field\",node_id=\"n\\\"1\\\\\"} 1\n"), "{text}");
    // Units where the name carries them; none for annotations like {game}.
    assert!(text.contains("# UNIT bitcraps_game_duration_seconds seconds\n"), "{text}");
    assert!(!text.contains("# UNIT bitcraps_games "), "{text}");
    // The resource is an info family.
    assert!(text.contains("# TYPE target info\n"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("target_info{") && l.ends_with(" 1")), "{text}");
    // A histogram with no series yet is described, with no sample.
    assert!(text.contains("# TYPE bitcraps_consensus_latency_seconds histogram\n"), "{text}");
    assert!(!text.contains("bitcraps_consensus_latency_seconds_count"), "{text}");
}

#[test]
fn bucket_lines_carry_the_exemplar_of_their_bucket() {
    let (_p, bridge, m) = node();
    let sc = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
        SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _g = Context::new().with_remote_span_context(sc).attach();
        m.consensus().record_latency(Duration::from_millis(70));
    }
    m.consensus().record_latency(Duration::from_millis(3));
    let text = bridge.render_openmetrics();
    let with: Vec<&str> = text.lines().filter(|l| l.contains(" # {")).collect();
    assert_eq!(with.len(), 1, "one bucket has an exemplar:\n{text}");
    let line = with[0];
    assert!(line.starts_with("bitcraps_consensus_latency_seconds_bucket{node_id=\"n\\\"1\\\\\",le=\"0.1\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.07 "), "{line}");
    let ts: f64 = line.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("timestamp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    assert!((now - ts).abs() < 600.0, "exemplar time {ts} is now-ish ({now})");
    assert!(!bridge.render().contains(" # {"), "the classic text has no exemplars");
}
