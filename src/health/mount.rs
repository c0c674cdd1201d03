//! Routes added to the health server after it started: the server is bound when telemetry
//! starts, while what else it serves (the alert engine's operator API) is known only later.
//! Higher modules hand an [`axum::Router`] in; this module never needs to know what it is.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::{Arc, RwLock};
use tower::ServiceExt;

/// The routes served next to `/health` and `/ready`. Cheap to clone; clones share the slot.
#[derive(Clone, Default)]
pub(crate) struct Mounted {
    router: Arc<RwLock<Option<Router>>>,
}

impl Mounted {
    /// Serves `router` from now on, in place of anything mounted before.
    pub(crate) fn set(&self, router: Router) {
        *self.router.write().unwrap_or_else(|p| p.into_inner()) = Some(router);
    }

    /// Whether anything is mounted.
    pub(crate) fn is_set(&self) -> bool {
        self.router.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Answers `req` with the mounted routes, or 404 when nothing is mounted.
    pub(crate) async fn serve(&self, req: Request) -> Response {
        let router = self.router.read().unwrap_or_else(|p| p.into_inner()).clone();
        match router {
            Some(r) => match r.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            },
            None => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    }
}
