//! Logging through a captured (non-global) subscriber: the JSON line layout, the pretty
//! format, per-module levels, bad directives, redaction of every secret name, the macros'
//! events, and correlation contexts that never mix between concurrent tasks.

use bitcraps_otel::config::LogFormat;
use bitcraps_otel::logging::pipeline::ScrubbingSpanProcessor;
use bitcraps_otel::logging::{
    CorrelationContext, LoggingBuilder, LoggingError, Redactor, DEFAULT_SECRET_FIELDS, REDACTED,
};
use bitcraps_otel::{Config, ConfigBuilder, ConfigError};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::instrument::WithSubscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8 output")
    }
    /// Every line, each parsed as one JSON object.
    fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

fn capture(builder: LoggingBuilder) -> (impl tracing::Subscriber + Send + Sync, Buffer) {
    let buffer = Buffer::default();
    let sink = buffer.clone();
    (builder.build_subscriber(move || sink.clone()).expect("subscriber"), buffer)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[test]
fn json_lines_carry_every_field() {
    let (subscriber, out) = capture(LoggingBuilder::new().filter("debug"));
    let ctx = CorrelationContext::new()
        .with_user_id("user_123")
        .with_game_id("game_456")
        .with_peer_id("peer_9f2c")
        .with_request_id("req-1");
    let mut span_ids = None;
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "bitcraps::outside", "before any span");
        let _c = ctx.clone().enter();
        let game = tracing::info_span!("game", game_type = "cash");
        let _g = game.enter();
        let round = tracing::debug_span!("round", round = 5);
        let _r = round.enter();
        let sc = round.context().span().span_context().clone();
        span_ids = Some((sc.trace_id().to_string(), sc.span_id().to_string()));
        tracing::info!(target: "bitcraps::table", bets = 3, winner = "alice", ratio = 0.5, ok = true, "round \"settled\"");
    });
    let lines = out.json_lines();
    assert_eq!(lines.len(), 2, "{}", out.text());

    let outside = &lines[0];
    assert_eq!(outside["message"], "before any span");
    for absent in ["spans", "trace_id", "span_id", "correlation_id", "fields"] {
        assert!(outside.get(absent).is_none(), "{absent} in {outside}");
    }

    let line = &lines[1];
    let ts = line["timestamp"].as_str().expect("timestamp");
    humantime::parse_rfc3339(ts).unwrap_or_else(|e| panic!("not RFC 3339: {ts}: {e}"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], "bitcraps::table");
    assert_eq!(line["message"], "round \"settled\"");
    assert_eq!(line["fields"], serde_json::json!({"bets": 3, "winner": "alice", "ratio": 0.5, "ok": true}));
    assert_eq!(
        line["spans"],
        serde_json::json!([{"name": "game", "game_type": "cash"}, {"name": "round", "round": 5}])
    );
    let (trace_id, span_id) = span_ids.expect("span ids");
    assert!(is_hex(&trace_id, 32) && is_hex(&span_id, 16), "{trace_id} {span_id}");
    assert_eq!(line["trace_id"], trace_id.as_str());
    assert_eq!(line["span_id"], span_id.as_str());
    assert_eq!(line["correlation_id"], ctx.correlation_id());
    assert!(is_hex(ctx.correlation_id(), 32));
    assert_eq!(line["user_id"], "user_123");
    assert_eq!(line["game_id"], "game_456");
    assert_eq!(line["peer_id"], "peer_9f2c");
    assert_eq!(line["request_id"], "req-1");
}

#[test]
fn pretty_format_is_one_readable_line() {
    let (subscriber, out) = capture(LoggingBuilder::new().format(LogFormat::Pretty));
    tracing::subscriber::with_default(subscriber, || {
        let _c = CorrelationContext::with_correlation_id("c-1").enter();
        let _s = tracing::info_span!("round", round = 5).entered();
        tracing::warn!(target: "bitcraps::table", bets = 3, token = "t0p", "slow round");
    });
    let text = out.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(" WARN round{round=5}: bitcraps::table: slow round bets=3 token=[REDACTED]"), "{text}");
    assert!(text.contains("correlation_id=c-1") && text.contains(" trace_id="), "{text}");
    assert!(serde_json::from_str::<Value>(text.trim()).is_err());
}

#[test]
fn levels_per_module_come_from_directives() {
    let (subscriber, out) = capture(LoggingBuilder::new().filter("warn,bitcraps_otel::alerting=debug"));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!(target: "bitcraps_otel::alerting::rules", "alerting debug");
        tracing::trace!(target: "bitcraps_otel::alerting::rules", "alerting trace");
        tracing::info!(target: "bitcraps_otel::metrics", "metrics info");
        tracing::warn!(target: "bitcraps_otel::metrics", "metrics warn");
    });
    let messages: Vec<String> = out.json_lines().iter().map(|l| l["message"].as_str().unwrap_or("").into()).collect();
    assert_eq!(messages, ["alerting debug", "metrics warn"]);
}

