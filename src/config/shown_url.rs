//! URLs as log lines and errors may show them: without credentials, query strings or
//! fragments, which can carry secrets.

/// `url` as log lines show it: no userinfo, no query string (`?…` marks one was there), no
/// fragment. Text that is not a URL is not repeated.
///
/// ```
/// use bitcraps_otel::config::display_url;
/// assert_eq!(display_url("https://user:pw@collector:4318/v1/logs?key=s3cret"), "https://collector:4318/v1/logs?…");
/// assert_eq!(display_url("http://127.0.0.1:4317"), "http://127.0.0.1:4317");
/// ```
pub fn display_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url.trim()) else {
        return "[not a URL]".into();
    };
    let _ = u.set_username("");
    let _ = u.set_password(None);
    let had_query = u.query().is_some();
    u.set_query(None);
    u.set_fragment(None);
    let mut out = u.to_string();
    if u.path() == "/" && !url.trim().ends_with('/') {
        out.pop();
    }
    if had_query {
        out.push_str("?…");
    }
    out
}

/// `text` with every `http://` or `https://` URL in it shown as [`display_url`] shows it.
///
/// ```
/// use bitcraps_otel::config::display_url_in;
/// assert_eq!(display_url_in("POST https://u:p@c:4318/v1/logs?k=s failed"), "POST https://c:4318/v1/logs?… failed");
/// ```
pub fn display_url_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| c.is_whitespace() || "\"'<>,;(){}`".contains(c)).unwrap_or(tail.len());
        out.push_str(&display_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
