//! Delivery truth, on tokio's paused clock: an alert counts as told to a channel only once
//! the channel confirms it. A failure is offered again at the route's next group interval,
//! a lost resolve is sent again, a notification that fails part-way resumes where it
//! stopped, an unknown channel and a panicking notifier raise the delivery-failure alert to
//! the fallback channel, and the engine goes on through all of it.

use bitcraps_otel::alerting::*;
use bitcraps_otel::semconv::AlertChannel;
use opentelemetry::metrics::{Gauge, Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::advance;

struct Rig {
    _provider: SdkMeterProvider,
    meter: Meter,
    alerting: AlertingSystem,
    reader: AlertReader,
}

fn routing(group_interval: u64) -> RoutingConfig {
    RoutingConfig {
        default_route: Route {
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(group_interval),
            repeat_interval: Duration::from_secs(3600),
            ..Route::default()
        },
        ..Default::default()
    }
}

fn rig(routing: RoutingConfig) -> Rig {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, routing, ..Default::default() });
    let rule = AlertRule {
        name: "HotCpu".into(),
        description: "CPU above 80".into(),
        metric_name: "bitcraps.cpu.usage".into(),
        condition: AlertCondition::GreaterThan(80.0),
        severity: AlertSeverity::High,
        category: "system".into(),
        evaluation_interval: Duration::from_secs(1),
        tags: vec![],
    };
    alerting.add_rule(rule).expect("rule");
    alerting.attach(reader.clone());
    alerting.instrument(&provider);
    Rig { _provider: provider, meter, alerting, reader }
}

fn cpu(meter: &Meter) -> Gauge<f64> {
    meter.f64_gauge("bitcraps.cpu.usage").build()
}

/// One evaluation per second for `secs` seconds; `each` sets the metrics first.
async fn run(r: &Rig, secs: u64, mut each: impl FnMut(u64)) {
    for s in 0..secs {
        each(s);
        r.alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
}

fn count(reader: &AlertReader, name: &str) -> u64 {
    let rm = reader.collect().expect("collect");
    let mut total = 0;
    for scope in rm.scope_metrics() {
        for m in scope.metrics().filter(|m| m.name() == name) {
            use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
            match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(s)) => total += s.data_points().map(|p| p.value()).sum::<u64>(),
                AggregatedMetrics::I64(MetricData::Gauge(g)) => {
                    total += g.data_points().map(|p| p.value()).sum::<i64>() as u64
                }
                _ => {}
            }
        }
    }
    total
}

/// A channel that fails while `down`, records what it was offered and what it delivered.
#[derive(Debug, Default)]
struct Flaky {
    down: std::sync::atomic::AtomicBool,
    offered: Mutex<Vec<Notification>>,
    delivered: Mutex<Vec<Notification>>,
}

#[async_trait::async_trait]
impl Notifier for Flaky {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Other
    }
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.offered.lock().expect("lock").push(n.clone());
        if self.down.load(Ordering::SeqCst) {
            return Err(NotifyError::Transport { channel: "flaky", reason: "HTTP 503 after 5 attempts".into() });
        }
        self.delivered.lock().expect("lock").push(n.clone());
        Ok(())
    }
}