#[test]
fn config_reads_logging_variables() {
    let vars = [
        ("RUST_LOG", "debug"),
        ("BITCRAPS_LOG", "info,bitcraps_otel::alerting=debug"),
        ("BITCRAPS_LOG_FORMAT", "pretty"),
        ("BITCRAPS_LOG_REDACT", "pin, seed_phrase"),
        ("BITCRAPS_LOG_INSTALL", "false"),
    ];
    let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    let c = ConfigBuilder::from_lookup(get).build().expect("valid");
    assert_eq!(c.log_filter(), "info,bitcraps_otel::alerting=debug", "BITCRAPS_LOG wins over RUST_LOG");
    assert_eq!(c.log_format(), LogFormat::Pretty);
    assert_eq!(c.redacted_fields(), ["pin", "seed_phrase"]);
    assert!(!c.installs_logging());
    let only_rust_log = ConfigBuilder::from_lookup(|k| (k == "RUST_LOG").then(|| "warn".to_string())).build();
    assert_eq!(only_rust_log.expect("valid").log_filter(), "warn");
    let d = Config::builder().build().expect("defaults");
    assert_eq!((d.log_filter(), d.log_format(), d.installs_logging()), ("info", LogFormat::Json, true));
}

#[test]
fn a_bad_level_directive_is_an_error() {
    for bad in ["info,bitcraps_otel=loud", "bitcraps_otel[{=info", "=debug,", "info,x=trace=3"] {
        let err = Config::builder().log_filter(bad).build().expect_err(bad);
        assert!(matches!(&err, ConfigError::LogFilter { field: "log_filter", value, .. } if value == bad), "{err:?}");
        let env = ConfigBuilder::from_lookup(|k| (k == "RUST_LOG").then(|| bad.to_string())).build();
        let err = env.expect_err(bad);
        assert!(err.to_string().starts_with("RUST_LOG") && err.to_string().contains(bad), "{err}");
        let err = LoggingBuilder::new().filter(bad).build_layer(std::io::sink).err().expect("layer error");
        assert!(matches!(err, LoggingError::Filter { .. }), "{err:?}");
    }
    let format = ConfigBuilder::from_lookup(|k| (k == "BITCRAPS_LOG_FORMAT").then(|| "xml".to_string())).build();
    assert!(format.expect_err("xml").to_string().starts_with("BITCRAPS_LOG_FORMAT"));
    let redact = Config::builder().redact_field("a b").build().expect_err("space");
    assert!(redact.to_string().starts_with("redact_field"), "{redact}");
}

/// Logs one event and one span carrying the named field, for a literal field name.
macro_rules! secret_case {
    ($name:ident) => {{
        let value = concat!("s3cr3t-", stringify!($name));
        let span = tracing::info_span!("login", $name = value, user = "bob");
        let _e = span.enter();
        tracing::info!($name = value, user = "bob", "login attempt");
        (stringify!($name), value)
    }};
}

#[test]
fn redaction_holds_for_each_listed_name() {
    let redactor = Redactor::new(["seed_phrase"]);
    let (subscriber, out) = capture(LoggingBuilder::new().redactor(redactor.clone()));
    let mut cases = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        cases.push(secret_case!(password));
        cases.push(secret_case!(passwd));
        cases.push(secret_case!(secret));
        cases.push(secret_case!(token));
        cases.push(secret_case!(api_key));
        cases.push(secret_case!(apikey));
        cases.push(secret_case!(authorization));
        cases.push(secret_case!(cookie));
        cases.push(secret_case!(private_key));
        cases.push(secret_case!(seed_phrase));
    });
    let covered: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    for name in DEFAULT_SECRET_FIELDS {
        assert!(covered.contains(name), "{name} not exercised");
    }
    let text = out.text();
    let lines = out.json_lines();
    assert_eq!(lines.len(), cases.len());
    for ((name, value), line) in cases.iter().zip(&lines) {
        assert!(!text.contains(value), "{value} leaked");
        assert_eq!(line["fields"][name], REDACTED, "{line}");
        assert_eq!(line["fields"]["user"], "bob");
        assert_eq!(line["spans"][0][name], REDACTED, "{line}");
    }
}

/// Collects ended spans.
#[derive(Clone, Debug, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Collect {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().expect("lock").push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    // The last value set wins (the SDK appends on record).
    span.attributes.iter().rev().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

#[test]
fn secret_span_attributes_are_redacted_before_export() {
    let spans = Collect::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(ScrubbingSpanProcessor::new(spans.clone(), Redactor::default()))
        .build();
    let (subscriber, _out) = capture(LoggingBuilder::new().tracer_provider(provider));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("login", authorization = "Bearer abc", user = "bob");
        let _e = span.enter();
        span.record("user", "carol");
        tracing::info!(cookie = "sid=1", "set");
    });
    let ended = spans.0.lock().expect("lock").clone();
    assert_eq!(ended.len(), 1);
    assert_eq!(attr(&ended[0], "authorization").as_deref(), Some(REDACTED));
    assert_eq!(attr(&ended[0], "user").as_deref(), Some("carol"));
    let event = &ended[0].events.events[0];
    let cookie = event.attributes.iter().find(|kv| kv.key.as_str() == "cookie").expect("cookie attribute");
    assert_eq!(cookie.value.to_string(), REDACTED);
}

