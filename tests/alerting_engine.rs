//! The alert engine on tokio's paused clock: every condition fires and resolves at the right
//! evaluation, `for` stops flapping, dedup/repeat, a 1,000-series storm, escalation and
//! acknowledgement, silences. Metrics flow through a real SDK provider and the alert reader.

use bitcraps_otel::alerting::*;
use opentelemetry::metrics::{Counter, Gauge, Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::advance;

struct Rig {
    _provider: SdkMeterProvider,
    meter: Meter,
    alerting: AlertingSystem,
    inbox: InMemoryNotifier,
}

fn routing(group_wait: u64, group_interval: u64, repeat: u64) -> RoutingConfig {
    RoutingConfig {
        default_route: Route {
            group_wait: Duration::from_secs(group_wait),
            group_interval: Duration::from_secs(group_interval),
            repeat_interval: Duration::from_secs(repeat),
            ..Route::default()
        },
        ..Default::default()
    }
}

fn rig(rules: Vec<RuleDefinition>, routing: RoutingConfig) -> Rig {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, routing, ..Default::default() });
    for r in rules {
        alerting.add_rule(r).expect("valid rule");
    }
    alerting.attach(reader);
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));
    Rig { _provider: provider, meter, alerting, inbox }
}

fn rule(metric: &str, condition: AlertCondition) -> AlertRule {
    AlertRule {
        name: "R".into(),
        description: "test rule".into(),
        metric_name: metric.into(),
        condition,
        severity: AlertSeverity::High,
        category: "test".into(),
        evaluation_interval: Duration::from_secs(1),
        tags: vec![],
    }
}

fn cpu(meter: &Meter) -> Gauge<f64> {
    meter.f64_gauge("bitcraps.cpu.usage").build()
}

/// Advances the paused clock one second at a time, evaluating after each step; returns
/// `(second, fired, resolved)` for the steps where something changed.
async fn run(r: &Rig, secs: u64, mut each: impl FnMut(u64)) -> Vec<(u64, usize, usize)> {
    let mut changes = Vec::new();
    for s in 0..secs {
        each(s);
        let c = r.alerting.evaluate_now().await.expect("cycle");
        if c.fired + c.resolved > 0 {
            changes.push((s, c.fired, c.resolved));
        }
        advance(Duration::from_secs(1)).await;
    }
    changes
}

fn firing(r: &Rig) -> usize {
    r.alerting.alerts().iter().filter(|a| a.state == AlertState::Firing).count()
}

#[tokio::test(start_paused = true)]
async fn threshold_conditions_fire_and_resolve_on_the_evaluation_that_crosses() {
    let cases = [
        (AlertCondition::GreaterThan(80.0), 90.0, 50.0),
        (AlertCondition::LessThan(10.0), 5.0, 50.0),
        (AlertCondition::Equal(42.0), 42.0, 41.0),
        (AlertCondition::NotEqual(50.0), 51.0, 50.0),
        (AlertCondition::OutsideRange { low: 20.0, high: 80.0 }, 95.0, 50.0),
    ];
    for (cond, bad, good) in cases {
        let r = rig(vec![rule("bitcraps_cpu_usage_percent", cond.clone()).into()], routing(0, 0, 3600));
        let g = cpu(&r.meter);
        let changes = run(&r, 30, |s| g.record(if (10..20).contains(&s) { bad } else { good }, &[])).await;
        assert_eq!(changes, vec![(10, 1, 0), (20, 0, 1)], "{cond:?}");
        let sent = r.inbox.take();
        assert_eq!(sent.len(), 2, "{cond:?}: one firing, one resolved notification: {sent:#?}");
        assert_eq!((sent[0].firing.len(), sent[1].resolved.len()), (1, 1));
    }
}

#[tokio::test(start_paused = true)]
async fn rate_condition_uses_the_window_and_resolves_when_the_counter_stops() {
    let r = rig(
        vec![rule(
            "bitcraps.consensus.forks",
            AlertCondition::Rate { window: Duration::from_secs(10), threshold: Threshold::GreaterThan(1.5) },
        )
        .into()],
        routing(0, 0, 3600),
    );
    let c: Counter<u64> = r.meter.u64_counter("bitcraps.consensus.forks").build();
    // 2/s from second 5 to 14, nothing after: the 10 s window sees the rate rise and fall.
    let changes = run(&r, 40, |s| if (5..15).contains(&s) { c.add(2, &[]) } else { c.add(0, &[]) }).await;
    // The counter is v(s) = 2(s-4) for 5 <= s <= 14; the rate at s is (v(s) - v(s-10)) / 10.
    // s = 11: 14/10; s = 12: 16/10 > 1.5, fires. s = 16: (20-4)/10 = 1.6; s = 17: 1.4, resolves.
    assert_eq!(changes, vec![(12, 1, 0), (17, 0, 1)]);
}

