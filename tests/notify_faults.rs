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
    let err = teams.notify(&firing("teams")).await.expect_err("a 400 is a failure");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert_eq!(teams.stats().failed, 1);
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
    let err = hook.notify(&firing("hook")).await.expect_err("the receiver is down").to_string();
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert!(!err.contains("SECRETPATH") && !err.contains("HEADERSECRET"), "a secret in the error: {err}");
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
    let meter = provider.meter("bitcraps");
    let forks = meter.u64_counter("bitcraps.consensus.forks").build();
    let cpu = meter.f64_gauge("bitcraps.cpu.usage").build();
    let mut alerting = AlertingSystem::new(AlertingConfig {
        predefined_rules: false,
        tick: Duration::from_millis(20),
        routing: RoutingConfig {
            default_route: Route { group_wait: Duration::ZERO, group_interval: Duration::ZERO, ..Route::default() },
            ..Default::default()
        },
        ..Default::default()
    });
    for (name, metric) in [("AnyFork", "bitcraps_consensus_forks_total"), ("HotCpu", "bitcraps.cpu.usage")] {
        let rule = AlertRule {
            name: name.into(),
            metric_name: metric.into(),
            condition: AlertCondition::GreaterThan(0.0),
            severity: AlertSeverity::Critical,
            evaluation_interval: Duration::from_millis(20),
            ..Default::default()
        };
        alerting.add_rule(rule).expect("rule");
    }
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
    forks.add(1, &[]);
    alerting.start().await.expect("start");
    let got = good.wait_for(1, LIMIT).await;
    assert_eq!(got.len(), 1, "Slack was told while PagerDuty's request was held");
    assert_eq!(held.wait_for(1, LIMIT).await.len(), 1, "PagerDuty's request reached its receiver");
    // The engine goes on evaluating while PagerDuty holds: a second rule fires and Slack
    // hears of it, PagerDuty's first request still unanswered.
    cpu.record(99.0, &[]);
    let got = good.wait_for(2, LIMIT).await;
    assert_eq!(got.len(), 2);
    assert!(got[1].json()["text"].as_str().is_some_and(|t| t.contains("HotCpu")), "{:?}", got[1].json());
    assert_eq!((stuck.stats().delivered, held.requests().len()), (0, 1), "still held");
    gate.open();
    settle(LIMIT, || (stuck.stats().delivered == 2).then_some(())).await.expect("delivered once released");
    assert_eq!(held.requests().len(), 2);
    alerting.stop();
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
    let err = pd.notify(&n).await.expect_err("the hanging channel reports failure");
    assert!(err.to_string().contains("no answer within 1s (gave up after 2 attempts)"), "{err}");
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
    let slack = Arc::new(
        SlackNotifier::new(hang.url("/services/T/B/X"), String::new())
            .with_delivery(DeliveryOptions {
                queue_capacity: 4,
                request_timeout: Duration::from_secs(30),
                ..options(1)
            })
            .with_meter(provider.meter("test")),
    );
    let started = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..100 {
        let slack = Arc::clone(&slack);
        calls.push(tokio::spawn(async move { slack.notify(&firing("chat")).await }));
        tokio::task::yield_now().await; // let that call queue, and the worker take the first one
    }
    // Refusals are immediate; the accepted calls wait for a verdict the hanging receiver
    // never gives.
    let mut refused = 0;
    for call in calls {
        if !call.is_finished() {
            call.abort();
            continue;
        }
        match call.await.expect("no panic") {
            Err(NotifyError::Transport { reason, .. }) => {
                assert!(reason.contains("queue full"), "{reason}");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
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

#[tokio::test(flavor = "current_thread")]
async fn a_receiver_that_echoes_the_request_leaks_no_secret_into_errors_or_logs() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let rx = Receiver::start(Reply::Echo(400)).await;
    let hook = WebhookNotifier::new(rx.url("/hooks/T000/PATHSECRET?token=QUERYSECRET"))
        .with_header("Authorization", "Bearer HEADERSECRET")
        .with_hmac_secret("HMACSECRET")
        .with_delivery(options(1));
    let pd =
        PagerDutyNotifier::new("ROUTINGKEYSECRET".into()).with_url(rx.url("/v2/enqueue")).with_delivery(options(1));
    let sms = SmsNotifier::new(
        "AC0SIDSECRET".into(),
        "AUTHTOKENSECRET".into(),
        "+15550000000".into(),
        vec!["+15551112222".into()],
    )
    .with_base_url(rx.url(""))
    .with_delivery(options(1));
    let mut errors = String::new();
    for result in [hook.notify(&firing("hook")).await, pd.notify(&firing("pd")).await, sms.notify(&firing("sms")).await]
    {
        errors.push_str(&result.expect_err("400").to_string());
        errors.push('\n');
    }
    // The receiver really echoed the secrets back...
    assert_eq!(rx.requests().len(), 4, "one webhook, two PagerDuty events, one text");
    let text = logs.text();
    assert!(text.contains("notification refused; start of the answer"), "the answer is logged at DEBUG:\n{text}");
    assert!(errors.contains("HTTP 400 ("), "{errors}");
    // ...and none of them reached an error or the log.
    for secret in [
        "PATHSECRET",
        "QUERYSECRET",
        "HEADERSECRET",
        "HMACSECRET",
        "ROUTINGKEYSECRET",
        "AUTHTOKENSECRET",
        "AC0SIDSECRET",
    ] {
        assert!(!errors.contains(secret), "{secret} in an error:\n{errors}");
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_down_past_its_retries_then_back_gets_one_trigger_and_one_resolve() {
    let rx = Receiver::start(ok(202)).await;
    rx.script([ok(500), ok(503)]); // both attempts of the first offer
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let cpu = provider.meter("bitcraps").f64_gauge("bitcraps.cpu.usage").build();
    let mut alerting = AlertingSystem::new(AlertingConfig {
        predefined_rules: false,
        tick: Duration::from_millis(20),
        routing: RoutingConfig {
            default_route: Route {
                group_wait: Duration::ZERO,
                group_interval: Duration::from_millis(200),
                ..Route::default()
            },
            ..Default::default()
        },
        ..Default::default()
    });
    let rule = AlertRule {
        name: "HotCpu".into(),
        metric_name: "bitcraps.cpu.usage".into(),
        condition: AlertCondition::GreaterThan(80.0),
        severity: AlertSeverity::Critical,
        evaluation_interval: Duration::from_millis(20),
        ..Default::default()
    };
    alerting.add_rule(rule).expect("rule");
    alerting.attach(reader);
    let pd = Arc::new(PagerDutyNotifier::new("KEY".into()).with_url(rx.url("/v2/enqueue")).with_delivery(options(2)));
    alerting.add_notifier("pagerduty", pd.clone());
    cpu.record(99.0, &[]);
    alerting.start().await.expect("start");
    settle(LIMIT, || (pd.stats().delivered == 1).then_some(()))
        .await
        .expect("the trigger went through on a later offer");
    cpu.record(10.0, &[]);
    settle(LIMIT, || (pd.stats().delivered == 2).then_some(())).await.expect("resolved and told");
    assert!(alerting.alerts().is_empty());
    alerting.stop();
    let got = rx.requests();
    let actions: Vec<String> =
        got.iter().map(|r| r.json()["event_action"].as_str().unwrap_or_default().to_string()).collect();
    // Two refused attempts, then exactly one accepted trigger and one resolve.
    assert_eq!(actions, ["trigger", "trigger", "trigger", "resolve"]);
    assert_eq!(got[2].json()["dedup_key"], got[3].json()["dedup_key"]);
    assert_eq!((pd.stats().failed, pd.stats().delivered), (1, 2));
}
