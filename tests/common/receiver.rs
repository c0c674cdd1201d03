//! A loopback HTTP server that answers every request `200` with an empty body (a valid empty
//! OTLP/HTTP response), or the status a test sets (a failing collector), and records what
//! reached it: the witness that an exporter sent something, or nothing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// One request: method, path, content type, body, and the status it was answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub body: Vec<u8>,
    pub status: u16,
}

/// The running receiver, on a runtime of its own (so sync tests can use it); stopped on drop.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<AtomicU16>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Everything received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Answers every later request with `status` (e.g. 503, a collector that is down).
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// `http://addr`, the base URL an OTLP/HTTP exporter is given.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts a receiver on `127.0.0.1:0`. Call it from synchronous code only (it owns a runtime).
pub fn start_receiver() -> Receiver {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("receiver runtime");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let (recorded, answer) = (Arc::clone(&seen), Arc::clone(&status));
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (recorded, answer) = (Arc::clone(&recorded), Arc::clone(&answer));
        async move {
            let content_type = req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let (method, path) = (req.method().to_string(), req.uri().path().to_string());
            let body = axum::body::to_bytes(req.into_body(), 64 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
            let status = answer.load(Ordering::SeqCst);
            recorded.lock().unwrap_or_else(|e| e.into_inner()).push(Seen { method, path, content_type, body, status });
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
        }
    });
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { addr, seen, status, _runtime: runtime }
}
