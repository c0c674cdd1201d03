//! The operators' API over HTTP on loopback: Alertmanager's `gettableAlert`/`gettableSilence`
//! shapes, silences made through it suppressing notifications, acknowledgements, the bearer
//! token rule for writes, 4xx answers with reasons for bad requests, and the API mounted next
//! to `/health` on the health server.

use bitcraps_otel::alerting::api::{self, ApiOptions};
use bitcraps_otel::alerting::*;
use opentelemetry::metrics::{Gauge, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "adm1n-t0ken-for-tests";

struct Rig {
    _provider: SdkMeterProvider,
    cpu: Gauge<f64>,
    battery: Gauge<f64>,
    alerting: Arc<AlertingSystem>,
    inbox: InMemoryNotifier,
    base: String,
    http: reqwest::Client,
}

fn rule(name: &str, metric: &str, condition: AlertCondition, severity: AlertSeverity) -> AlertRule {
    AlertRule {
        name: name.into(),
        description: format!("{name} for tests"),
        metric_name: metric.into(),
        condition,
        severity,
        category: "test".into(),
        evaluation_interval: Duration::from_secs(1),
        tags: vec!["api".into()],
    }
}

async fn rig(options: ApiOptions) -> Rig {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let mut routing = RoutingConfig::default();
    routing.default_route.group_wait = Duration::ZERO;
    routing.default_route.group_interval = Duration::ZERO;
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, routing, ..Default::default() });
    alerting
        .add_rule(rule("CpuHot", "bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0), AlertSeverity::High))
        .expect("rule");
    alerting
        .add_rule(rule("BatteryLow", "bitcraps.battery.level", AlertCondition::LessThan(15.0), AlertSeverity::Medium))
        .expect("rule");
    alerting.attach(reader);
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));
    let alerting = Arc::new(alerting);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let router = api::router(Arc::clone(&alerting), options);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    Rig {
        _provider: provider,
        cpu: meter.f64_gauge("bitcraps.cpu.usage").build(),
        battery: meter.f64_gauge("bitcraps.battery.level").build(),
        alerting,
        inbox,
        base: format!("http://{addr}"),
        http,
    }
}

impl Rig {
    async fn fire_both(&self) {
        self.cpu.record(97.0, &[]);
        self.battery.record(9.0, &[]);
        self.alerting.evaluate_now().await.expect("cycle");
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.expect("GET");
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let code = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn silence_body(matchers: Value, starts: &str, ends: &str) -> Value {
    json!({"matchers": matchers, "startsAt": starts, "endsAt": ends, "createdBy": "ops", "comment": "maintenance"})
}

fn rfc3339(offset_secs: i64) -> String {
    let now = std::time::SystemTime::now();
    let t = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    };
    humantime::format_rfc3339_millis(t).to_string()
}

#[tokio::test]
async fn alerts_are_listed_in_alertmanagers_shape_and_filtered() {
    let r = rig(ApiOptions::default()).await;
    r.fire_both().await;
    let (code, body) = r.get("/api/v2/alerts").await;
    assert_eq!(code, 200);
    let alerts = body.as_array().expect("array");
    assert_eq!(alerts.len(), 2, "{body:#}");
    let cpu = alerts.iter().find(|a| a["labels"]["alertname"] == "CpuHot").expect("CpuHot listed");
    assert_eq!(cpu["labels"], json!({"alertname": "CpuHot", "category": "test", "severity": "high"}));
    assert_eq!(cpu["annotations"], json!({"summary": "CpuHot for tests", "value": "97", "tags": "api"}));
    assert_eq!(cpu["status"], json!({"state": "active", "silencedBy": [], "inhibitedBy": []}));
    assert_eq!(cpu["receivers"], json!([{"name": "inbox"}]));
    let fp = cpu["fingerprint"].as_str().expect("fingerprint");
    assert_eq!(fp.len(), 16);
    assert_eq!(fp, r.alerting.alerts().iter().find(|a| a.rule == "CpuHot").expect("engine").fingerprint.to_string());
    for key in ["startsAt", "updatedAt", "endsAt"] {
        let t = cpu[key].as_str().expect(key);
        assert!(t.ends_with('Z') && t.len() == 24, "{key}: {t}");
    }
    assert!(cpu["endsAt"].as_str() > cpu["updatedAt"].as_str(), "a firing alert ends in the future");
    // Sorted by fingerprint, as Alertmanager does.
    assert!(alerts[0]["fingerprint"].as_str() < alerts[1]["fingerprint"].as_str());

    let (_, one) = r.get("/api/v2/alerts?filter=alertname%3D%22BatteryLow%22").await;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["labels"]["alertname"], "BatteryLow");
    let (_, re) = r.get("/api/v2/alerts?filter=severity%3D~%22high%7Ccritical%22&filter=category%21%3Dother").await;
    assert_eq!(re.as_array().map(Vec::len), Some(1));
    let (_, none) = r.get("/api/v2/alerts?receiver=pager.*").await;
    assert_eq!(none, json!([]));
    let (_, inactive) = r.get("/api/v2/alerts?active=false").await;
    assert_eq!(inactive, json!([]), "nothing is suppressed");
    let (code, receivers) = r.get("/api/v2/receivers").await;
    assert_eq!((code, receivers), (200, json!([{"name": "inbox"}])));
}

