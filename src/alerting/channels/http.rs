//! The HTTP side shared by the web channels: one rustls `reqwest` client per channel, a
//! prepared request type whose `Debug` hides its secrets, and the mapping of answers to
//! "delivered", "retry" (connect errors, timeouts, 408, 429, 5xx) or "give up".

use super::delivery::{DeliveryOptions, SendError, Transport};
use super::Secret;
use std::fmt;
use std::time::{Duration, SystemTime};

/// A request ready to go: always a POST.
pub(crate) struct HttpMessage {
    /// The full URL; a secret, since webhook URLs carry their token.
    pub(crate) url: Secret,
    pub(crate) body: Body,
    /// Extra headers; values are secrets (they may carry tokens or signatures).
    pub(crate) headers: Vec<(reqwest::header::HeaderName, Secret)>,
    /// `Authorization: Basic` user and password.
    pub(crate) basic_auth: Option<(String, Secret)>,
    /// Secrets inside the body (a PagerDuty routing key), scrubbed from what a server echoes.
    pub(crate) body_secrets: Vec<Secret>,
}

/// The body and how it is encoded.
pub(crate) enum Body {
    /// `application/json`.
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<u8>),
}

impl fmt::Debug for HttpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = match &self.body {
            Body::Json(b) | Body::Form(b) => b.len(),
        };
        f.debug_struct("HttpMessage")
            .field("url", &self.url)
            .field("body_bytes", &len)
            .field("headers", &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl HttpMessage {
    /// A JSON POST of `value` to `url`.
    pub(crate) fn json(url: &Secret, value: &serde_json::Value) -> Result<HttpMessage, String> {
        let body = serde_json::to_vec(value).map_err(|e| format!("cannot encode the JSON body: {e}"))?;
        Ok(HttpMessage {
            url: url.clone(),
            body: Body::Json(body),
            headers: Vec::new(),
            basic_auth: None,
            body_secrets: Vec::new(),
        })
    }

    /// Every secret part of this request: the URL (whole, and its longer path segments and
    /// query values, which carry webhook tokens), header values, the password and the body's
    /// secrets. Longest first, so a part inside another is not left half-scrubbed.
    fn secret_parts(&self) -> Vec<String> {
        let url = self.url.expose();
        let mut parts = vec![url.to_string()];
        let after_host = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
        // Plain lowercase words (`services`, `workflows`) are the API's, not a token.
        let word = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase());
        parts.extend(path.split('/').skip(1).filter(|s| !word(s)).map(str::to_string));
        parts.extend(query.split('&').filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_string())));
        for (_, v) in &self.headers {
            parts.push(v.expose().to_string());
            parts.extend(v.expose().split_whitespace().skip(1).map(str::to_string));
        }
        parts.extend(self.basic_auth.iter().map(|(_, p)| p.expose().to_string()));
        parts.extend(self.body_secrets.iter().map(|s| s.expose().to_string()));
        // Short parts (`v2`, `hooks`) are not secrets, and scrubbing them would hide the body.
        parts.retain(|p| p.len() >= 6);
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        parts.dedup();
        parts
    }

    /// `text` with every secret part of this request replaced by `[redacted]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.secret_parts().iter().fold(text.to_string(), |t, secret| t.replace(secret.as_str(), "[redacted]"))
    }
}

/// Sends [`HttpMessage`]s with a client whose timeout is the delivery's per-request timeout.
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpTransport {
    pub(crate) fn new(options: &DeliveryOptions) -> Result<HttpTransport, String> {
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout)
            .user_agent(concat!("bitcraps-otel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(HttpTransport { client, timeout: options.request_timeout })
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    type Message = HttpMessage;

    async fn send(&self, m: &HttpMessage) -> Result<(), SendError> {
        let mut req = self.client.post(m.url.expose());
        req = match &m.body {
            Body::Json(b) => req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.clone()),
            Body::Form(b) => {
                req.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(b.clone())
            }
        };
        for (name, value) in &m.headers {
            req = req.header(name, value.expose());
        }
        if let Some((user, password)) = &m.basic_auth {
            req = req.basic_auth(user, Some(password.expose()));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // `without_url`: the URL of a webhook is its credential.
            Err(e) if e.is_builder() => {
                return Err(SendError::Permanent { reason: format!("invalid request: {}", e.without_url()) })
            }
            Err(e) if e.is_timeout() => {
                return Err(SendError::Retryable {
                    reason: format!("no answer within {:?}", self.timeout),
                    retry_after: None,
                })
            }
            Err(e) => return Err(SendError::Retryable { reason: e.without_url().to_string(), retry_after: None }),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        // The body is not part of the error: a server that echoes the request would put the
        // webhook token or routing key in the log. Its size and type are; the bytes go to
        // DEBUG, scrubbed of this request's secrets.
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_string();
        let body = resp.text().await.unwrap_or_default();
        let reason = format!("HTTP {} ({} bytes, {content_type})", status.as_u16(), body.len());
        if tracing::enabled!(target: "bitcraps_otel::alerting", tracing::Level::DEBUG) {
            let start: String = body.chars().take(400).collect();
            tracing::debug!(
                target: "bitcraps_otel::alerting",
                status = status.as_u16(), body = %m.scrub(&start), "notification refused; start of the answer"
            );
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(SendError::Retryable { reason, retry_after })
        } else {
            Err(SendError::Permanent { reason })
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past
/// means "now".
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&soon).expect("date");
        assert!(d > Duration::from_secs(27) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn scrubbing_removes_every_secret_part_of_the_request() {
        let mut m = HttpMessage::json(
            &Secret::new("https://hooks.example/services/T000/B000/XXXXSECRET?sig=QUERYSECRET"),
            &serde_json::json!({}),
        )
        .expect("json");
        m.headers.push((reqwest::header::AUTHORIZATION, Secret::new("Bearer BEARERSECRET")));
        m.basic_auth = Some(("AC123".into(), Secret::new("PASSWORDSECRET")));
        m.body_secrets.push(Secret::new("ROUTINGSECRET"));
        let echo = "you sent POST /services/T000/B000/XXXXSECRET?sig=QUERYSECRET with Bearer BEARERSECRET, \
                    PASSWORDSECRET and {\"routing_key\":\"ROUTINGSECRET\"}";
        let scrubbed = m.scrub(echo);
        for secret in ["XXXXSECRET", "QUERYSECRET", "BEARERSECRET", "PASSWORDSECRET", "ROUTINGSECRET"] {
            assert!(!scrubbed.contains(secret), "{secret} left in {scrubbed}");
        }
        assert!(scrubbed.starts_with("you sent POST /services/"), "{scrubbed}");
    }

    #[test]
    fn debug_hides_the_url_headers_and_password() {
        let mut m = HttpMessage::json(&Secret::new("https://hooks.example/T000/B000/XXXX"), &serde_json::json!({}))
            .expect("json");
        m.headers.push((reqwest::header::AUTHORIZATION, Secret::new("Bearer tok")));
        m.basic_auth = Some(("AC123".into(), Secret::new("hunter2")));
        let s = format!("{m:?}");
        assert!(!s.contains("XXXX") && !s.contains("tok") && !s.contains("hunter2"), "{s}");
    }
}
