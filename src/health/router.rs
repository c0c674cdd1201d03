//! The axum router: `GET /health` (liveness) and `GET /ready` (readiness), then whatever a
//! higher layer [mounted](HealthChecker::mount).

use super::HealthChecker;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Liveness {
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
}

/// `/health` answers 200 while the runtime serves requests; `/ready` answers 200 when every
/// critical check passes (degraded still 200) and 503 otherwise, naming each failing check.
/// Other methods on these two are 405; `HEAD` works on both. Other paths go to the mounted
/// routes, if any, else 404.
pub fn router(checker: HealthChecker) -> Router {
    Router::new().route("/health", get(liveness)).route("/ready", get(readiness)).fallback(mounted).with_state(checker)
}

async fn mounted(State(checker): State<HealthChecker>, req: axum::extract::Request) -> axum::response::Response {
    checker.mounted().serve(req).await
}

async fn liveness(State(checker): State<HealthChecker>) -> impl IntoResponse {
    // Answering at all is the liveness signal: a wedged runtime cannot run this handler.
    Json(Liveness { status: "ok", version: env!("CARGO_PKG_VERSION"), uptime_seconds: checker.uptime().as_secs_f64() })
}

async fn readiness(State(checker): State<HealthChecker>) -> impl IntoResponse {
    let report = checker.readiness().await;
    let code = if report.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(report))
}
