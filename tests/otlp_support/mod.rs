//! A loopback OTLP collector for tests: gRPC (tonic) and HTTP/protobuf (axum) receivers for all
//! three signals, in plain text or TLS (optionally requiring a client certificate), that record
//! each request with its headers and declared compression; a generated CA with server and
//! client certificates; and a collector that accepts connections and never answers.
#![allow(dead_code)] // each test file uses part of it

use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codec::CompressionEncoding;

/// One decoded request.
#[derive(Clone, Debug)]
pub enum Body {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// `traces`, `metrics` or `logs`.
    pub signal: &'static str,
    /// Request headers (gRPC metadata), names lower-case.
    pub headers: Vec<(String, String)>,
    /// `grpc-encoding` or `content-encoding`, when the body was compressed.
    pub encoding: Option<String>,
    /// The HTTP path (`/v1/metrics`) or gRPC method path.
    pub path: String,
    pub body: Body,
}

impl Arrival {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Everything a receiver got.
#[derive(Clone, Default)]
pub struct Collector(Arc<Mutex<Vec<Arrival>>>);

impl Collector {
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn of(&self, signal: &str) -> Vec<Arrival> {
        self.arrivals().into_iter().filter(|a| a.signal == signal).collect()
    }
    fn push(&self, a: Arrival) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(a);
    }
    /// Waits (polling, up to `limit`) until `f` holds for what arrived.
    pub async fn wait_until(&self, limit: Duration, f: impl Fn(&[Arrival]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if f(&self.arrivals()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn grpc_arrival<T>(signal: &'static str, request: tonic::Request<T>, wrap: fn(T) -> Body) -> Arrival {
    let headers: Vec<(String, String)> = request
        .metadata()
        .clone()
        .into_headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let encoding = headers.iter().find(|(k, _)| k == "grpc-encoding").map(|(_, v)| v.clone());
    Arrival { signal, headers, encoding, path: format!("grpc:{signal}"), body: wrap(request.into_inner()) }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.push(grpc_arrival("traces", request, Body::Traces));
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.push(grpc_arrival("metrics", request, Body::Metrics));
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.push(grpc_arrival("logs", request, Body::Logs));
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None }))
    }
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// A gRPC collector; `tls` makes it `https://` (requiring a client certificate when the PKI
/// says so). Returns the endpoint URL.
pub async fn grpc(collector: Collector, tls: Option<&ServerTls>) -> String {
    let (l, addr) = listener().await;
    let mut server = tonic::transport::Server::builder();
    let scheme = match tls {
        Some(t) => {
            let mut cfg = tonic::transport::ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(&t.cert_pem, &t.key_pem));
            if let Some(ca) = &t.client_ca_pem {
                cfg = cfg.client_ca_root(tonic::transport::Certificate::from_pem(ca));
            }
            server = server.tls_config(cfg).expect("server tls");
            "https"
        }
        None => "http",
    };
    let c = collector;
    let router = server
        .add_service(
            TraceServiceServer::new(c.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        )
        .add_service(
            MetricsServiceServer::new(c.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        )
        .add_service(
            LogsServiceServer::new(c)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        );
    tokio::spawn(router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l)));
    format!("{scheme}://{addr}")
}

fn decompress(headers: &HeaderMap, body: &[u8]) -> Result<(Option<String>, Vec<u8>), String> {
    use std::io::Read as _;
    let encoding = headers.get("content-encoding").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = match encoding.as_deref() {
        None | Some("identity") => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).map_err(|e| e.to_string())?;
            out
        }
        Some("zstd") => zstd::decode_all(body).map_err(|e| e.to_string())?,
        Some(other) => return Err(format!("unknown encoding {other}")),
    };
    Ok((encoding, bytes))
}

/// The axum app of an HTTP/protobuf collector: `POST {prefix}/v1/{signal}`.
pub fn http_app(collector: Collector, prefix: &str) -> axum::Router {
    let route = |signal: &'static str| {
        let c = collector.clone();
        axum::routing::post(move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| async move {
            let (encoding, bytes) = match decompress(&headers, &body) {
                Ok(d) => d,
                Err(e) => return (StatusCode::BAD_REQUEST, e.into_bytes()),
            };
            let decoded = match signal {
                "traces" => ExportTraceServiceRequest::decode(bytes.as_slice()).map(Body::Traces),
                "metrics" => ExportMetricsServiceRequest::decode(bytes.as_slice()).map(Body::Metrics),
                _ => ExportLogsServiceRequest::decode(bytes.as_slice()).map(Body::Logs),
            };
            let Ok(body) = decoded else { return (StatusCode::BAD_REQUEST, b"undecodable".to_vec()) };
            let headers = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            c.push(Arrival { signal, headers, encoding, path: uri.path().to_string(), body });
            // Every Export*ServiceResponse with no partial success encodes to nothing.
            (StatusCode::OK, Vec::new())
        })
    };
    axum::Router::new()
        .route(&format!("{prefix}/v1/traces"), route("traces"))
        .route(&format!("{prefix}/v1/metrics"), route("metrics"))
        .route(&format!("{prefix}/v1/logs"), route("logs"))
}

/// An HTTP/protobuf collector; `tls` makes it `https://`. Returns the base URL.
pub async fn http(collector: Collector, tls: Option<&ServerTls>) -> String {
    let (l, addr) = listener().await;
    let app = http_app(collector, "");
    match tls {
        None => {
            tokio::spawn(async move { axum::serve(l, app).await });
            format!("http://{addr}")
        }
        Some(t) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(t.rustls_config()));
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = l.accept().await else { return };
                    let (acceptor, app) = (acceptor.clone(), app.clone());
                    tokio::spawn(async move {
                        // A client without the right certificate fails here; that is the point.
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
            format!("https://{addr}")
        }
    }
}

/// A collector that accepts connections and never answers. Returns `http://addr`.
pub async fn hanging() -> String {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

/// Server TLS material (and the CA client certificates must chain to, for mutual TLS).
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    pub client_ca_pem: Option<String>,
    client_ca_der: Option<Vec<u8>>,
}

impl ServerTls {
    fn rustls_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = match &self.client_ca_der {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(CertificateDer::from(ca.clone())).expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .expect("verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("server certificate");
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        cfg
    }
}

/// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate, all generated;
/// the PEM files the exporter reads are written to a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    ca_pem: String,
    ca_der: Vec<u8>,
    server: (String, String, Vec<u8>, Vec<u8>),
}

impl Pki {
    pub fn generate() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "bitcraps-otel test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &issuer).expect("sign");
            (cert.pem(), key.serialize_pem(), cert.der().to_vec(), key.serialize_der())
        };
        let server = leaf(vec!["127.0.0.1".into(), "localhost".into()], "collector");
        let client = leaf(vec!["bitcraps-node".into()], "bitcraps-node");
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).expect("write pem");
            p
        };
        Pki {
            ca_file: write("ca.pem", &ca_cert.pem()),
            client_cert_file: write("client.pem", &client.0),
            client_key_file: write("client-key.pem", &client.1),
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            server,
            dir,
        }
    }

    /// The server side; `mutual` requires a client certificate signed by the CA.
    pub fn server(&self, mutual: bool) -> ServerTls {
        ServerTls {
            cert_pem: self.server.0.clone(),
            key_pem: self.server.1.clone(),
            cert_der: self.server.2.clone(),
            key_der: self.server.3.clone(),
            client_ca_pem: mutual.then(|| self.ca_pem.clone()),
            client_ca_der: mutual.then(|| self.ca_der.clone()),
        }
    }
}