#[test]
fn macros_log_structured_events() {
    let (subscriber, out) = capture(LoggingBuilder::new());
    tracing::subscriber::with_default(subscriber, || {
        let duration = Duration::from_millis(40);
        bitcraps_otel::log_performance!("consensus_decision", duration);
        bitcraps_otel::log_business_event!("game_completed", game_id = "123", winner = "alice");
        bitcraps_otel::log_security_event!("invalid_signature", user_id = "bob", ip = "192.168.1.1", token = "x");
    });
    let lines = out.json_lines();
    assert_eq!(lines.len(), 3, "{}", out.text());
    let (perf, business, security) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(perf["level"], "INFO");
    assert_eq!(perf["target"], module_path!());
    assert_eq!(perf["fields"]["event.category"], "performance");
    assert_eq!(perf["fields"]["operation"], "consensus_decision");
    assert_eq!(perf["fields"]["duration_ms"], 40.0);
    assert_eq!(business["level"], "INFO");
    assert_eq!(business["message"], "game_completed");
    assert_eq!(business["fields"]["event.category"], "business");
    assert_eq!(business["fields"]["event.name"], "game_completed");
    assert_eq!(business["fields"]["winner"], "alice");
    assert_eq!(security["level"], "WARN");
    assert_eq!(security["fields"]["event.category"], "security");
    assert_eq!(security["fields"]["event.name"], "invalid_signature");
    assert_eq!(security["fields"]["ip"], "192.168.1.1");
    assert_eq!(security["fields"]["token"], REDACTED);
}

#[test]
fn concurrent_tasks_never_mix_correlation_ids() {
    let spans = Collect::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(ScrubbingSpanProcessor::new(spans.clone(), Redactor::default()))
        .build();
    let (subscriber, out) = capture(LoggingBuilder::new().tracer_provider(provider));
    let dispatch = tracing::Dispatch::new(subscriber);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime");
    const ROUNDS: usize = 200;
    const EVENTS: usize = 10;
    let mut expected = std::collections::HashMap::new();
    rt.block_on(async {
        for round in 0..ROUNDS {
            let mut tasks = Vec::new();
            for side in ["a", "b"] {
                let task = format!("{round}-{side}");
                let ctx = CorrelationContext::new().with_user_id(format!("user-{task}"));
                expected.insert(task.clone(), ctx.correlation_id().to_string());
                let dispatch = dispatch.clone();
                let scoped = ctx.clone().scope(async move {
                    let span = tracing::info_span!("task", task = %task);
                    async {
                        for i in 0..EVENTS {
                            tracing::info!(task = %task, i, "step");
                            let seen = CorrelationContext::current().map(|c| c.correlation_id().to_string());
                            assert_eq!(seen.as_deref(), Some(ctx.correlation_id()), "task {task} saw another context");
                            tokio::task::yield_now().await;
                        }
                    }
                    .instrument(span)
                    .await;
                });
                tasks.push(tokio::spawn(scoped.with_subscriber(dispatch)));
            }
            for t in tasks {
                t.await.expect("task");
            }
        }
    });
    let lines = out.json_lines();
    assert_eq!(lines.len(), ROUNDS * 2 * EVENTS);
    for line in &lines {
        let task = line["fields"]["task"].as_str().expect("task field");
        assert_eq!(line["correlation_id"], expected[task].as_str(), "{line}");
        assert_eq!(line["user_id"], format!("user-{task}"), "{line}");
    }
    let ended = spans.0.lock().expect("lock").clone();
    assert_eq!(ended.len(), ROUNDS * 2);
    for span in &ended {
        let task = attr(span, "task").expect("task attribute");
        assert_eq!(attr(span, "bitcraps.correlation.id").as_deref(), Some(expected[&task].as_str()), "{task}");
        assert_eq!(attr(span, "bitcraps.user.id"), Some(format!("user-{task}")));
    }
    // With no context current, nothing is added.
    assert!(CorrelationContext::current().is_none());
}

#[test]
fn a_foreign_global_subscriber_is_a_clear_error() {
    // The only test in this binary touching the global default; the others use `with_default`.
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    let config = Config::builder().without_prometheus().without_health().build().expect("config");
    let err = bitcraps_otel::logging::init_logging_with(&config).expect_err("foreign subscriber");
    assert!(matches!(err, LoggingError::ForeignSubscriber), "{err:?}");
    assert!(err.to_string().contains("BITCRAPS_LOG_INSTALL=false"), "{err}");
    let err = bitcraps_otel::init_with(config).expect_err("init refuses too");
    assert!(matches!(err, bitcraps_otel::Error::Logging(LoggingError::ForeignSubscriber)), "{err:?}");
    let quiet = Config::builder().without_prometheus().without_health().without_logging().build().expect("config");
    bitcraps_otel::init_with(quiet).expect("init without logging").shutdown().expect("shutdown");
}

use tracing::Instrument as _;