#[tokio::test(start_paused = true)]
async fn ratio_condition_divides_increases_and_ignores_an_empty_denominator() {
    let mut def: RuleDefinition = rule(
        "bitcraps_errors_total",
        AlertCondition::Ratio {
            denominator: "bitcraps.games".into(),
            window: Some(Duration::from_secs(5)),
            threshold: Threshold::GreaterThan(0.05),
        },
    )
    .into();
    def.options.matchers = vec![LabelMatcher::eq("category", "gaming")];
    let r = rig(vec![def], routing(0, 0, 3600));
    let errors = r.meter.u64_counter("bitcraps.errors").build();
    let games = r.meter.u64_counter("bitcraps.games").build();
    let gaming = [KeyValue::new("error.category", "gaming"), KeyValue::new("error.severity", "high")];
    let network = [KeyValue::new("error.category", "network"), KeyValue::new("error.severity", "high")];
    let changes = run(&r, 40, |s| {
        games.add(10, &[]);
        // Network errors never count; gaming errors at 1 per 10 games (10 %) during 10..20.
        errors.add(5, &network);
        errors.add(if (10..20).contains(&s) { 1 } else { 0 }, &gaming);
    })
    .await;
    // Over 5 s: 50 games; 3 gaming errors (6 %) first at s = 12 (errors at 10, 11, 12), and
    // down to 2 (4 %) at s = 22 (errors at 18, 19 only).
    assert_eq!(changes, vec![(12, 1, 0), (22, 0, 1)]);
}

#[tokio::test(start_paused = true)]
async fn derived_metric_from_the_reference_resolves_and_fires() {
    let r = rig(vec![rule("gaming_error_rate", AlertCondition::GreaterThan(0.05)).into()], routing(0, 0, 3600));
    let errors = r.meter.u64_counter("bitcraps.errors").build();
    let games = r.meter.u64_counter("bitcraps.games").build();
    let gaming = [KeyValue::new("error.category", "gaming"), KeyValue::new("error.severity", "low")];
    let changes = run(&r, 20, |s| {
        games.add(10, &[]);
        errors.add(if s >= 5 { 2 } else { 0 }, &gaming);
    })
    .await;
    assert_eq!(changes.first(), Some(&(6, 1, 0)), "{changes:?}");
    assert_eq!(firing(&r), 1);
}

#[tokio::test(start_paused = true)]
async fn absent_fires_after_the_duration_and_resolves_when_data_appears() {
    let r = rig(
        vec![
            rule("bitcraps_battery_level_percent", AlertCondition::Absent { duration: Duration::from_secs(10) }).into()
        ],
        routing(0, 0, 3600),
    );
    let battery = r.meter.f64_gauge("bitcraps.battery.level").build();
    let changes = run(&r, 30, |s| {
        if s >= 20 {
            battery.record(80.0, &[]);
        }
    })
    .await;
    assert_eq!(changes, vec![(10, 1, 0), (20, 0, 1)]);
}

#[tokio::test(start_paused = true)]
async fn anomaly_fires_on_a_jump_after_warmup_and_not_during_it() {
    let r = rig(
        vec![rule("bitcraps.cpu.usage", AlertCondition::Anomaly { deviations: 4.0, alpha: 0.3, warmup: 10 }).into()],
        routing(0, 0, 3600),
    );
    let g = cpu(&r.meter);
    let changes = run(&r, 40, |s| {
        let wobble = if s % 2 == 0 { 1.0 } else { -1.0 };
        // A spike during warm-up (s = 3) is not judged; the one at s = 25 is.
        let v = match s {
            3 => 90.0,
            25 => 95.0,
            _ => 40.0 + wobble,
        };
        g.record(v, &[]);
    })
    .await;
    assert_eq!(changes, vec![(25, 1, 0), (26, 0, 1)]);
}

#[tokio::test(start_paused = true)]
async fn for_duration_keeps_a_flapping_condition_pending() {
    let mut def: RuleDefinition = rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into();
    def.options.for_duration = Duration::from_secs(5);
    def.options.resolve_delay = Duration::from_secs(3);
    let r = rig(vec![def], routing(0, 0, 3600));
    let g = cpu(&r.meter);
    // Flaps every 3 s for 30 s (never 5 s in a row), then holds from 30 to 40, then clears.
    let changes = run(&r, 50, |s| {
        let high = if s < 30 { (s / 3) % 2 == 0 } else { s < 40 };
        g.record(if high { 90.0 } else { 10.0 }, &[]);
    })
    .await;
    // Fires 5 s after 30; resolves 3 s (resolve delay) after 40.
    assert_eq!(changes, vec![(35, 1, 0), (43, 0, 1)]);
    assert_eq!(r.inbox.take().len(), 2, "pending alerts send nothing");
}

