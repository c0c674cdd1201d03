//! Delivery under faults, on loopback: 5xx retried until delivered exactly once, 429's
//! `Retry-After` honoured, other 4xx not retried, a down receiver retried then reported
//! failed without delaying another channel or the engine, a full queue dropping with a
//! counted and logged overflow, and no secret in any log line or error.

mod notify_support;

use bitcraps_otel::alerting::channels::*;
use bitcraps_otel::alerting::*;
use notify_support::*;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(15);

fn options(attempts: u32) -> DeliveryOptions {
    DeliveryOptions {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        request_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

/// A meter provider whose collections the test reads.
fn metrics() -> (SdkMeterProvider, AlertReader) {
    let reader = AlertReader::new();
    (SdkMeterProvider::builder().with_reader(reader.clone()).build(), reader)
}

async fn settle<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_500s_then_200_delivers_exactly_once() {
    let rx = Receiver::start(ok(200)).await;
    rx.script([ok(500), ok(503)]);
    let (provider, reader) = metrics();
    let slack = SlackNotifier::new(rx.url("/services/T/B/X"), String::new())
        .with_delivery(options(5))
        .with_meter(provider.meter("test"));
    slack.notify(&firing("chat")).await.expect("queued");
    settle(LIMIT, || (slack.stats().delivered == 1).then_some(())).await.expect("delivered");
    tokio::time::sleep(Duration::from_millis(300)).await; // room for a wrong extra request
    let got = rx.requests();
    assert_eq!(got.len(), 3, "500, 503, then the one that went through");
    assert!(got.windows(2).all(|w| w[0].body == w[1].body), "retries resend the same message");
    let s = slack.stats();
    assert_eq!((s.delivered, s.failed, s.retries, s.attempts), (1, 0, 2, 3));
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.sent", "slack"), 1);
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.retries", "slack"), 2);
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.failed", "slack"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_429_with_retry_after_is_waited_out() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let rx = Receiver::start(ok(202)).await;
    rx.script([Reply::Status(429, vec![("retry-after", "1")])]);
    let pd = PagerDutyNotifier::new("KEY".into()).with_url(rx.url("/v2/enqueue")).with_delivery(options(3));
    let mut n = firing("pd");
    n.firing.truncate(1);
    pd.notify(&n).await.expect("queued");
    settle(LIMIT, || (pd.stats().delivered == 1).then_some(())).await.expect("delivered after the wait");
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    // Backoff alone would retry after 10-20 ms; the server asked for a second.
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}, before Retry-After");
    // The wait the worker chose is exactly what was asked: no more (it logs its decision).
    let text = logs.text();
    assert!(text.lines().any(|l| l.split_whitespace().any(|w| w == "wait_ms=1000")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_4xx_are_not_retried() {
    let rx = Receiver::start(ok(400)).await;
    let teams = TeamsNotifier::new(rx.url("/workflows/x")).with_delivery(options(5));
    teams.notify(&firing("teams")).await.expect("queued");
    settle(LIMIT, || (teams.stats().failed == 1).then_some(())).await.expect("failed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.requests().len(), 1, "a 400 is final");
    assert_eq!(teams.stats().retries, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_down_receiver_is_retried_reported_failed_and_never_leaks_its_url() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let dead = dead_addr();
    let (provider, reader) = metrics();
    let hook = WebhookNotifier::new(format!("http://{}/hook/SECRETPATH", dead.addr))
        .with_header("Authorization", "Bearer HEADERSECRET")
        .with_delivery(options(3))
        .with_meter(provider.meter("test"));
    hook.notify(&firing("hook")).await.expect("queued even though the receiver is down");
    settle(LIMIT, || (hook.stats().failed == 1).then_some(())).await.expect("reported failed");
    let s = hook.stats();
    assert_eq!((s.attempts, s.retries, s.delivered), (3, 2, 0));
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.failed", "webhook"), 1);
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.retries", "webhook"), 2);
    let text = logs.text();
    assert!(text.contains("notification not delivered"), "{text}");
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert!(!text.contains("SECRETPATH") && !text.contains("HEADERSECRET"), "a secret reached the log:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_channel_delays_neither_the_engine_nor_another_channel() {
    // PagerDuty's receiver holds every request until the test opens the gate: whatever waits
    // behind it cannot finish before then, however fast or slow the machine is.
    let gate = Gate::new();
    let held = Receiver::start(Reply::HoldUntil(gate.clone())).await;
    let good = Receiver::start(ok(200)).await;
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let errors = provider.meter("bitcraps").u64_counter("bitcraps.consensus.forks").build();
    let alerting = AlertingSystem::new(AlertingConfig {
        predefined_rules: false,
        routing: RoutingConfig {
            default_route: Route { group_wait: Duration::ZERO, group_interval: Duration::ZERO, ..Route::default() },
            ..Default::default()
        },
        ..Default::default()
    });
    alerting
        .add_rule(AlertRule {
            name: "AnyFork".into(),
            metric_name: "bitcraps_consensus_forks_total".into(),
            condition: AlertCondition::GreaterThan(0.0),
            severity: AlertSeverity::Critical,
            ..Default::default()
        })
        .expect("rule");
    alerting.attach(reader);
    let stuck = Arc::new(
        PagerDutyNotifier::new("KEY".into())
            .with_url(held.url("/v2/enqueue"))
            .with_delivery(DeliveryOptions { request_timeout: Duration::from_secs(300), ..options(1) }),
    );
    let chat = Arc::new(SlackNotifier::new(good.url("/services/T/B/X"), String::new()).with_delivery(options(3)));
    // "a-pagerduty" sorts first: the engine hands it its notification before Slack's.
    alerting.add_notifier("a-pagerduty", stuck.clone());
    alerting.add_notifier("b-slack", chat.clone());
    errors.add(1, &[]);
    // LIMIT only turns "never returns" into a failure; a correct engine returns at once.
    let cycle = tokio::time::timeout(LIMIT, alerting.evaluate_now())
        .await
        .expect("the cycle waited for a held channel")
        .expect("cycle");
    assert_eq!(cycle.fired, 1);
    let got = good.wait_for(1, LIMIT).await;
    assert_eq!(got.len(), 1, "Slack was told while PagerDuty's request was held");
    assert_eq!(held.wait_for(1, LIMIT).await.len(), 1, "PagerDuty's request reached its receiver");
    assert_eq!((stuck.stats().delivered, stuck.stats().pending), (0, 1), "and is still held");
    gate.open();
    settle(LIMIT, || (stuck.stats().delivered == 1).then_some(())).await.expect("delivered once released");
    assert_eq!(held.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_each_attempt_then_is_reported_failed() {
    let hang = Receiver::start(Reply::Hang).await;
    let pd = PagerDutyNotifier::new("KEY".into())
        .with_url(hang.url("/v2/enqueue"))
        .with_delivery(DeliveryOptions { request_timeout: Duration::from_secs(1), ..options(2) });
    let mut n = firing("pd");
    n.firing.truncate(1);
    let started = Instant::now();
    pd.notify(&n).await.expect("queued");
    settle(LIMIT, || (pd.stats().failed == 1).then_some(())).await.expect("the hanging channel reports failure");
    assert_eq!(hang.requests().len(), 2, "each attempt reached the hanging server");
    assert_eq!((pd.stats().attempts, pd.stats().delivered), (2, 0));
    assert!(started.elapsed() >= Duration::from_secs(2), "each attempt waited its whole timeout");
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_counts_and_logs_without_growing() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let hang = Receiver::start(Reply::Hang).await;
    let (provider, reader) = metrics();
    let slack = SlackNotifier::new(hang.url("/services/T/B/X"), String::new())
        .with_delivery(DeliveryOptions { queue_capacity: 4, request_timeout: Duration::from_secs(30), ..options(1) })
        .with_meter(provider.meter("test"));
    let mut refused = 0;
    let started = Instant::now();
    for _ in 0..100 {
        match slack.notify(&firing("chat")).await {
            Ok(()) => {}
            Err(NotifyError::Transport { reason, .. }) => {
                assert!(reason.contains("queue full"), "{reason}");
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
        tokio::task::yield_now().await; // let the worker take the first one
    }
    let s = slack.stats();
    // One in flight at the hanging receiver, four waiting; everything else refused at once.
    assert_eq!(s.accepted, 5, "{s:?}");
    assert_eq!(s.pending, 5);
    assert_eq!((s.dropped, refused), (95, 95));
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.dropped", "slack"), 95);
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.failed", "slack"), 95);
    let seconds = started.elapsed().as_secs() + 1;
    let text = logs.text();
    let lines = text.lines().filter(|l| l.contains("notification queue full")).count();
    assert!(lines >= 1, "the overflow is logged:\n{text}");
    // At most one line per second the loop ran: the counter has the rest.
    assert!(lines as u64 <= seconds, "the log is rate-limited: {lines} lines in {seconds} s");
}
