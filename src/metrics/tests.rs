//! Unit tests of the typed instruments, read back through the Prometheus bridge.

use super::probe::{DeviceProbe, DeviceReading};
use super::*;
use crate::export::prometheus::PrometheusBridge;
use crate::semconv::{
    AttributeEnum, BetType, CacheName, ConsensusRejectionReason, ErrorCategory, ErrorSeverity, GameType, PeerTransport,
};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::atomic::{AtomicUsize, Ordering};

fn setup(options: MetricsOptions) -> (SdkMeterProvider, PrometheusBridge, Metrics) {
    let (bridge, reader) = PrometheusBridge::new(Vec::new()).expect("bridge");
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let metrics = Metrics::new(&provider, options);
    bridge.attach(&metrics);
    (provider, bridge, metrics)
}

fn no_system() -> MetricsOptions {
    MetricsOptions { system_metrics: false, ..Default::default() }
}

/// The value of the one sample line that starts with `series` exactly.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn errors_land_in_their_category_and_severity() {
    let (_p, bridge, m) = setup(no_system());
    m.errors().record(ErrorCategory::Consensus, ErrorSeverity::Critical);
    m.errors().record(ErrorCategory::Consensus, ErrorSeverity::Critical);
    m.errors().record(ErrorCategory::Network, ErrorSeverity::Low);
    let text = bridge.render();
    assert_eq!(value(&text, r#"bitcraps_errors_total{category="consensus",severity="critical"}"#), Some(2.0));
    assert_eq!(value(&text, r#"bitcraps_errors_total{category="network",severity="low"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_errors_total{category="network",severity="critical"}"#), Some(0.0));
    let series = text.lines().filter(|l| l.starts_with("bitcraps_errors_total{")).count();
    assert_eq!(series, ErrorCategory::ALL.len() * ErrorSeverity::ALL.len());
}

#[test]
fn unknown_values_fold_into_other() {
    let (_p, bridge, m) = setup(no_system());
    m.mobile().cache_hit(CacheName::from_value("a-cache-nobody-registered"));
    m.consensus().proposal_rejected();
    m.consensus().proposal_rejected_for(ConsensusRejectionReason::Timeout);
    let text = bridge.render();
    assert_eq!(value(&text, r#"bitcraps_cache_hits_total{cache="other"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_consensus_proposals_rejected_total{reason="other"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_consensus_proposals_rejected_total{reason="timeout"}"#), Some(1.0));
}

#[test]
fn game_lifecycle_moves_active_played_and_duration() {
    let (_p, bridge, m) = setup(no_system());
    m.gaming().game_started(GameType::Tournament);
    m.gaming().game_started(GameType::Tournament);
    m.gaming().game_completed(GameType::Tournament, Duration::from_secs(90));
    m.gaming().game_started(GameType::Cash);
    m.gaming().game_abandoned(GameType::Cash);
    m.gaming().bet_placed_on(BetType::Field, 40);
    m.gaming().bet_placed(5);
    m.gaming().payout(BetType::Field, 80);
    let text = bridge.render();
    assert_eq!(value(&text, r#"bitcraps_games_active{game_type="tournament"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_games_active{game_type="cash"}"#), Some(0.0));
    assert_eq!(value(&text, r#"bitcraps_games_total{game_type="tournament"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_game_duration_seconds_sum{game_type="tournament"}"#), Some(90.0));
    assert_eq!(value(&text, r#"bitcraps_game_duration_seconds_bucket{game_type="tournament",le="60"}"#), Some(0.0));
    assert_eq!(value(&text, r#"bitcraps_game_duration_seconds_bucket{game_type="tournament",le="120"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_betting_volume_total{bet_type="field"}"#), Some(40.0));
    assert_eq!(value(&text, r#"bitcraps_bets_total{bet_type="other"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_payouts_total{bet_type="field"}"#), Some(80.0));
}

#[test]
fn network_counts_and_latency_buckets() {
    let (_p, bridge, m) = setup(no_system());
    m.network().connection_opened(PeerTransport::Ble);
    m.network().connection_opened(PeerTransport::Ble);
    m.network().connection_closed(PeerTransport::Ble);
    m.network().messages_sent(PeerTransport::Tcp, 3);
    m.network().message_received(PeerTransport::Udp);
    m.network().record_latency(Duration::from_millis(3));
    let text = bridge.render();
    assert_eq!(value(&text, r#"bitcraps_network_active_connections{transport="ble"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_network_messages_sent_total{transport="tcp"}"#), Some(3.0));
    assert_eq!(value(&text, r#"bitcraps_network_messages_received_total{transport="udp"}"#), Some(1.0));
    assert_eq!(value(&text, r#"bitcraps_network_latency_seconds_bucket{le="0.0025"}"#), Some(0.0));
    assert_eq!(value(&text, r#"bitcraps_network_latency_seconds_bucket{le="0.005"}"#), Some(1.0));
}

#[test]
fn battery_values_are_sanitized() {
    let (_p, bridge, m) = setup(no_system());
    assert_eq!(value(&bridge.render(), "bitcraps_battery_level_percent"), None, "no reading, no series");
    m.mobile().set_battery(140.0, true);
    assert_eq!(value(&bridge.render(), "bitcraps_battery_level_percent"), Some(100.0));
    m.mobile().set_battery(f64::NAN, false);
    let text = bridge.render();
    assert_eq!(value(&text, "bitcraps_battery_level_percent"), Some(100.0), "NaN keeps the last good value");
    assert_eq!(value(&text, "bitcraps_battery_charging"), Some(0.0));
    m.mobile().set_temperature(f64::INFINITY);
    assert_eq!(value(&bridge.render(), "bitcraps_device_temperature_celsius"), None);
    m.mobile().set_temperature(39.5);
    m.mobile().set_throttling(true);
    let text = bridge.render();
    assert_eq!(value(&text, "bitcraps_device_temperature_celsius"), Some(39.5));
    assert_eq!(value(&text, "bitcraps_thermal_throttling"), Some(1.0));
}

#[derive(Debug, Default)]
struct CountingProbe(AtomicUsize);

impl DeviceProbe for CountingProbe {
    fn read(&self) -> DeviceReading {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        DeviceReading { battery_percent: Some(50.0 + n as f64), charging: Some(false), ..Default::default() }
    }
}

#[test]
fn the_probe_is_polled_at_most_once_per_interval() {
    let probe = Arc::new(CountingProbe::default());
    let options = MetricsOptions {
        device_probe: Some(probe.clone()),
        collection_interval: Duration::from_secs(3600),
        ..no_system()
    };
    let (_p, bridge, _m) = setup(options);
    for _ in 0..20 {
        assert_eq!(value(&bridge.render(), "bitcraps_battery_level_percent"), Some(50.0));
    }
    assert_eq!(probe.0.load(Ordering::SeqCst), 1, "20 scrapes, one probe read");
}

#[test]
fn system_gauges_report_this_process() {
    let (_p, bridge, m) = setup(MetricsOptions::default());
    let text = bridge.render();
    let memory = value(&text, "bitcraps_memory_usage_bytes").expect("memory");
    assert!(memory > 1_000_000.0, "{memory}");
    assert!(value(&text, "bitcraps_thread_count").expect("threads") >= 1.0);
    // This test process started moments ago: never negative, and far from a day.
    let uptime = value(&text, "bitcraps_uptime_seconds").expect("uptime");
    assert!((0.0..86_400.0).contains(&uptime), "{uptime}");
    assert!(value(&text, "bitcraps_cpu_usage_percent").expect("cpu") >= 0.0);
    let sample = m.system().sample().expect("system metrics are on by default");
    assert!(sample.memory_bytes > 1_000_000 && sample.threads >= 1, "{sample:?}");
    assert!((0.0..86_400.0).contains(&sample.uptime_seconds), "{sample:?}");
}

#[test]
fn counters_are_shared_across_threads() {
    let (_p, bridge, m) = setup(no_system());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    m.consensus().proposal_accepted();
                }
            });
        }
    });
    assert_eq!(value(&bridge.render(), "bitcraps_consensus_proposals_accepted_total"), Some(40_000.0));
}

#[test]
fn a_histogram_that_never_recorded_is_described_but_has_no_sample() {
    let (_p, bridge, m) = setup(no_system());
    m.gaming().game_completed(GameType::Cash, Duration::from_secs(30));
    let text = bridge.render();
    assert!(text.contains("# TYPE bitcraps_consensus_latency_seconds histogram\n"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("bitcraps_consensus_latency_seconds")), "{text}");
    assert_eq!(value(&text, r#"bitcraps_game_duration_seconds_count{game_type="cash"}"#), Some(1.0));
    assert!(
        !text.contains(r#"bitcraps_game_duration_seconds_count{game_type="tournament"}"#),
        "a game type that never completed has no series"
    );
    assert!(!text.lines().any(|l| l.contains("_count") && l.ends_with(" 0")), "no count-0 point:\n{text}");
}

#[test]
fn two_threads_recording_one_histogram_series_lose_nothing() {
    let (_p, bridge, m) = setup(no_system());
    let per_thread = 50_000u32;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let m = &m;
            // Thread 0 records 30 ms (bucket le=0.05), thread 1 records 2 s (le=2.5).
            s.spawn(move || {
                for _ in 0..per_thread {
                    m.consensus().record_latency(Duration::from_millis(30 + t * 1970));
                }
            });
        }
    });
    let text = bridge.render();
    let n = f64::from(per_thread);
    assert_eq!(value(&text, "bitcraps_consensus_latency_seconds_count"), Some(2.0 * n));
    assert_eq!(value(&text, r#"bitcraps_consensus_latency_seconds_bucket{le="0.025"}"#), Some(0.0));
    assert_eq!(value(&text, r#"bitcraps_consensus_latency_seconds_bucket{le="0.05"}"#), Some(n));
    assert_eq!(value(&text, r#"bitcraps_consensus_latency_seconds_bucket{le="1"}"#), Some(n));
    assert_eq!(value(&text, r#"bitcraps_consensus_latency_seconds_bucket{le="2.5"}"#), Some(2.0 * n));
    let sum = value(&text, "bitcraps_consensus_latency_seconds_sum").expect("sum");
    assert!((sum - n * 2.03).abs() < 1e-6 * n, "{sum}");
}