#[tokio::test(start_paused = true)]
async fn a_firing_alert_is_notified_once_then_on_repeat_interval() {
    let r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing(0, 0, 60));
    let g = cpu(&r.meter);
    run(&r, 150, |_| g.record(99.0, &[])).await;
    let sent = r.inbox.take();
    // At 0, then at 60 and 120: dedup in between, repeats on the interval.
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert!(sent.iter().all(|n| n.firing.len() == 1 && n.resolved.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn a_storm_of_a_thousand_series_yields_one_notification_per_group() {
    let r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing(30, 300, 3600));
    let g = cpu(&r.meter);
    let changes = run(&r, 60, |s| {
        if s < 10 {
            // Series trickle in over 10 s: 100 a second.
            for i in s * 100..(s + 1) * 100 {
                g.record(99.0, &[KeyValue::new("bitcraps.peer.id", format!("peer-{i}"))]);
            }
        }
    })
    .await;
    assert_eq!(changes.iter().map(|c| c.1).sum::<usize>(), 1000);
    let sent = r.inbox.take();
    assert_eq!(sent.len(), 1, "one group (category, severity), one channel");
    assert_eq!(sent[0].firing.len(), 1000);
    assert_eq!(sent[0].group.get("category").map(String::as_str), Some("test"));
}

fn escalation_rig() -> (Rig, InMemoryNotifier, InMemoryNotifier) {
    let mut routing = routing(0, 0, 3600);
    routing.default_route.escalation = "page".into();
    routing.escalations.insert(
        "page".into(),
        EscalationPolicy::new(vec![
            EscalationTier { after: Duration::ZERO, channels: vec!["inbox".into()] },
            EscalationTier { after: Duration::from_secs(300), channels: vec!["pagerduty".into()] },
            EscalationTier { after: Duration::from_secs(900), channels: vec!["sms".into()] },
        ]),
    );
    let r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing);
    let (pd, sms) = (InMemoryNotifier::new(), InMemoryNotifier::new());
    r.alerting.add_notifier("pagerduty", Arc::new(pd.clone()));
    r.alerting.add_notifier("sms", Arc::new(sms.clone()));
    (r, pd, sms)
}

#[tokio::test(start_paused = true)]
async fn escalation_follows_the_tiers_until_acknowledged() {
    let (r, pd, sms) = escalation_rig();
    let g = cpu(&r.meter);
    let mut seen = Vec::new();
    for s in 0..1000u64 {
        g.record(99.0, &[]);
        r.alerting.evaluate_now().await.expect("cycle");
        for (name, inbox) in [("slack", &r.inbox), ("pagerduty", &pd), ("sms", &sms)] {
            for n in inbox.take() {
                seen.push((s, name, n.escalation_tier));
            }
        }
        advance(Duration::from_secs(1)).await;
    }
    assert_eq!(seen, vec![(0, "slack", 0), (300, "pagerduty", 1), (900, "sms", 2)]);

    let (r, pd, sms) = escalation_rig();
    let g = cpu(&r.meter);
    for s in 0..1000u64 {
        g.record(99.0, &[]);
        r.alerting.evaluate_now().await.expect("cycle");
        if s == 120 {
            let fp = r.alerting.alerts()[0].fingerprint;
            assert!(r.alerting.acknowledge(fp));
        }
        advance(Duration::from_secs(1)).await;
    }
    assert_eq!(r.inbox.take().len(), 1, "the first tier heard once");
    assert!(pd.take().is_empty() && sms.take().is_empty(), "acknowledged: no escalation");
    assert!(r.alerting.alerts()[0].acknowledged);
}

