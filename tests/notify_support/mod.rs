//! Loopback pieces for the notification channel tests: an axum receiver that records every
//! request and answers from a script, notifications to send, metric and log capture.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bitcraps_otel::alerting::{AlertNotice, AlertReader, AlertSeverity, Fingerprint, Notification, Threshold};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// What the receiver answers: a status and headers, nothing at all (hang), or 200 once the
/// test releases the [`Gate`] (an explicit signal instead of a timing guess).
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16, Vec<(&'static str, &'static str)>),
    Hang,
    HoldUntil(Gate),
    /// This status, with the request's path, query, headers and body echoed back.
    Echo(u16),
}

/// Requests answered with [`Reply::HoldUntil`] wait here until [`Gate::open`].
#[derive(Clone, Debug)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Captured>,
    script: VecDeque<Reply>,
}

/// A recording HTTP server on 127.0.0.1; scripted replies first, then `default`.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    default: Reply,
}

impl Receiver {
    pub async fn start(default: Reply) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let r = Receiver { addr, inner: Arc::default(), default };
        let app = axum::Router::new().fallback(handle).with_state(r.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().expect("lock").script.extend(replies);
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.inner.lock().expect("lock").requests.clone()
    }

    /// Waits until `n` requests arrived (or `limit` passed) and returns them all.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Captured> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.requests()
    }
}

async fn handle(State(r): State<Receiver>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let echo = format!("{} {:?} {}", parts.uri, parts.headers, String::from_utf8_lossy(&body));
    let reply = {
        let mut inner = r.inner.lock().expect("lock");
        inner.requests.push(Captured {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            headers: parts.headers,
            body,
            at: Instant::now(),
        });
        inner.script.pop_front().unwrap_or_else(|| r.default.clone())
    };
    match reply {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Reply::HoldUntil(gate) => {
            gate.wait().await;
            StatusCode::OK.into_response()
        }
        Reply::Echo(code) => (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), echo).into_response(),
        Reply::Status(code, headers) => {
            let mut resp =
                (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), "{\"status\":\"ok\"}").into_response();
            for (k, v) in headers {
                resp.headers_mut().insert(HeaderName::from_static(k), HeaderValue::from_static(v));
            }
            resp
        }
    }
}

pub fn ok(code: u16) -> Reply {
    Reply::Status(code, vec![])
}

/// A loopback port that refuses connections: bound (so nobody else can take it while the
/// test runs) but never listening, so a connect gets a reset. Keep it alive while in use.
pub struct DeadAddr {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

pub fn dead_addr() -> DeadAddr {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    DeadAddr { addr: socket.local_addr().expect("addr"), _socket: socket }
}

pub fn notice(rule: &str, fp: u64, severity: AlertSeverity, value: f64) -> AlertNotice {
    let labels: BTreeMap<String, String> =
        [("alertname", rule), ("category", "gaming"), ("severity", severity.as_str()), ("node_id", "node-7")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    AlertNotice {
        fingerprint: Fingerprint(fp),
        rule: rule.into(),
        labels,
        description: "Gaming errors above 5%".into(),
        severity,
        value,
        threshold: Some(Threshold::GreaterThan(0.05)),
        tags: vec!["gaming".into()],
    }
}

/// Two `High Game Error Rate` alerts firing, as the engine would group them.
pub fn firing(channel: &str) -> Notification {
    Notification {
        channel: channel.into(),
        group: [("category".to_string(), "gaming".to_string()), ("severity".to_string(), "high".to_string())].into(),
        firing: vec![
            notice("High Game Error Rate", 0xabc1, AlertSeverity::High, 0.071),
            notice("High Game Error Rate", 0xabc2, AlertSeverity::Critical, 0.2),
        ],
        resolved: vec![],
        escalation_tier: 0,
    }
}

pub fn resolved(channel: &str) -> Notification {
    let mut n = firing(channel);
    n.resolved = std::mem::take(&mut n.firing);
    n.resolved.truncate(1);
    n
}

/// A counter's value for one `channel` label, from a reader's collection.
pub fn counter(reader: &AlertReader, name: &str, channel: &str) -> u64 {
    let rm = reader.collect().expect("collect");
    let mut total = 0;
    for scope in rm.scope_metrics() {
        for m in scope.metrics().filter(|m| m.name() == name) {
            if let AggregatedMetrics::U64(MetricData::Sum(s)) = m.data() {
                for p in s.data_points() {
                    if p.attributes()
                        .any(|kv| kv.key.as_str() == "bitcraps.alert.channel" && kv.value.as_str() == channel)
                    {
                        total += p.value();
                    }
                }
            }
        }
    }
    total
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// Installs a DEBUG subscriber writing here, for the current thread.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let buf = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || buf.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
