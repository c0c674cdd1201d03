//! The engine's health as `/ready` and `bitcraps_alerting_engine_healthy` report it, on
//! tokio's paused clock: not healthy before its first cycle, healthy after it, and a panic
//! during a cycle (here a user's observable-gauge callback, which runs inside the
//! collection) is caught, counted and reported while the loop goes on.

use bitcraps_otel::alerting::*;
use bitcraps_otel::health::HealthCheck;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::advance;

/// The value of one of the engine's own metrics (a counter total or a gauge).
fn value(reader: &AlertReader, name: &str) -> Option<i64> {
    let rm = reader.collect().expect("collect");
    let mut found = None;
    for scope in rm.scope_metrics() {
        for m in scope.metrics().filter(|m| m.name() == name) {
            found = match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(s)) => s.data_points().map(|p| p.value() as i64).max(),
                AggregatedMetrics::I64(MetricData::Gauge(g)) => g.data_points().map(|p| p.value()).max(),
                _ => found,
            };
        }
    }
    found
}

/// Lets the background loop run its due ticks.
async fn ticks(n: u32) {
    for _ in 0..n {
        advance(Duration::from_secs(1)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn healthy_only_after_a_cycle_and_a_panicking_cycle_is_reported_while_the_loop_goes_on() {
    // The application's provider, with a callback that panics on demand.
    let reader = AlertReader::new();
    let app = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let explode = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&explode);
    let _gauge = app
        .meter("app")
        .f64_observable_gauge("bitcraps.cpu.usage")
        .with_callback(move |o| {
            if flag.load(Ordering::SeqCst) {
                panic!("a user callback bug");
            }
            o.observe(10.0, &[]);
        })
        .build();
    // The engine's own metrics on a provider of their own, readable whatever happens above.
    let own_reader = AlertReader::new();
    let own = SdkMeterProvider::builder().with_reader(own_reader.clone()).build();
    let mut alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    alerting
        .add_rule(AlertRule {
            name: "HotCpu".into(),
            metric_name: "bitcraps.cpu.usage".into(),
            condition: AlertCondition::GreaterThan(80.0),
            evaluation_interval: Duration::from_secs(1),
            ..Default::default()
        })
        .expect("rule");
    alerting.attach(reader);
    alerting.instrument(&own);
    let check = alerting.health_check();
    assert_eq!(check.check().await.reason.as_deref(), Some("the evaluation loop is not running"));
    assert_eq!(value(&own_reader, "bitcraps.alerting.engine.healthy"), Some(0));

    alerting.start().await.expect("start");
    let before = check.check().await;
    assert!(!before.healthy, "not healthy before the first cycle");
    assert_eq!(before.reason.as_deref(), Some("no evaluation cycle has completed yet"));
    ticks(2).await;
    assert!(check.check().await.healthy, "{:?}", check.check().await);
    assert_eq!(value(&own_reader, "bitcraps.alerting.engine.healthy"), Some(1));
    assert_eq!(value(&own_reader, "bitcraps.alerting.panics"), Some(0));
    let evaluated = value(&own_reader, "bitcraps.alerting.evaluations").unwrap_or(0);

    explode.store(true, Ordering::SeqCst);
    ticks(1).await;
    let after = check.check().await;
    assert!(!after.healthy);
    let reason = after.reason.unwrap_or_default();
    assert!(reason.contains("alert evaluation panicked: a user callback bug"), "{reason}");
    assert_eq!(value(&own_reader, "bitcraps.alerting.engine.healthy"), Some(0));
    assert_eq!(value(&own_reader, "bitcraps.alerting.panics"), Some(1));
    // The loop is alive: it keeps trying (the SDK's pipeline stays broken after a panic in
    // a callback, so every later collection fails, and says so).
    ticks(3).await;
    let later = check.check().await;
    assert!(!later.healthy);
    assert!(later.reason.unwrap_or_default().contains("last evaluation failed"));
    assert_eq!(value(&own_reader, "bitcraps.alerting.evaluations").unwrap_or(0), evaluated);
    alerting.stop();
    assert_eq!(check.check().await.reason.as_deref(), Some("the evaluation loop is not running"));
}
