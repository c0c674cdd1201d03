//! Each HTTP channel against a loopback axum receiver that checks the request against the
//! provider's documented API: method, path, headers, auth and body fields. Unknown or
//! missing fields fail the test.

mod notify_support;

use bitcraps_otel::alerting::channels::*;
use bitcraps_otel::alerting::Notifier;
use hmac::{KeyInit, Mac};
use notify_support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().expect("object").keys().map(String::as_str).collect()
}

fn assert_keys_within(v: &Value, allowed: &[&str], what: &str) {
    for k in keys(v) {
        assert!(allowed.contains(&k), "{what}: `{k}` is not a documented field ({allowed:?})");
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("`{field}` must be a string in {v}"))
}

fn fast() -> DeliveryOptions {
    DeliveryOptions {
        initial_backoff: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// Checks one PagerDuty Events API v2 event (https://developer.pagerduty.com/docs/events-api-v2).
fn check_pagerduty_event(e: &Value, key: &str) {
    assert_keys_within(
        e,
        &["routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"],
        "event",
    );
    assert_eq!(str_of(e, "routing_key"), key);
    let dedup = str_of(e, "dedup_key");
    assert!(!dedup.is_empty() && dedup.len() <= 255);
    match str_of(e, "event_action") {
        "trigger" => {
            let p = &e["payload"];
            assert_keys_within(
                p,
                &["summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"],
                "payload",
            );
            let summary = str_of(p, "summary");
            assert!(!summary.is_empty() && summary.chars().count() <= 1024, "{summary}");
            assert!(!str_of(p, "source").is_empty());
            assert!(["critical", "error", "warning", "info"].contains(&str_of(p, "severity")), "{p}");
            assert!(p["custom_details"].is_object());
            for l in e["links"].as_array().into_iter().flatten() {
                assert_keys_within(l, &["href", "text"], "link");
                assert!(str_of(l, "href").starts_with("http"));
            }
        }
        "resolve" | "acknowledge" => assert!(e.get("payload").is_none() || e["payload"].is_object()),
        other => panic!("unknown event_action {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_triggers_and_resolves_with_the_fingerprint_as_dedup_key() {
    let rx = Receiver::start(ok(202)).await;
    let pd = PagerDutyNotifier::new("R0UT1NGKEY0123456789012345678901".to_string())
        .with_url(rx.url("/v2/enqueue"))
        .with_link("Dashboard", "https://grafana.example/d/bitcraps")
        .with_delivery(fast());
    pd.notify(&firing("oncall")).await.expect("queued");
    pd.notify(&resolved("oncall")).await.expect("queued");
    let got = rx.wait_for(3, LIMIT).await;
    assert_eq!(got.len(), 3, "two triggers and one resolve");
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v2/enqueue");
        assert!(r.header("content-type").starts_with("application/json"));
        check_pagerduty_event(&r.json(), "R0UT1NGKEY0123456789012345678901");
    }
    let (t1, t2, res) = (got[0].json(), got[1].json(), got[2].json());
    assert_eq!(
        (str_of(&t1, "event_action"), str_of(&t2, "event_action"), str_of(&res, "event_action")),
        ("trigger", "trigger", "resolve")
    );
    assert_eq!(str_of(&t1, "dedup_key"), "000000000000abc1");
    assert_eq!(str_of(&t2, "dedup_key"), "000000000000abc2");
    assert_eq!(str_of(&res, "dedup_key"), "000000000000abc1", "the resolve names the triggered alert");
    assert_eq!(t1["payload"]["severity"], "error", "high maps to error");
    assert_eq!(t2["payload"]["severity"], "critical");
    assert_eq!(t1["payload"]["source"], "node-7");
    assert_eq!(t1["payload"]["custom_details"]["labels"]["category"], "gaming");
    assert_eq!(
        str_of(&t1["payload"], "summary"),
        "High Game Error Rate: Gaming errors above 5% (value 0.071, threshold > 0.05)"
    );
    assert_eq!(pd.stats().delivered, 2);
}

/// Checks a Slack incoming-webhook message with Block Kit blocks (https://api.slack.com/block-kit).
fn check_slack_message(m: &Value) {
    assert_keys_within(
        m,
        &["text", "blocks", "channel", "username", "icon_emoji", "icon_url", "attachments", "thread_ts", "mrkdwn"],
        "message",
    );
    assert!(!str_of(m, "text").is_empty(), "fallback text is required with blocks");
    let blocks = m["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    for b in blocks {
        match str_of(b, "type") {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text");
                assert!(str_of(&b["text"], "text").chars().count() <= 150);
            }
            "section" => {
                assert!(["mrkdwn", "plain_text"].contains(&str_of(&b["text"], "type")));
                assert!(str_of(&b["text"], "text").chars().count() <= 3000);
                let fields = b["fields"].as_array().map_or(&[][..], Vec::as_slice);
                assert!(fields.len() <= 10);
                for f in fields {
                    assert!(str_of(f, "text").chars().count() <= 2000);
                }
            }
            "context" => assert!(b["elements"].as_array().is_some_and(|e| !e.is_empty() && e.len() <= 10)),
            "actions" => {
                for e in b["elements"].as_array().expect("elements") {
                    assert_eq!(e["type"], "button");
                    assert_eq!(e["text"]["type"], "plain_text");
                    assert!(str_of(e, "url").starts_with("http"));
                }
            }
            "divider" => {}
            other => panic!("unexpected block type {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_posts_block_kit_with_fallback_text_and_channel_override() {
    let rx = Receiver::start(ok(200)).await;
    let slack = SlackNotifier::new(rx.url("/services/T000/B000/XXXXSECRET"), "#alerts".to_string())
        .with_link("Grafana", "https://grafana.example/d/bitcraps")
        .with_delivery(fast());
    slack.notify(&firing("chat")).await.expect("queued");
    let got = rx.wait_for(1, LIMIT).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/services/T000/B000/XXXXSECRET"));
    assert!(r.header("content-type").starts_with("application/json"));
    let m = r.json();
    check_slack_message(&m);
    assert_eq!(m["channel"], "#alerts");
    let blocks = m["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["text"]["text"], "[FIRING:2] High Game Error Rate");
    let all = m.to_string();
    for needle in [
        "*Severity*\\nhigh",
        "*Severity*\\ncritical",
        "*Value*\\n0.071",
        "*Threshold*\\n&gt; 0.05",
        "category=gaming",
        "https://grafana.example/d/bitcraps",
    ] {
        assert!(all.contains(needle), "{needle} missing in {all}");
    }
    assert!(str_of(&m, "text").starts_with("[FIRING:2] High Game Error Rate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_posts_an_adaptive_card_message() {
    let rx = Receiver::start(ok(202)).await;
    let teams = TeamsNotifier::new(rx.url("/workflows/abc/triggers/manual/paths/invoke"))
        .with_link("Runbook", "https://runbooks.example/high-game-error-rate")
        .with_delivery(fast());
    teams.notify(&firing("teams")).await.expect("queued");
    let got = rx.wait_for(1, LIMIT).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/workflows/abc/triggers/manual/paths/invoke"));
    assert!(r.header("content-type").starts_with("application/json"));
    let m = r.json();
    assert_keys_within(&m, &["type", "attachments", "summary", "text"], "message");
    assert_eq!(m["type"], "message");
    let atts = m["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0]["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &atts[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
    let version: f64 = str_of(card, "version").parse().expect("version like 1.4");
    assert!((1.0..=1.5).contains(&version));
    let body = card["body"].as_array().expect("body");
    assert_eq!(body[0]["text"], "[FIRING:2] High Game Error Rate");
    let mut factsets = 0;
    for el in body {
        match str_of(el, "type") {
            "TextBlock" => assert!(!str_of(el, "text").is_empty()),
            "FactSet" => {
                factsets += 1;
                for f in el["facts"].as_array().expect("facts") {
                    assert_keys_within(f, &["title", "value"], "fact");
                    str_of(f, "title");
                    str_of(f, "value");
                }
            }
            other => panic!("unexpected card element {other}"),
        }
    }
    assert_eq!(factsets, 2, "one fact set per alert");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], "https://runbooks.example/high-game-error-rate");
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_gets_a_form_post_per_recipient_with_basic_auth_and_a_one_segment_body() {
    let rx = Receiver::start(ok(201)).await;
    let sms = SmsNotifier::new(
        "AC0123456789abcdef0123456789abcdef".into(),
        "tw1l10-t0k3n".into(),
        "+15005550006".into(),
        vec!["+15551112222".into(), "+447700900123".into()],
    )
    .with_base_url(rx.url(""))
    .with_delivery(fast());
    let mut n = firing("sms");
    for i in 0..10 {
        n.firing.push(notice(
            &format!("Another Rule With A Long Name {i}"),
            100 + i,
            bitcraps_otel::alerting::AlertSeverity::Medium,
            1.0,
        ));
    }
    sms.notify(&n).await.expect("queued");
    let got = rx.wait_for(2, LIMIT).await;
    assert_eq!(got.len(), 2, "one message per recipient");
    let auth = format!("Basic {}", base64(b"AC0123456789abcdef0123456789abcdef:tw1l10-t0k3n"));
    let mut recipients = Vec::new();
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json");
        assert_eq!(r.header("content-type"), "application/x-www-form-urlencoded");
        assert_eq!(r.header("authorization"), auth);
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&r.body).expect("form");
        let names: BTreeSet<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["Body", "From", "To"]));
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(get("From"), "+15005550006");
        let body = get("Body");
        // One segment: all of it GSM-7 (so 160 septets are one segment), at most 160 of them.
        let septets = bitcraps_otel::alerting::channels::gsm7_septets(&body);
        assert!(septets.is_some_and(|n| n <= 160), "one GSM-7 segment: {septets:?} septets: {body}");
        assert!(
            body.starts_with(
                "[FIRING:12] category=gaming severity=high; High Game Error Rate high 0.071 (> 0.05) on node-7;"
            ),
            "{body}"
        );
        assert!(body.ends_with("..."), "cut bodies say so, in GSM-7: {body}");
        recipients.push(get("To"));
    }
    recipients.sort();
    assert_eq!(recipients, ["+15551112222", "+447700900123"]);

    // A character outside GSM-7 makes the whole text UCS-2, where a segment is 70 units.
    let mut n = firing("sms");
    n.firing[0].rule = "Device above 45 °C".into();
    sms.notify(&n).await.expect("delivered");
    let got = rx.wait_for(4, LIMIT).await;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&got[3].body).expect("form");
    let body = form.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(bitcraps_otel::alerting::channels::gsm7_septets(&body), None, "{body}");
    assert!(body.encode_utf16().count() <= 70 && body.ends_with('…'), "one UCS-2 segment: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_sends_the_v1_schema_custom_headers_and_a_verifiable_signature() {
    let rx = Receiver::start(ok(204)).await;
    let hook = WebhookNotifier::new(rx.url("/hooks/bitcraps?token=abc"))
        .with_header("Authorization", "Bearer t0ken")
        .with_header("X-Team", "ops")
        .with_hmac_secret("whsec-shared")
        .with_delivery(fast());
    hook.notify(&firing("hook")).await.expect("queued");
    let got = rx.wait_for(1, LIMIT).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/bitcraps"));
    assert!(r.header("content-type").starts_with("application/json"));
    assert_eq!(r.header("authorization"), "Bearer t0ken");
    assert_eq!(r.header("x-team"), "ops");
    // The receiver's side of the signature: HMAC-SHA256 over "<timestamp>.<raw body>".
    let ts = r.header("x-bitcraps-timestamp");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec-shared").expect("key");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(r.header("x-bitcraps-signature"), format!("sha256={hex}"));
    let p = r.json();
    assert_keys_within(
        &p,
        &["schema", "status", "title", "channel", "group", "escalation_tier", "sent_at", "firing", "resolved"],
        "payload",
    );
    assert_eq!(p["schema"], WEBHOOK_SCHEMA);
    assert_eq!(p["status"], "firing");
    assert_eq!(p["title"], "[FIRING:2] High Game Error Rate");
    assert_eq!(p["channel"], "hook");
    assert_eq!(p["group"]["category"], "gaming");
    assert_eq!(p["sent_at"].as_u64().map(|s| s.to_string()).as_deref(), Some(ts));
    let alerts = p["firing"].as_array().expect("firing");
    assert_eq!(alerts.len(), 2);
    for a in alerts {
        assert_keys_within(
            a,
            &["fingerprint", "rule", "severity", "description", "value", "threshold", "labels", "tags"],
            "alert",
        );
        assert_eq!(a["threshold"], "> 0.05");
        assert_eq!(str_of(a, "fingerprint").len(), 16);
        assert!(a["value"].is_number() && a["labels"].is_object() && a["tags"].is_array());
    }
    assert_eq!(alerts[0]["severity"], "high");
    assert_eq!(p["resolved"], serde_json::json!([]));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let all = format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        PagerDutyNotifier::new("PDKEY-1".into()),
        SlackNotifier::new("https://hooks.slack.com/services/T/B/SLACKSECRET".into(), "#a".into()),
        TeamsNotifier::new("https://x.logic.azure.com/workflows/1?sig=TEAMSSIG".into()),
        SmsNotifier::new("AC1".into(), "TWILIOTOKEN".into(), "+1".into(), vec!["+2".into()]),
        WebhookNotifier::new("https://h.example/?k=HOOKKEY".into())
            .with_header("Authorization", "HDRSECRET")
            .with_hmac_secret("HMACSECRET"),
        EmailNotifier::new("smtp.example", "a@b.example", vec!["c@d.example".into()]).with_credentials("u", "MAILPASS"),
    );
    for s in ["PDKEY-1", "SLACKSECRET", "TEAMSSIG", "TWILIOTOKEN", "HOOKKEY", "HDRSECRET", "HMACSECRET", "MAILPASS"] {
        assert!(!all.contains(s), "{s} leaked: {all}");
    }
}
