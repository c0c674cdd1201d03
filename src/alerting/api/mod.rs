//! The operators' way in: a subset of Alertmanager's API v2 over the alert engine, so `amtool`
//! and anything else that speaks it can list alerts and manage silences on a node, plus an
//! acknowledgement endpoint of our own. Mount it on the health server with
//! [`crate::health::HealthChecker::mount`].
//!
//! | method and path | what | writes |
//! |---|---|---|
//! | `GET /api/v2/status` | version, uptime, the routing tree as Alertmanager configuration | |
//! | `GET /api/v2/receivers` | the channel names | |
//! | `GET /api/v2/alerts` | firing alerts (`active`, `silenced`, `inhibited`, `filter`, `receiver`) | |
//! | `GET /api/v2/silences` | silences (`filter`) | |
//! | `POST /api/v2/silences` | create or update a silence | yes |
//! | `GET /api/v2/silence/{id}` | one silence | |
//! | `DELETE /api/v2/silence/{id}` | expire a silence | yes |
//! | `POST /api/bitcraps/v1/alerts/{fingerprint}/ack` | acknowledge a firing alert | yes |
//!
//! Writes need `Authorization: Bearer <token>` with the token of [`ApiOptions::admin_token`]
//! (the node reads it from `BITCRAPS_ADMIN_TOKEN`). Without a token configured every write is
//! refused (403, saying why) and reads stay open. Every request is logged (target
//! `bitcraps_otel::alerting::api`: method, path without its query, status, time, who) and the
//! token never is.
//!
//! ```
//! use std::sync::Arc;
//! use bitcraps_otel::alerting::api::{self, ApiOptions};
//! use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
//!
//! let alerting = Arc::new(AlertingSystem::new(AlertingConfig::default()));
//! let options = ApiOptions::default().with_admin_token("s3cret-t0ken");
//! let router: axum::Router = api::router(Arc::clone(&alerting), options);
//! # let _ = router;
//! ```

mod alerts;
mod auth;
mod query;
mod silences;
mod status;

use super::channels::Secret;
use super::AlertingSystem;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::SystemTime;

/// Largest request body the API reads (a silence with 64 long matchers fits).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The environment variable the node reads the admin token from.
pub const ADMIN_TOKEN_ENV: &str = "BITCRAPS_ADMIN_TOKEN";

/// How the API is served.
#[derive(Clone, Debug, Default)]
pub struct ApiOptions {
    /// The bearer token writes must carry; `None` refuses every write.
    pub admin_token: Option<Secret>,
    /// Shown as the cluster name in `/api/v2/status` (e.g. the node id).
    pub name: Option<String>,
}

impl ApiOptions {
    /// With `token` as the admin token (a blank token counts as none).
    pub fn with_admin_token(mut self, token: impl Into<String>) -> Self {
        let token = Secret::new(token.into());
        self.admin_token = (!token.is_empty()).then_some(token);
        self
    }

    /// The token from [`ADMIN_TOKEN_ENV`], if set and not blank. A value that is not UTF-8
    /// is an error naming the variable (never a silent fallback to "no token").
    pub fn from_env() -> Result<Self, ApiConfigError> {
        match std::env::var(ADMIN_TOKEN_ENV) {
            Ok(v) => Ok(ApiOptions::default().with_admin_token(v)),
            Err(std::env::VarError::NotPresent) => Ok(ApiOptions::default()),
            Err(std::env::VarError::NotUnicode(_)) => Err(ApiConfigError::NotUnicode(ADMIN_TOKEN_ENV)),
        }
    }
}

/// The API cannot be configured as asked.
#[derive(Debug, thiserror::Error)]
pub enum ApiConfigError {
    /// An environment variable holds bytes that are not UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUnicode(&'static str),
}

/// What every handler reads.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) system: Arc<AlertingSystem>,
    pub(crate) options: Arc<ApiOptions>,
    pub(crate) started: SystemTime,
}

/// The API's routes over `system`.
pub fn router(system: Arc<AlertingSystem>, options: ApiOptions) -> Router {
    let state = ApiState { system, options: Arc::new(options), started: super::wallclock::now() };
    Router::new()
        .route("/api/v2/status", get(status::status))
        .route("/api/v2/receivers", get(status::receivers))
        .route("/api/v2/alerts", get(alerts::list))
        .route("/api/v2/silences", get(silences::list).post(silences::post))
        .route("/api/v2/silence/{id}", get(silences::get_one).delete(silences::delete))
        .route("/api/bitcraps/v1/alerts/{fingerprint}/ack", post(alerts::acknowledge))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint (see the alerting API table in the README)")
}

/// An error as Alertmanager sends one: a JSON string.
pub(crate) fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(message.into())).into_response()
}
