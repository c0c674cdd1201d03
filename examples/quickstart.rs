//! Instrument a node in a few lines: start the SDK, record through the typed instruments,
//! and read what Prometheus would scrape.
//!
//! `cargo run --example quickstart`

use bitcraps_otel::semconv::{BetType, ErrorCategory, ErrorSeverity, GameType, PeerTransport};
use bitcraps_otel::{init_with, Config};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Loopback port 0: the example never collides with a running node.
    let config = Config::builder()
        .service_name("quickstart")
        .node_id("example-node")
        .prometheus_addr("127.0.0.1:0")
        .without_health()
        .build()?;
    let telemetry = init_with(config)?;
    let m = telemetry.metrics();

    m.network().connection_opened(PeerTransport::Ble);
    m.network().message_sent(PeerTransport::Ble);
    m.network().record_latency(Duration::from_millis(38));
    m.gaming().game_started(GameType::Cash);
    m.gaming().bet_placed_on(BetType::PassLine, 25);
    m.gaming().payout(BetType::PassLine, 50);
    m.gaming().game_completed(GameType::Cash, Duration::from_secs(95));
    m.consensus().proposal_accepted();
    m.consensus().record_latency(Duration::from_millis(61));
    m.errors().record(ErrorCategory::Network, ErrorSeverity::Warning);
    m.mobile().set_battery(72.5, false);

    if let Some(addr) = telemetry.prometheus_addr() {
        println!("# served on http://{addr}/metrics; excerpt:");
    }
    let text = telemetry.render_prometheus().unwrap_or_default();
    for line in text.lines().filter(|l| l.starts_with("bitcraps_") && !l.contains("_bucket") && !l.ends_with(" 0")) {
        println!("{line}");
    }
    telemetry.shutdown()?;
    Ok(())
}
