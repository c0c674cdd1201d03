//! `GET /api/v2/status` and `GET /api/v2/receivers`. The status carries the engine's routing
//! tree as Alertmanager configuration, so `amtool config routes` shows where alerts go.

use super::ApiState;
use crate::alerting::amconfig::{alertmanager_yaml, AmConfigOptions};
use crate::alerting::wallclock;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::SystemTime;

/// The Alertmanager API version this subset follows (what `amtool` compares its own with).
pub const API_COMPAT_VERSION: &str = "0.25.0";

#[derive(Serialize)]
struct Cluster {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    status: &'static str,
    peers: Vec<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    go_version: &'static str,
}

#[derive(Serialize)]
struct Config {
    original: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    cluster: Cluster,
    version_info: VersionInfo,
    config: Config,
    #[serde(with = "wallclock::rfc3339")]
    uptime: SystemTime,
}

/// `GET /api/v2/status`: no cluster (one node is one engine), the API version followed (the
/// SDK's own version is in `revision`), the routing as Alertmanager YAML, the start time.
pub(crate) async fn status(State(state): State<ApiState>) -> Response {
    let names = state.system.channel_names();
    let routing = state.system.with_state(|_, router| router.config.clone());
    let original = alertmanager_yaml(&routing, &[], &names, &AmConfigOptions::default())
        .unwrap_or_else(|e| format!("# the routing could not be rendered: {e}\n"));
    Json(StatusBody {
        cluster: Cluster { name: state.options.name.clone(), status: "disabled", peers: Vec::new() },
        version_info: VersionInfo {
            version: API_COMPAT_VERSION,
            revision: concat!("bitcraps-otel ", env!("CARGO_PKG_VERSION")),
            branch: "bitcraps-otel",
            build_user: "bitcraps-otel",
            build_date: "",
            go_version: "none (Rust)",
        },
        config: Config { original },
        uptime: state.started,
    })
    .into_response()
}

#[derive(Serialize)]
struct Receiver {
    name: String,
}

/// `GET /api/v2/receivers`: the registered channels.
pub(crate) async fn receivers(State(state): State<ApiState>) -> Response {
    Json(state.system.channel_names().into_iter().map(|name| Receiver { name }).collect::<Vec<_>>()).into_response()
}