impl Flaky {
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    fn offered(&self) -> Vec<Notification> {
        self.offered.lock().expect("lock").clone()
    }
    fn delivered(&self) -> Vec<Notification> {
        self.delivered.lock().expect("lock").clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_channel_down_through_its_retries_then_back_gets_exactly_one_trigger_and_one_resolve() {
    let r = rig(routing(30));
    let chan = Arc::new(Flaky::default());
    r.alerting.add_notifier("pager", chan.clone());
    let g = cpu(&r.meter);
    chan.set_down(true);
    // Fires at 0 while the channel is down; comes back at 100; the condition clears at 150
    // and the channel is down again then, until 200.
    run(&r, 300, |s| {
        if s == 100 || s == 200 {
            chan.set_down(false);
        }
        if s == 150 {
            chan.set_down(true);
        }
        g.record(if s < 150 { 99.0 } else { 10.0 }, &[]);
    })
    .await;
    let offered: Vec<(usize, usize)> = chan.offered().iter().map(|n| (n.firing.len(), n.resolved.len())).collect();
    // Offered at 0, 30, 60, 90 (down) and 120 (delivered); the resolve at 150 and 180
    // (down), then 210 (delivered): the group interval paces every retry.
    assert_eq!(offered, vec![(1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (0, 1), (0, 1), (0, 1)]);
    let delivered: Vec<(usize, usize)> = chan.delivered().iter().map(|n| (n.firing.len(), n.resolved.len())).collect();
    assert_eq!(delivered, vec![(1, 0), (0, 1)], "exactly one trigger and one resolve arrive");
    assert!(r.alerting.alerts().is_empty(), "nothing left over");
}

#[tokio::test(start_paused = true)]
async fn an_acknowledged_alert_whose_first_notice_failed_is_still_told() {
    let r = rig(routing(30));
    let chan = Arc::new(Flaky::default());
    r.alerting.add_notifier("pager", chan.clone());
    let g = cpu(&r.meter);
    chan.set_down(true);
    run(&r, 5, |_| g.record(99.0, &[])).await;
    assert!(r.alerting.acknowledge(r.alerting.alerts()[0].fingerprint));
    chan.set_down(false);
    run(&r, 60, |_| g.record(99.0, &[])).await;
    assert_eq!(chan.delivered().len(), 1, "acknowledging stops repeats and escalation, not the first word");
}

/// Delivers only the first alert of each notification, like a PagerDuty job whose second
/// event meets a dead endpoint.
#[derive(Debug, Default)]
struct FirstOnly {
    got: Mutex<Vec<Vec<String>>>,
}

#[async_trait::async_trait]
impl Notifier for FirstOnly {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Other
    }
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }
    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let all: Vec<&AlertNotice> = n.firing.iter().chain(&n.resolved).collect();
        self.got.lock().expect("lock").push(all.iter().map(|a| a.labels["transport"].clone()).collect());
        DeliveryReport {
            delivered: all.first().map(|a| a.fingerprint).into_iter().collect(),
            error: (all.len() > 1)
                .then(|| NotifyError::Transport { channel: "first-only", reason: "second event refused".into() }),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_notification_that_fails_part_way_resumes_where_it_stopped() {
    let r = rig(routing(10));
    let chan = Arc::new(FirstOnly::default());
    r.alerting.add_notifier("pager", chan.clone());
    let g = cpu(&r.meter);
    run(&r, 40, |_| {
        for t in ["ble", "tcp", "wifi"] {
            g.record(99.0, &[KeyValue::new("transport", t)]);
        }
    })
    .await;
    let got = chan.got.lock().expect("lock").clone();
    // Three alerts in one group: each offer delivers its first alert, and the next offer
    // carries exactly the rest.
    assert_eq!(got.len(), 3, "{got:?}");
    let first: BTreeSet<&str> = got[0].iter().map(String::as_str).collect();
    assert_eq!(first, ["ble", "tcp", "wifi"].into());
    assert_eq!(got[1], got[0][1..]);
    assert_eq!(got[2], got[1][1..]);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_channel_raises_the_delivery_failure_alert_on_the_fallback_channel() {
    let mut routing = routing(30);
    routing.default_route.escalation = "page".into();
    routing.escalations.insert(
        "page".into(),
        EscalationPolicy::new(vec![EscalationTier { after: Duration::ZERO, channels: vec!["ghost".into()] }]),
    );
    routing.fallback_channel = Some("ops".into());
    let r = rig(routing);
    let ops = InMemoryNotifier::new();
    r.alerting.add_notifier("ops", Arc::new(ops.clone()));
    let g = cpu(&r.meter);
    run(&r, 10, |_| g.record(99.0, &[])).await;
    let sent = ops.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let meta = &sent[0].firing[0];
    assert_eq!(meta.rule, DELIVERY_FAILING);
    assert_eq!(meta.labels["channel"], "ghost");
    assert!(meta.description.contains("no channel named `ghost` is registered"), "{}", meta.description);
    let names: BTreeSet<String> = r.alerting.alerts().into_iter().map(|a| a.rule).collect();
    assert_eq!(names, ["AlertDeliveryFailing".to_string(), "HotCpu".to_string()].into());
    // The channel appears: it gets the alert at the next group interval, and the failure
    // alert resolves on the fallback channel.
    let ghost = InMemoryNotifier::new();
    r.alerting.add_notifier("ghost", Arc::new(ghost.clone()));
    run(&r, 40, |_| g.record(99.0, &[])).await;
    assert_eq!(ghost.take().len(), 1);
    let sent = ops.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!((sent[0].firing.len(), sent[0].resolved[0].rule.as_str()), (0, DELIVERY_FAILING));
    assert_eq!(r.alerting.alerts().len(), 1, "only HotCpu fires");
}

/// Panics on its first `n` calls, then delivers.
#[derive(Debug)]
struct Panicky {
    left: AtomicUsize,
    delivered: AtomicUsize,
}

#[async_trait::async_trait]
impl Notifier for Panicky {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Other
    }
    async fn notify(&self, _: &Notification) -> Result<(), NotifyError> {
        if self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1)).is_ok() {
            panic!("a notifier bug");
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_notifier_is_caught_counted_and_its_alert_offered_again() {
    let mut routing = routing(20);
    routing.fallback_channel = Some("ops".into());
    let r = rig(routing);
    let buggy = Arc::new(Panicky { left: AtomicUsize::new(2), delivered: AtomicUsize::new(0) });
    let ops = InMemoryNotifier::new();
    r.alerting.add_notifier("buggy", buggy.clone());
    r.alerting.add_notifier("ops", Arc::new(ops.clone()));
    let g = cpu(&r.meter);
    run(&r, 60, |_| g.record(99.0, &[])).await;
    // Panicked at 0 and 20, delivered at 40; every cycle ran.
    assert_eq!(buggy.delivered.load(Ordering::SeqCst), 1);
    assert_eq!(count(&r.reader, "bitcraps.alerting.panics"), 2);
    assert_eq!(count(&r.reader, "bitcraps.alerting.evaluations"), 60);
    let told: Vec<String> =
        ops.take().iter().flat_map(|n| n.firing.iter().chain(&n.resolved).map(|a| a.rule.clone())).collect();
    // The fallback channel heard HotCpu directly, and of buggy's failure (raised at 0,
    // resolved once buggy delivered at 40).
    assert!(told.iter().filter(|r| *r == DELIVERY_FAILING).count() == 2, "{told:?}");
    assert!(told.contains(&"HotCpu".to_string()), "{told:?}");
}
