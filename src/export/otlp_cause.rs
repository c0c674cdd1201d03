//! Turning transport errors (reqwest, tonic, and the OTLP exporter's error text) into a
//! [`Cause`] a human can act on: refused, unreachable, timeout, TLS, HTTP or gRPC status.

use crate::config::quote;
use crate::export::status::Cause;
use std::error::Error as StdError;
use std::time::Duration;

/// How many bytes of a response body a cause repeats.
const BODY_EXCERPT: usize = 120;

/// The start of a response body, escaped, for an HTTP status cause.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT)]);
    let mut q = quote(text.trim());
    if body.len() > BODY_EXCERPT {
        q.push_str(&format!(" ({} bytes in all)", body.len()));
    }
    q
}

/// Every message in an error's source chain, joined.
fn chain(e: &(dyn StdError + 'static)) -> (String, Option<std::io::ErrorKind>) {
    let mut text = e.to_string();
    let mut kind = None;
    let mut cur = e.source();
    while let Some(s) = cur {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            kind = kind.or(Some(io.kind()));
        }
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    (text, kind)
}

/// Classifies error text (lower-cased matching), for errors that only come as text.
pub(crate) fn from_text(text: &str, timeout: Duration) -> Cause {
    let t = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    if has(&["connection refused", "os error 111"]) {
        Cause::Refused
    } else if has(&["timed out", "timeout", "deadline", "deadlineexceeded", "elapsed"]) {
        Cause::Timeout(timeout)
    } else if has(&["certificate", "tls", "handshake", "unknownissuer", "alert"]) {
        Cause::Tls(tls_reason(&t))
    } else if has(&["dns", "failed to lookup", "name or service not known", "no route", "unreachable"]) {
        Cause::Unreachable("the host name does not resolve or the network is unreachable".into())
    } else if has(&["connection reset", "broken pipe", "connection closed", "os error 104", "unexpected eof"]) {
        Cause::Unreachable("the connection was closed by the other side".into())
    } else {
        Cause::Other(quote(&crate::config::display_url_in(text)))
    }
}

fn tls_reason(lower: &str) -> String {
    if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "the collector's certificate is not signed by a trusted CA".into()
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "the collector's certificate does not name this host".into()
    } else if lower.contains("expired") {
        "a certificate has expired".into()
    } else if lower.contains("certificate required") || lower.contains("certificaterequired") {
        "the collector requires a client certificate".into()
    } else if lower.contains("bad certificate") || lower.contains("badcertificate") || lower.contains("unknown ca") {
        "the collector rejected the client certificate".into()
    } else if lower.contains("corrupt message")
        || lower.contains("invalid content type")
        || lower.contains("invalidmessage")
    {
        "the endpoint does not speak TLS (http:// instead of https://?)".into()
    } else {
        "see the collector's certificate and the configured CA".into()
    }
}

/// A reqwest failure (no response).
pub(crate) fn from_reqwest(e: &reqwest::Error, timeout: Duration) -> Cause {
    let (text, kind) = chain(e);
    if e.is_timeout() || kind == Some(std::io::ErrorKind::TimedOut) {
        return Cause::Timeout(timeout);
    }
    if kind == Some(std::io::ErrorKind::ConnectionRefused) {
        return Cause::Refused;
    }
    from_text(&text, timeout)
}

/// A tonic status: locally generated (transport) ones are classified by their source chain.
pub(crate) fn from_tonic(status: &tonic::Status, timeout: Duration) -> Cause {
    let (text, kind) = chain(status);
    if kind == Some(std::io::ErrorKind::ConnectionRefused) {
        return Cause::Refused;
    }
    if status.code() == tonic::Code::DeadlineExceeded || kind == Some(std::io::ErrorKind::TimedOut) {
        return Cause::Timeout(timeout);
    }
    if status.source().is_some() || status.code() == tonic::Code::Unavailable && status.message().contains("transport")
    {
        return from_text(&text, timeout);
    }
    Cause::Grpc { code: format!("{:?}", status.code()), message: quote_or_empty(status.message()) }
}

fn quote_or_empty(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        quote(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_exporters_is_classified() {
        let t = Duration::from_secs(10);
        assert_eq!(
            from_text("TonicTracesClient export failed with gRPC code: Unavailable: tcp connect error: Connection refused (os error 111)", t),
            Cause::Refused
        );
        assert_eq!(from_text("request timed out", t), Cause::Timeout(t));
        assert!(
            matches!(from_text("invalid peer certificate: UnknownIssuer", t), Cause::Tls(r) if r.contains("trusted CA"))
        );
        assert!(
            matches!(from_text("weird https://u:p@h:1/x?k=secret failure", t), Cause::Other(s) if !s.contains("secret") && !s.contains("u:p"))
        );
    }

    #[test]
    fn body_excerpts_are_escaped_and_cut() {
        assert_eq!(body_excerpt(b""), "");
        assert_eq!(body_excerpt(b"no\x1b[31m"), "`no\\u{1b}[31m`");
        let long = vec![b'a'; 500];
        assert!(body_excerpt(&long).ends_with("(500 bytes in all)"));
    }
}
