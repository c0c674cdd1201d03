//! The fields each channel type takes in the rules file, and their kinds, checked before
//! the channel is deserialized: an error then names the right field (unknown, missing or of
//! the wrong kind) and never repeats its value, which may be a secret of any type.

use super::error::ChannelError;
use serde_yaml::{Mapping, Value};

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A string (a number is refused: a bare `+15550000000` or `0123` would lose its sign
    /// or zeros).
    Text,
    /// A list of strings.
    TextList,
    /// A port, 1 to 65535.
    Port,
    /// A whole number.
    Count,
    /// A list of `{ text, url }`.
    Links,
    /// A mapping of header names to strings.
    TextMap,
}

/// `(field, kind, required)` of each channel type.
fn fields(kind: &str) -> Option<&'static [(&'static str, Kind, bool)]> {
    use Kind::*;
    Some(match kind {
        "pagerduty" => {
            &[("routing_key", Text, true), ("url", Text, false), ("source", Text, false), ("links", Links, false)]
        }
        "slack" => &[("webhook_url", Text, true), ("channel", Text, false), ("links", Links, false)],
        "teams" => &[("webhook_url", Text, true), ("links", Links, false)],
        "email" => &[
            ("host", Text, true),
            ("port", Port, false),
            ("security", Text, false),
            ("username", Text, false),
            ("password", Text, false),
            ("from", Text, true),
            ("to", TextList, true),
        ],
        "sms" => &[
            ("account_sid", Text, true),
            ("auth_token", Text, true),
            ("from", Text, true),
            ("to", TextList, true),
            ("base_url", Text, false),
            ("max_chars", Count, false),
        ],
        "webhook" => &[("url", Text, true), ("headers", TextMap, false), ("hmac_secret", Text, false)],
        "alertmanager" => &[
            ("url", Text, true),
            ("bearer_token", Text, false),
            ("resend_interval", Text, false),
            ("generator_url", Text, false),
        ],
        _ => return None,
    })
}

/// The channel types, for messages.
pub(crate) const TYPES: &str = "pagerduty, slack, teams, email, sms, webhook, alertmanager";

fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "expected text (quote numbers: a bare number loses a leading + or 0)",
        Kind::TextList => "expected a list of text",
        Kind::Port => "expected a port number, 1 to 65535",
        Kind::Count => "expected a whole number",
        Kind::Links => "expected a list of { text, url }",
        Kind::TextMap => "expected a mapping of names to text",
    }
}

fn fits(kind: Kind, v: &Value) -> bool {
    match kind {
        Kind::Text => v.is_string(),
        Kind::TextList => v.as_sequence().is_some_and(|s| s.iter().all(Value::is_string)),
        Kind::Port => v.as_u64().is_some_and(|p| (1..=65535).contains(&p)),
        Kind::Count => v.as_u64().is_some(),
        Kind::Links => v.as_sequence().is_some_and(|s| {
            s.iter().all(|l| {
                l.as_mapping().is_some_and(|m| {
                    m.len() == 2 && ["text", "url"].iter().all(|k| m.get(*k).is_some_and(Value::is_string))
                })
            })
        }),
        Kind::TextMap => v.as_mapping().is_some_and(|m| m.iter().all(|(k, v)| k.is_string() && v.is_string())),
    }
}

/// Checks a channel's mapping (delivery keys already taken out) against its type's fields.
pub(crate) fn check(channel: &str, map: &Mapping) -> Result<(), ChannelError> {
    let err = |field: &str, reason: String| ChannelError::new(channel, field, reason);
    let kind = match map.get("type") {
        None => return Err(err("type", format!("missing: give one of {TYPES}"))),
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(err("type", format!("expected one of {TYPES}"))),
    };
    let Some(fields) = fields(kind) else {
        return Err(err("type", format!("not a channel type; one of {TYPES}")));
    };
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(err("type", "field names are text".into()));
        };
        if key == "type" {
            continue;
        }
        match fields.iter().find(|(name, _, _)| *name == key) {
            None => {
                let known: Vec<&str> = fields.iter().map(|(n, _, _)| *n).collect();
                return Err(err(key, format!("unknown field for a {kind} channel (known: {})", known.join(", "))));
            }
            Some((_, k, _)) if !fits(*k, value) => return Err(err(key, describe(*k).into())),
            Some(_) => {}
        }
    }
    if let Some((missing, _, _)) = fields.iter().find(|(name, _, required)| *required && !map.contains_key(*name)) {
        return Err(err(missing, format!("missing: a {kind} channel needs it")));
    }
    Ok(())
}
