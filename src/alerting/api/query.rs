//! Query strings of the API: repeated `filter` matchers, the state switches of `GET /alerts`
//! and its `receiver` regex. Bad input is a message for a 400, never a panic.

use crate::alerting::matcher::{quoted_excerpt, Matcher};

/// Most `filter` parameters one request may carry.
pub(crate) const MAX_FILTERS: usize = 64;

/// What `GET /api/v2/alerts` asks for (Alertmanager's defaults: everything).
#[derive(Debug)]
pub(crate) struct AlertQuery {
    pub(crate) active: bool,
    pub(crate) silenced: bool,
    pub(crate) inhibited: bool,
    pub(crate) filter: Vec<Matcher>,
    /// Matched against each receiver name, anchored.
    pub(crate) receiver: Option<Matcher>,
}

fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, String> {
    match raw {
        None | Some("") => Ok(Vec::new()),
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| format!("malformed query string: {e}")),
    }
}

fn boolean(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("{name}: `{}` is not a boolean (true or false)", quoted_excerpt(other))),
    }
}

fn filters(pairs: &[(String, String)]) -> Result<Vec<Matcher>, String> {
    let raw: Vec<&str> = pairs.iter().filter(|(k, _)| k == "filter").map(|(_, v)| v.as_str()).collect();
    if raw.len() > MAX_FILTERS {
        return Err(format!("{} filters; at most {MAX_FILTERS} are accepted", raw.len()));
    }
    raw.into_iter().map(|f| Matcher::parse(f).map_err(|e| e.to_string())).collect()
}

/// The `filter` matchers of a query string.
pub(crate) fn parse_filters(raw: Option<&str>) -> Result<Vec<Matcher>, String> {
    filters(&pairs(raw)?)
}

/// The parameters of `GET /api/v2/alerts`.
pub(crate) fn parse_alert_query(raw: Option<&str>) -> Result<AlertQuery, String> {
    let pairs = pairs(raw)?;
    let mut q = AlertQuery { active: true, silenced: true, inhibited: true, filter: filters(&pairs)?, receiver: None };
    for (k, v) in &pairs {
        match k.as_str() {
            "active" => q.active = boolean(k, v)?,
            "silenced" => q.silenced = boolean(k, v)?,
            "inhibited" => q.inhibited = boolean(k, v)?,
            // Every alert the engine lists has been processed.
            "unprocessed" => {
                boolean(k, v)?;
            }
            "receiver" if !v.is_empty() => {
                q.receiver = Some(
                    Matcher::regex("receiver", v.as_str())
                        .map_err(|e| format!("failed to parse receiver param: {e}"))?,
                );
            }
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_queries_parse_like_alertmanager() {
        let q =
            parse_alert_query(Some("active=true&silenced=false&filter=alertname%3D%22X%22&filter=node_id%3D~eu.%2A"))
                .expect("valid");
        assert!(q.active && !q.silenced && q.inhibited);
        assert_eq!(q.filter.len(), 2);
        assert_eq!(q.filter[1].to_string(), "node_id=~\"eu.*\"");
        let d = parse_alert_query(None).expect("defaults");
        assert!(d.active && d.silenced && d.inhibited && d.filter.is_empty() && d.receiver.is_none());
        assert!(parse_alert_query(Some("active=maybe")).expect_err("bool").contains("active"));
        assert!(parse_alert_query(Some("filter=nonsense")).is_err());
        assert!(parse_alert_query(Some("receiver=(")).expect_err("regex").starts_with("failed to parse receiver"));
        let many = vec!["filter=a%3D1"; MAX_FILTERS + 1].join("&");
        assert!(parse_filters(Some(&many)).is_err());
    }
}
