//! A loopback HTTP server that answers every request `200` with an empty body (a valid empty
//! OTLP/HTTP response) and records what reached it: the witness that an exporter sent
//! something, or nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request: method, path and content type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub content_type: String,
}

/// The running receiver, on a runtime of its own (so sync tests can use it); stopped on drop.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Everything received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    let recorded = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let recorded = Arc::clone(&recorded);
        async move {
            let content_type = req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let entry = Seen { method: req.method().to_string(), path: req.uri().path().to_string(), content_type };
            // Read the whole body, as a real receiver would, before answering.
            let _ = axum::body::to_bytes(req.into_body(), 64 << 20).await;
            recorded.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
            axum::http::StatusCode::OK
        }
    });
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { addr, seen, _runtime: runtime }
}