#[tokio::test(start_paused = true)]
async fn silences_suppress_notifications_but_keep_state() {
    let r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing(0, 0, 3600));
    let id = r
        .alerting
        .silence(vec![Matcher::eq("alertname", "R").expect("matcher")], Duration::from_secs(30), "maintenance")
        .expect("valid silence");
    let g = cpu(&r.meter);
    run(&r, 20, |_| g.record(99.0, &[])).await;
    assert!(r.inbox.take().is_empty(), "silenced");
    let alerts = r.alerting.alerts();
    assert_eq!((alerts[0].state, alerts[0].silenced), (AlertState::Firing, true));
    // Expiry (t = 30) lets the still-firing alert through.
    run(&r, 15, |_| g.record(99.0, &[])).await;
    let sent = r.inbox.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let held = &r.alerting.silences()[0];
    assert_eq!(held.ends_at.duration_since(held.starts_at).ok(), Some(Duration::from_secs(30)));
    assert_eq!(r.alerting.expire_silence(&id), Ok(()), "expiring an expired silence is fine");
    assert_eq!(r.alerting.expire_silence("no-such-id"), Err(SilenceError::NotFound));

    // Resolution of an alert nobody was told about is not announced.
    let r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing(0, 0, 3600));
    r.alerting
        .silence(vec![Matcher::regex("severity", "high|critical").expect("matcher")], Duration::from_secs(3600), "")
        .expect("valid silence");
    let g = cpu(&r.meter);
    let changes = run(&r, 20, |s| g.record(if s < 10 { 99.0 } else { 1.0 }, &[])).await;
    assert_eq!(changes, vec![(0, 1, 0), (10, 0, 1)]);
    assert!(r.inbox.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn failed_deliveries_are_counted_and_offered_again_at_the_next_group_interval() {
    let r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing(0, 30, 3600));
    let g = cpu(&r.meter);
    r.inbox.set_failing(true);
    let mut failed = 0;
    for s in 0..40u64 {
        if s == 10 {
            r.inbox.set_failing(false);
        }
        g.record(99.0, &[]);
        failed += r.alerting.evaluate_now().await.expect("cycle").failed;
        advance(Duration::from_secs(1)).await;
    }
    // Fails at 0, is retried 30 s later and delivered.
    assert_eq!(failed, 1);
    assert_eq!(r.inbox.take().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rules_on_unknown_metrics_are_rejected_with_the_name() {
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    let err = alerting.add_rule(rule("bitcraps_dice_entropy", AlertCondition::GreaterThan(1.0))).expect_err("unknown");
    assert!(err.to_string().contains("`bitcraps_dice_entropy`"), "{err}");
    assert!(alerting.rules().is_empty());
    let err = alerting
        .add_rule(rule(
            "bitcraps.errors",
            AlertCondition::Ratio {
                denominator: "bitcraps_nothing".into(),
                window: None,
                threshold: Threshold::GreaterThan(0.1),
            },
        ))
        .expect_err("unknown denominator");
    assert!(err.to_string().contains("bitcraps_nothing"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_background_task_evaluates_on_the_paused_clock() {
    let mut r = rig(vec![rule("bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0)).into()], routing(0, 0, 3600));
    let g = cpu(&r.meter);
    g.record(99.0, &[]);
    r.alerting.start().await.expect("start with the attached reader");
    for _ in 0..3 {
        advance(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(r.inbox.take().len(), 1);
    r.alerting.stop();
}

#[tokio::test(start_paused = true)]
async fn a_rule_on_a_typed_histogram_fires_from_the_cells_the_alert_reader_was_given() {
    // Typed histograms live in our own cells, outside the SDK: the alert reader sees them only
    // through `attach_histograms`.
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let metrics = bitcraps_otel::metrics::Metrics::new(
        &provider,
        bitcraps_otel::metrics::MetricsOptions { system_metrics: false, ..Default::default() },
    );
    reader.attach_histograms(metrics.histogram_source());
    let alerting = AlertingSystem::new(AlertingConfig {
        predefined_rules: false,
        routing: routing(0, 0, 3600),
        ..Default::default()
    });
    alerting
        .add_rule(rule("bitcraps_consensus_latency_seconds", AlertCondition::GreaterThan(0.5)))
        .expect("valid rule");
    alerting.attach(reader);
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));

    metrics.consensus().record_latency(Duration::from_millis(100));
    assert_eq!(alerting.evaluate_now().await.expect("cycle").fired, 0, "a mean of 0.1 s is under 0.5 s");
    advance(Duration::from_secs(1)).await;
    for _ in 0..9 {
        metrics.consensus().record_latency(Duration::from_secs(2));
    }
    let cycle = alerting.evaluate_now().await.expect("cycle");
    assert_eq!(cycle.fired, 1, "a mean of 1.81 s crosses 0.5 s");
    let fired: Vec<Alert> = alerting.alerts().into_iter().filter(|a| a.state == AlertState::Firing).collect();
    assert_eq!(fired.len(), 1);
    assert!((fired[0].value - 1.81).abs() < 1e-9, "{:?}", fired[0].value);
    drop(provider);
}