#[tokio::test]
async fn writes_are_refused_without_a_configured_token_and_the_refusal_says_why() {
    let r = rig(ApiOptions::default()).await;
    r.fire_both().await;
    let body =
        silence_body(json!([{"name": "alertname", "value": "CpuHot", "isRegex": false}]), &rfc3339(0), &rfc3339(3600));
    let (code, msg) = r.send(reqwest::Method::POST, "/api/v2/silences", Some(TOKEN), Some(body)).await;
    assert_eq!(code, 403);
    assert!(msg.as_str().is_some_and(|m| m.contains("BITCRAPS_ADMIN_TOKEN") && m.contains("reads stay open")), "{msg}");
    let fp = r.alerting.alerts()[0].fingerprint.to_string();
    let (code, _) = r.send(reqwest::Method::POST, &format!("/api/bitcraps/v1/alerts/{fp}/ack"), None, None).await;
    assert_eq!(code, 403);
    assert!(r.alerting.silences().is_empty() && !r.alerting.alerts()[0].acknowledged, "nothing changed");
    assert_eq!(r.get("/api/v2/silences").await, (200, json!([])), "reads stay open");
}

#[tokio::test]
async fn a_silence_made_through_the_api_suppresses_notifications_until_it_is_expired() {
    let r = rig(ApiOptions::default().with_admin_token(TOKEN)).await;
    let body = silence_body(
        json!([{"name": "alertname", "value": "Cpu.*", "isRegex": true}, {"name": "severity", "value": "low", "isRegex": false, "isEqual": false}]),
        &rfc3339(-60),
        &rfc3339(3600),
    );
    let (code, wrong) = r.send(reqwest::Method::POST, "/api/v2/silences", Some("not-it"), Some(body.clone())).await;
    assert_eq!(code, 401, "{wrong}");
    let (code, created) = r.send(reqwest::Method::POST, "/api/v2/silences", Some(TOKEN), Some(body)).await;
    assert_eq!(code, 200, "{created}");
    let id = created["silenceID"].as_str().expect("silenceID").to_string();

    r.fire_both().await;
    let told: Vec<String> = r.inbox.take().iter().flat_map(|n| n.firing.iter().map(|a| a.rule.clone())).collect();
    assert_eq!(told, vec!["BatteryLow".to_string()], "CpuHot is silenced");
    let (_, alerts) = r.get("/api/v2/alerts").await;
    let cpu = alerts.as_array().and_then(|a| a.iter().find(|x| x["labels"]["alertname"] == "CpuHot")).expect("listed");
    assert_eq!(cpu["status"], json!({"state": "suppressed", "silencedBy": [id], "inhibitedBy": []}));
    let (_, unsilenced) = r.get("/api/v2/alerts?silenced=false").await;
    assert_eq!(unsilenced.as_array().map(Vec::len), Some(1));

    let (_, listed) = r.get("/api/v2/silences?filter=alertname%3D~%22Cpu.%2A%22").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    let s = &listed[0];
    assert_eq!((s["id"].as_str(), &s["status"]), (Some(id.as_str()), &json!({"state": "active"})));
    assert_eq!(s["matchers"][1], json!({"name": "severity", "value": "low", "isRegex": false, "isEqual": false}));
    assert!(s["startsAt"].as_str() > Some(rfc3339(-30).as_str()), "a start in the past becomes now");
    let (_, other) = r.get("/api/v2/silences?filter=alertname%3D%22CpuHot%22").await;
    assert_eq!(other, json!([]), "filters compare matchers, not alerts");

    let (code, _) = r.send(reqwest::Method::DELETE, &format!("/api/v2/silence/{id}"), Some(TOKEN), None).await;
    assert_eq!(code, 200);
    let (code, expired) = r.get(&format!("/api/v2/silence/{id}")).await;
    assert_eq!((code, &expired["status"]["state"]), (200, &json!("expired")));
    r.alerting.evaluate_now().await.expect("cycle");
    let told: Vec<String> = r.inbox.take().iter().flat_map(|n| n.firing.iter().map(|a| a.rule.clone())).collect();
    assert_eq!(told, vec!["CpuHot".to_string()], "heard of once the silence is gone");
}

