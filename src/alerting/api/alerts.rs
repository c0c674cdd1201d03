//! `GET /api/v2/alerts` (the firing alerts in Alertmanager's `gettableAlert` shape) and the
//! acknowledgement endpoint, which Alertmanager has no equivalent of.

use super::query::parse_alert_query;
use super::{error, ApiState};
use crate::alerting::channels::{annotations_of, firing_ends_at};
use crate::alerting::state::AlertState;
use crate::alerting::wallclock;
use crate::alerting::{AlertingSystem, Fingerprint};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

#[derive(Serialize)]
pub(crate) struct Receiver {
    pub(crate) name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    pub(crate) state: &'static str,
    pub(crate) silenced_by: Vec<String>,
    pub(crate) inhibited_by: Vec<String>,
}

/// Alertmanager's `gettableAlert`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GettableAlert {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) fingerprint: String,
    pub(crate) receivers: Vec<Receiver>,
    #[serde(with = "wallclock::rfc3339")]
    pub(crate) starts_at: SystemTime,
    #[serde(with = "wallclock::rfc3339")]
    pub(crate) updated_at: SystemTime,
    #[serde(with = "wallclock::rfc3339")]
    pub(crate) ends_at: SystemTime,
    pub(crate) status: Status,
}

/// Every firing alert, with who hears of it and what silences it, sorted by fingerprint.
pub(crate) fn firing_alerts(system: &AlertingSystem) -> Vec<GettableAlert> {
    let channels = system.channel_names();
    let now = tokio::time::Instant::now();
    let wall_now = wallclock::wall(now);
    let mut out = system.with_state(|evaluator, router| {
        let rules: BTreeMap<&str, _> =
            evaluator.slots.iter().map(|s| (s.compiled.rule.name.as_str(), &s.compiled.rule)).collect();
        evaluator
            .alerts
            .iter()
            .filter(|(_, e)| e.state == AlertState::Firing)
            .map(|(fp, e)| {
                let rule = rules.get(e.rule.as_str());
                let (description, tags, every) = rule.map_or(("", &[][..], Duration::from_secs(60)), |r| {
                    (r.description.as_str(), r.tags.as_slice(), r.evaluation_interval)
                });
                let mut annotations = annotations_of(description, tags, e.value);
                if e.acknowledged {
                    annotations.insert("acknowledged".into(), "true".into());
                }
                let mut receivers: Vec<String> =
                    router.config.tiers_for(&e.labels, &channels).into_iter().flat_map(|t| t.channels).collect();
                receivers.sort();
                receivers.dedup();
                let silenced_by: Vec<String> =
                    router.silences.silencing(&e.labels, wall_now).into_iter().map(str::to_string).collect();
                let inhibited_by: Vec<String> = e.inhibited_by.iter().map(|fp| fp.to_string()).collect();
                let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
                GettableAlert {
                    labels: e.labels.clone(),
                    annotations,
                    fingerprint: fp.to_string(),
                    receivers: receivers.into_iter().map(|name| Receiver { name }).collect(),
                    starts_at: e.fired_at.map_or(wall_now, wallclock::wall),
                    updated_at: wall_now,
                    ends_at: firing_ends_at(wall_now, every),
                    status: Status {
                        state: if suppressed { "suppressed" } else { "active" },
                        silenced_by,
                        inhibited_by,
                    },
                }
            })
            .collect::<Vec<_>>()
    });
    out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    out
}

/// `GET /api/v2/alerts`.
pub(crate) async fn list(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_alert_query(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let alerts: Vec<GettableAlert> = firing_alerts(&state.system)
        .into_iter()
        .filter(|a| q.filter.iter().all(|m| m.matches(&a.labels)))
        .filter(|a| q.receiver.as_ref().is_none_or(|r| a.receivers.iter().any(|x| r.matches_value(Some(&x.name)))))
        .filter(|a| q.active || a.status.state != "active")
        .filter(|a| q.silenced || a.status.silenced_by.is_empty())
        .filter(|a| q.inhibited || a.status.inhibited_by.is_empty())
        .collect();
    Json(alerts).into_response()
}

#[derive(Serialize)]
struct Acknowledged {
    fingerprint: String,
    acknowledged: bool,
}

/// `POST /api/bitcraps/v1/alerts/{fingerprint}/ack`: no more escalation tiers or repeats for
/// this firing alert (its resolution is still announced).
pub(crate) async fn acknowledge(State(state): State<ApiState>, Path(fingerprint): Path<String>) -> Response {
    let fp = match fingerprint.parse::<Fingerprint>() {
        Ok(fp) if fingerprint.len() == 16 => fp,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{}` is not an alert fingerprint (16 hex digits, as GET /api/v2/alerts lists them)",
                    crate::alerting::matcher::quoted_excerpt(&fingerprint)
                ),
            )
        }
    };
    if state.system.acknowledge(fp) {
        tracing::info!(target: "bitcraps_otel::alerting::api", fingerprint = %fp, "alert acknowledged");
        Json(Acknowledged { fingerprint: fp.to_string(), acknowledged: true }).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no firing alert has fingerprint {fp}"))
    }
}
