//! `GET/POST /api/v2/silences`, `GET/DELETE /api/v2/silence/{id}`: Alertmanager's silence
//! endpoints over the engine's [`Silences`](crate::alerting::Silences).

use super::query::parse_filters;
use super::{error, ApiState};
use crate::alerting::matcher::Matcher;
use crate::alerting::silence::{Silence, SilenceError, SilenceSpec, SilenceState};
use crate::alerting::wallclock;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

#[derive(Serialize)]
struct SilenceStatus {
    state: SilenceState,
}

/// Alertmanager's `gettableSilence`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableSilence {
    #[serde(flatten)]
    silence: Silence,
    status: SilenceStatus,
}

/// Alertmanager's `postableSilence`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<Matcher>,
    #[serde(with = "wallclock::rfc3339")]
    starts_at: SystemTime,
    #[serde(with = "wallclock::rfc3339")]
    ends_at: SystemTime,
    created_by: String,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

fn gettable(silence: Silence, now: SystemTime) -> GettableSilence {
    let state = silence.state(now);
    GettableSilence { silence, status: SilenceStatus { state } }
}

/// Whether every filter matcher appears, identically, among the silence's matchers.
fn listed_by(filter: &[Matcher], s: &Silence) -> bool {
    filter.iter().all(|f| s.matchers.iter().any(|m| m == f))
}

/// Active first (ending soonest first), then pending (starting soonest), then expired (most
/// recently ended first): Alertmanager's order.
fn order(a: &GettableSilence, b: &GettableSilence) -> std::cmp::Ordering {
    let (sa, sb) = (a.status.state, b.status.state);
    sa.cmp(&sb).then_with(|| match sa {
        SilenceState::Active => a.silence.ends_at.cmp(&b.silence.ends_at),
        SilenceState::Pending => a.silence.starts_at.cmp(&b.silence.starts_at),
        SilenceState::Expired => b.silence.ends_at.cmp(&a.silence.ends_at),
    })
}

/// `GET /api/v2/silences`.
pub(crate) async fn list(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let filter = match parse_filters(raw.as_deref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = wallclock::now();
    let mut out: Vec<GettableSilence> =
        state.system.silences().into_iter().filter(|s| listed_by(&filter, s)).map(|s| gettable(s, now)).collect();
    out.sort_by(order);
    Json(out).into_response()
}

/// `POST /api/v2/silences`.
pub(crate) async fn post(
    State(state): State<ApiState>,
    body: Result<Json<PostableSilence>, JsonRejection>,
) -> Response {
    let Json(p) = match body {
        Ok(b) => b,
        Err(rejection) => {
            // Too large stays 413; everything else is a bad request, as Alertmanager says.
            let code = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return error(code, rejection.body_text());
        }
    };
    let spec = SilenceSpec {
        id: p.id.filter(|id| !id.is_empty()),
        matchers: p.matchers,
        starts_at: p.starts_at,
        ends_at: p.ends_at,
        created_by: p.created_by,
        comment: p.comment,
    };
    let matchers: Vec<String> = spec.matchers.iter().map(ToString::to_string).collect();
    match state.system.set_silence(spec) {
        Ok(id) => {
            tracing::info!(
                target: "bitcraps_otel::alerting::api",
                silence = %id, matchers = %matchers.join(","), "silence set"
            );
            Json(Created { silence_id: id }).into_response()
        }
        Err(SilenceError::NotFound) => error(StatusCode::NOT_FOUND, SilenceError::NotFound.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// `GET /api/v2/silence/{id}`.
pub(crate) async fn get_one(State(state): State<ApiState>, Path(id): Path<String>) -> Response {
    let now = wallclock::now();
    match state.system.silences().into_iter().find(|s| s.id == id) {
        Some(s) => Json(gettable(s, now)).into_response(),
        None => error(StatusCode::NOT_FOUND, "silence not found"),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it (it stays listed as expired).
pub(crate) async fn delete(State(state): State<ApiState>, Path(id): Path<String>) -> Response {
    match state.system.expire_silence(&id) {
        Ok(()) => {
            tracing::info!(target: "bitcraps_otel::alerting::api", silence = %id, "silence expired");
            StatusCode::OK.into_response()
        }
        Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
    }
}