#[tokio::test]
async fn acknowledging_through_the_api_marks_the_alert() {
    let r = rig(ApiOptions::default().with_admin_token(TOKEN)).await;
    r.fire_both().await;
    let fp = r.alerting.alerts().iter().find(|a| a.rule == "CpuHot").expect("firing").fingerprint.to_string();
    let (code, body) =
        r.send(reqwest::Method::POST, &format!("/api/bitcraps/v1/alerts/{fp}/ack"), Some(TOKEN), None).await;
    assert_eq!((code, body), (200, json!({"fingerprint": fp, "acknowledged": true})));
    assert!(r.alerting.alerts().iter().any(|a| a.rule == "CpuHot" && a.acknowledged));
    let (_, alerts) = r.get("/api/v2/alerts?filter=alertname%3DCpuHot").await;
    assert_eq!(alerts[0]["annotations"]["acknowledged"], "true");
    let (code, msg) =
        r.send(reqwest::Method::POST, "/api/bitcraps/v1/alerts/00000000000000ff/ack", Some(TOKEN), None).await;
    assert_eq!(code, 404, "{msg}");
    let (code, msg) = r.send(reqwest::Method::POST, "/api/bitcraps/v1/alerts/zz%0A/ack", Some(TOKEN), None).await;
    assert_eq!(code, 400);
    assert!(msg.as_str().is_some_and(|m| m.contains("16 hex digits") && !m.contains('\n')), "{msg}");
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_reason_and_change_nothing() {
    let r = rig(ApiOptions::default().with_admin_token(TOKEN)).await;
    let post = |body: Value| r.send(reqwest::Method::POST, "/api/v2/silences", Some(TOKEN), Some(body));
    let m = json!([{"name": "alertname", "value": "X", "isRegex": false}]);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "regex that does not compile",
            silence_body(json!([{"name": "a", "value": "(", "isRegex": true}]), &rfc3339(0), &rfc3339(60)),
            400,
            "invalid regular expression",
        ),
        (
            "matches everything",
            silence_body(json!([{"name": "a", "value": ".*", "isRegex": true}]), &rfc3339(0), &rfc3339(60)),
            400,
            "must not match the empty string",
        ),
        ("no matchers", silence_body(json!([]), &rfc3339(0), &rfc3339(60)), 400, "at least one matcher"),
        (
            "ends before it starts",
            silence_body(m.clone(), &rfc3339(60), &rfc3339(0)),
            400,
            "start time must be before end time",
        ),
        ("ended already", silence_body(m.clone(), &rfc3339(-120), &rfc3339(-60)), 400, "end time can't be in the past"),
        ("not a date", silence_body(m.clone(), "yesterday", &rfc3339(60)), 400, "RFC 3339"),
        (
            "bad label name",
            silence_body(json!([{"name": "a.b", "value": "x", "isRegex": false}]), &rfc3339(0), &rfc3339(60)),
            400,
            "invalid label name",
        ),
        ("missing field", json!({"matchers": m}), 400, "startsAt"),
        (
            "unknown id",
            {
                let mut b = silence_body(m.clone(), &rfc3339(0), &rfc3339(60));
                b["id"] = json!("nope");
                b
            },
            404,
            "silence not found",
        ),
    ];
    for (what, body, code, needle) in cases {
        let (got, msg) = post(body).await;
        assert_eq!(got, code, "{what}: {msg}");
        assert!(msg.as_str().is_some_and(|s| s.contains(needle)), "{what}: {msg}");
    }
    assert!(r.alerting.silences().is_empty(), "nothing was created");
    for (path, needle) in [
        ("/api/v2/alerts?filter=nonsense", "bad matcher format"),
        ("/api/v2/alerts?active=perhaps", "not a boolean"),
        ("/api/v2/alerts?receiver=(", "receiver"),
        ("/api/v2/silences?filter=a%3D~%22(%22", "invalid regular expression"),
    ] {
        let (code, msg) = r.get(path).await;
        assert_eq!(code, 400, "{path}: {msg}");
        assert!(msg.as_str().is_some_and(|s| s.contains(needle)), "{path}: {msg}");
    }
    let (code, _) = r.send(reqwest::Method::DELETE, "/api/v2/silence/nope", Some(TOKEN), None).await;
    assert_eq!(code, 404);
    assert_eq!(r.get("/api/v2/silence/nope").await.0, 404);
    assert_eq!(r.get("/api/v2/nothing-here").await.0, 404);
    let resp = r
        .http
        .post(format!("{}/api/v2/silences", r.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(vec![b' '; api::MAX_BODY_BYTES + 1])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 413, "bodies are bounded");
    let resp = r
        .http
        .post(format!("{}/api/v2/silences", r.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn the_api_mounts_next_to_the_probes_on_the_health_server() {
    let checker = bitcraps_otel::health::HealthChecker::new(Duration::from_secs(1), Duration::from_secs(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let router = bitcraps_otel::health::router(checker.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = reqwest::Client::new();
    let get = |path: &'static str| http.get(format!("http://{addr}{path}")).send();
    assert_eq!(get("/api/v2/status").await.expect("GET").status().as_u16(), 404, "nothing mounted yet");
    let alerting = Arc::new(AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() }));
    alerting.add_notifier("log", Arc::new(LogNotifier));
    checker.mount(api::router(alerting, ApiOptions { name: Some("node-7".into()), ..Default::default() }));
    let status: Value = get("/api/v2/status").await.expect("GET").json().await.expect("json");
    assert_eq!(status["cluster"], json!({"name": "node-7", "status": "disabled", "peers": []}));
    assert_eq!(status["versionInfo"]["version"], "0.25.0");
    let original = status["config"]["original"].as_str().expect("config");
    assert!(original.contains("receiver: log"), "{original}");
    assert_eq!(get("/health").await.expect("GET").status().as_u16(), 200, "probes keep precedence");
    assert_eq!(get("/ready").await.expect("GET").status().as_u16(), 200);
    let post = http.post(format!("http://{addr}/health")).send().await.expect("POST");
    assert_eq!(post.status().as_u16(), 405, "still the probes' own 405");
}
