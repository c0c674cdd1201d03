//! What a phone build runs: typed metrics, spans and logs pushed over OTLP, no server. It
//! builds with the default features and with none (`default-features = false`), which is how
//! BENCHMARKS.md measures the two builds' sizes on the same program.
//!
//! `cargo run --example phone --no-default-features` (set `OTEL_EXPORTER_OTLP_ENDPOINT` to
//! push to a collector; without it the measurements stay in the process).

use bitcraps_otel::semconv::{BetType, GameType, PeerTransport};
use bitcraps_otel::{init_with, ConfigBuilder};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The environment's OTLP settings, and no listening socket: a phone serves nothing.
    let config = ConfigBuilder::from_env().without_prometheus().without_health().build()?;
    let telemetry = init_with(config)?;
    let m = telemetry.metrics();
    let span = tracing::info_span!("round", game = "cash").entered();
    m.network().connection_opened(PeerTransport::Ble);
    m.gaming().game_started(GameType::Cash);
    m.gaming().bet_placed_on(BetType::PassLine, 25);
    m.consensus().record_latency(Duration::from_millis(61));
    m.mobile().set_battery(72.5, false);
    tracing::info!(bet = 25, "bet placed");
    drop(span);
    println!("recorded; prometheus server: {:?}", telemetry.prometheus_addr());
    telemetry.shutdown()?;
    Ok(())
}
