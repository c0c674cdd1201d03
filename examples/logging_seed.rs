//! The monitoring reference's logging snippets, with `bitcraps::monitoring::` written as
//! `bitcraps_otel::`: structured logging alone, a correlation context, and the three macros.
//!
//! `cargo run --example logging_seed` prints JSON lines; `BITCRAPS_LOG_FORMAT=pretty` prints
//! human-readable ones, and `OTEL_EXPORTER_OTLP_ENDPOINT` sends spans and logs to a collector.

use bitcraps_otel::logging::{init_production_logging, set_correlation_context, CorrelationContext};
use bitcraps_otel::{log_business_event, log_performance, log_security_event};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Initialize structured logging.
    let logging = init_production_logging()?;

    // Set correlation context for request tracking.
    let context = CorrelationContext::new().with_user_id("user_123".to_string()).with_game_id("game_456".to_string());
    set_correlation_context(context);

    // 2. Use the logging macros.
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(3));
    let duration = started.elapsed();
    log_performance!("consensus_decision", duration);
    log_business_event!("game_completed", game_id = "123", winner = "alice");
    log_security_event!("invalid_signature", user_id = "bob", ip = "192.168.1.1");

    // Spans carry the context too, and secrets never leave the process.
    tracing::info_span!("bitcraps.game", bitcraps.game.id = "game_456").in_scope(|| {
        tracing::info!(password = "hunter2", "login checked");
    });

    logging.shutdown()?;
    Ok(())
}
