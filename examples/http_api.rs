//! Instrument a BitCraps service's HTTP API: one `.layer(ServerLayer::new(...))` on the axum
//! router gives OTel's `http.server.request.duration` (by route template, method, status and
//! error type) and `http.server.active_requests`, plus a SERVER span per request that continues
//! the caller's trace.
//!
//! `cargo run --example http_api`

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use bitcraps_otel::http::ServerLayer;
use bitcraps_otel::{init_with, Config};

async fn game(Path(id): Path<u64>) -> Result<String, StatusCode> {
    match id {
        0 => Err(StatusCode::NOT_FOUND),
        13 => Err(StatusCode::INTERNAL_SERVER_ERROR), // unlucky: recorded with error_type="500"
        id => Ok(format!("{{\"game\":{id}}}")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Loopback port 0: the example never collides with a running node.
    let config =
        Config::builder().service_name("http-api-example").prometheus_addr("127.0.0.1:0").without_health().build()?;
    let telemetry = init_with(config)?;

    let app = Router::new()
        .route("/games/{id}", get(game))
        .route("/bets", post(|| async { StatusCode::CREATED }))
        .route("/health", get(|| async { "ok" })) // excluded by default: probes are noise
        .layer(ServerLayer::new(telemetry.metrics()));

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        for path in ["/games/1", "/games/2", "/games/0", "/games/13", "/health", "/no-such-page"] {
            let status = client.get(format!("http://{addr}{path}")).send().await?.status();
            println!("GET {path} -> {status}");
        }
        client.post(format!("http://{addr}/bets")).send().await?;
        server.abort();
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;

    println!("\n# what Prometheus scrapes (request counts by route template, never by raw path):");
    let text = telemetry.render_prometheus().unwrap_or_default();
    for line in text.lines().filter(|l| l.starts_with("http_server_request_duration_seconds_count")) {
        println!("{line}");
    }
    telemetry.shutdown()?;
    Ok(())
}
