//! Who may write, and the request log: writes (anything but `GET`/`HEAD`) need the admin
//! bearer token, compared in constant time; every request is logged once, without its query
//! string or headers, so neither filters nor the token reach the log.

use super::{error, ApiOptions, ApiState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

/// Why a write was refused, or who made the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// A read without credentials.
    Anonymous,
    /// The admin token was presented and is right.
    Admin,
    /// A write without a configured token, a token, or with a wrong one.
    Refused,
}

impl Caller {
    fn as_str(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Admin => "admin",
            Caller::Refused => "refused",
        }
    }
}

/// Equal in time independent of where the inputs differ (and of their lengths).
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// No admin token is configured: writes are off.
    Disabled,
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer <token>`.
    Malformed,
    /// The wrong token.
    Invalid,
}

impl Refusal {
    fn response(self) -> Response {
        let message = match self {
            Refusal::Disabled => {
                return error(
                    StatusCode::FORBIDDEN,
                    "writes are disabled on this node: no admin token is configured \
                     (set BITCRAPS_ADMIN_TOKEN and restart the node); reads stay open",
                )
            }
            Refusal::Missing => "this request changes state and needs `Authorization: Bearer <admin token>`",
            Refusal::Malformed => "the Authorization header must be `Bearer <admin token>`",
            Refusal::Invalid => "the bearer token is not valid",
        };
        let mut resp = error(StatusCode::UNAUTHORIZED, message);
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"bitcraps\""));
        resp
    }
}

/// Checks a write's credentials.
fn authorize(options: &ApiOptions, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(expected) = &options.admin_token else { return Err(Refusal::Disabled) };
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Err(Refusal::Missing) };
    let presented = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match presented {
        Some(token) if same_secret(token, expected.expose()) => Ok(()),
        Some(_) => Err(Refusal::Invalid),
        None => Err(Refusal::Malformed),
    }
}

/// The path for the log: control characters escaped, long paths cut.
fn loggable_path(path: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = path.chars().take(MAX).flat_map(char::escape_debug).collect();
    if path.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Middleware: authorizes writes, then logs the request and its outcome.
pub(crate) async fn guard(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let write = !matches!(method, Method::GET | Method::HEAD);
    let (caller, resp) = if write {
        match authorize(&state.options, req.headers()) {
            Ok(()) => (Caller::Admin, next.run(req).await),
            Err(refusal) => (Caller::Refused, refusal.response()),
        }
    } else {
        (Caller::Anonymous, next.run(req).await)
    };
    let status = resp.status().as_u16();
    let took_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    if caller == Caller::Refused {
        tracing::warn!(
            target: "bitcraps_otel::alerting::api",
            method = %method, path = %path, status, took_ms, caller = caller.as_str(),
            "alerting API write refused"
        );
    } else {
        tracing::info!(
            target: "bitcraps_otel::alerting::api",
            method = %method, path = %path, status, took_ms, caller = caller.as_str(),
            "alerting API request"
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).expect("header"));
        }
        h
    }

    #[test]
    fn writes_need_the_configured_bearer_token() {
        let none = ApiOptions::default();
        let refused = authorize(&none, &headers(Some("Bearer x"))).expect_err("no token configured");
        assert_eq!(refused.response().status(), StatusCode::FORBIDDEN);
        let opts = ApiOptions::default().with_admin_token("t0k");
        assert!(authorize(&opts, &headers(Some("Bearer t0k"))).is_ok());
        assert!(authorize(&opts, &headers(Some("bearer  t0k "))).is_ok());
        for bad in [None, Some("Bearer t0"), Some("Basic dDBr"), Some("t0k"), Some("Bearer t0kk")] {
            let refused = authorize(&opts, &headers(bad)).expect_err("refused").response();
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
            assert!(refused.headers().contains_key(header::WWW_AUTHENTICATE));
        }
        assert!(ApiOptions::default().with_admin_token("  ").admin_token.is_none(), "blank is none");
    }

    #[test]
    fn logged_paths_are_escaped_and_bounded() {
        assert_eq!(loggable_path("/a\nb"), "/a\\nb");
        assert_eq!(loggable_path(&"x".repeat(500)).chars().count(), 201);
    }
}
