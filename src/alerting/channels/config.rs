//! Channels from the `channels:` section of the rules YAML. Every string may use
//! `${ENV_VAR}`, replaced from the environment when the file is read (an unset variable is
//! an error), so keys and webhook URLs stay out of the file.
//!
//! ```
//! use bitcraps_otel::alerting::channels::ChannelSpec;
//! use bitcraps_otel::alerting::parse_rules;
//!
//! std::env::set_var("DOC_PD_KEY", "R0UT1NG");
//! let set = parse_rules("alerts.yml", r##"
//! channels:
//!   oncall:
//!     type: pagerduty
//!     routing_key: ${DOC_PD_KEY}
//!     max_attempts: 3
//!     timeout: 5s
//!   chat:
//!     type: slack
//!     webhook_url: https://hooks.slack.com/services/T0/B0/X
//!     channel: "#alerts"
//! "##).expect("valid");
//! assert_eq!(set.channels.len(), 2);
//! let ChannelSpec::PagerDuty { routing_key, .. } = &set.channels[1].spec else { panic!("ordered by name") };
//! assert_eq!(routing_key.expose(), "R0UT1NG");
//! assert_eq!(set.channels[1].delivery.max_attempts, 3);
//! ```

use super::error::ChannelError;
#[cfg(feature = "email")]
use super::EmailNotifier;
#[cfg(feature = "pagerduty")]
use super::PagerDutyNotifier;
#[cfg(feature = "slack")]
use super::SlackNotifier;
#[cfg(feature = "sms")]
use super::SmsNotifier;
#[cfg(feature = "teams")]
use super::TeamsNotifier;
#[cfg(feature = "webhook")]
use super::WebhookNotifier;
use super::{AlertmanagerNotifier, DeliveryOptions, Link, Secret, SmtpSecurity};
use crate::alerting::{AlertingSystem, Notifier};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A named channel: what it is and how it delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConfig {
    /// The name routes and escalation tiers use.
    pub name: String,
    /// The provider and its settings.
    pub spec: ChannelSpec,
    /// Queue, retries, timeout.
    pub delivery: DeliveryOptions,
    /// Whether it is told of resolutions, and its rate limit (`send_resolved`,
    /// `rate_limit: { max, per }` in the file); put in the routing's channel policies.
    pub policy: crate::alerting::ChannelPolicy,
}

/// A channel's provider settings (YAML `type:` picks the variant).
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelSpec {
    /// `type: pagerduty`.
    PagerDuty {
        /// Integration (routing) key.
        routing_key: Secret,
        /// Enqueue URL (default [`super::PAGERDUTY_EVENTS_URL`]).
        url: Option<String>,
        /// `payload.source` fallback.
        source: Option<String>,
        /// Links on every event.
        links: Vec<Link>,
    },
    /// `type: slack`.
    Slack {
        /// Incoming webhook URL.
        webhook_url: Secret,
        /// Channel override (empty: the webhook's).
        channel: String,
        /// Links shown as buttons.
        links: Vec<Link>,
    },
    /// `type: teams`.
    Teams {
        /// Workflow webhook URL.
        webhook_url: Secret,
        /// Links shown as buttons.
        links: Vec<Link>,
    },
    /// `type: email`.
    Email {
        /// SMTP server.
        host: String,
        /// Port (default: the security mode's).
        port: Option<u16>,
        /// `starttls` (default), `tls` or `plaintext`.
        security: SmtpSecurity,
        /// User and password, when the server wants authentication.
        credentials: Option<(String, Secret)>,
        /// Sender address.
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// `type: sms` (Twilio).
    Sms {
        /// Account SID.
        account_sid: String,
        /// Auth token.
        auth_token: Secret,
        /// Sender number or id.
        from: String,
        /// Recipients (E.164).
        to: Vec<String>,
        /// API base (default [`super::TWILIO_API_BASE`]).
        base_url: Option<String>,
        /// Body limit in characters (default 160).
        max_chars: Option<usize>,
    },
    /// `type: webhook`.
    Webhook {
        /// Target URL.
        url: Secret,
        /// Extra headers.
        headers: BTreeMap<String, Secret>,
        /// HMAC-SHA256 signing secret.
        hmac_secret: Option<Secret>,
    },
    /// `type: alertmanager`.
    Alertmanager {
        /// Base URL, e.g. `http://alertmanager:9093`.
        url: String,
        /// Bearer token for an authenticating proxy in front of it.
        bearer_token: Option<Secret>,
        /// How often firing alerts are re-sent (default 1m).
        resend_interval: Option<Duration>,
        /// `generatorURL` of every alert (a dashboard of the node).
        generator_url: Option<String>,
    },
}

impl ChannelSpec {
    /// The YAML `type:` of the channel, which is also the cargo feature that builds it.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSpec::PagerDuty { .. } => "pagerduty",
            ChannelSpec::Slack { .. } => "slack",
            ChannelSpec::Teams { .. } => "teams",
            ChannelSpec::Email { .. } => "email",
            ChannelSpec::Sms { .. } => "sms",
            ChannelSpec::Webhook { .. } => "webhook",
            ChannelSpec::Alertmanager { .. } => "alertmanager",
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    text: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawSpec {
    Pagerduty {
        routing_key: Secret,
        url: Option<String>,
        source: Option<String>,
        #[serde(default)]
        links: Vec<RawLink>,
    },
    Slack {
        webhook_url: Secret,
        #[serde(default)]
        channel: String,
        #[serde(default)]
        links: Vec<RawLink>,
    },
    Teams {
        webhook_url: Secret,
        #[serde(default)]
        links: Vec<RawLink>,
    },
    Email {
        host: String,
        port: Option<u16>,
        security: Option<String>,
        username: Option<String>,
        password: Option<Secret>,
        from: String,
        to: Vec<String>,
    },
    Sms {
        account_sid: String,
        auth_token: Secret,
        from: String,
        to: Vec<String>,
        base_url: Option<String>,
        max_chars: Option<usize>,
    },
    Webhook {
        url: Secret,
        #[serde(default)]
        headers: BTreeMap<String, Secret>,
        hmac_secret: Option<Secret>,
    },
    Alertmanager {
        url: String,
        bearer_token: Option<Secret>,
        resend_interval: Option<String>,
        generator_url: Option<String>,
    },
}

fn links(raw: Vec<RawLink>) -> Vec<Link> {
    raw.into_iter().map(|l| Link { text: l.text, url: l.url }).collect()
}

/// Parses the `channels:` mapping, `${VAR}`s resolved through `env`. Ordered by name.
pub(crate) fn parse_channels(
    raw: BTreeMap<String, serde_yaml::Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ChannelConfig>, ChannelError> {
    let mut out = Vec::with_capacity(raw.len());
    for (name, mut value) in raw {
        substitute(&name, "", &mut value, env)?;
        let delivery = take_delivery(&name, &mut value)?;
        let policy = take_policy(&name, &mut value)?;
        if let Some(map) = value.as_mapping() {
            super::schema::check(&name, map)?;
        }
        // The schema check leaves nothing for serde to refuse; should it anyway, its message
        // loses its values.
        let spec: RawSpec = serde_yaml::from_value(value).map_err(|e| {
            ChannelError::new(&name, "type", crate::alerting::yamlguard::without_values(&redact_values(&e.to_string())))
        })?;
        let spec = match spec {
            RawSpec::Pagerduty { routing_key, url, source, links: l } => {
                ChannelSpec::PagerDuty { routing_key, url, source, links: links(l) }
            }
            RawSpec::Slack { webhook_url, channel, links: l } => {
                ChannelSpec::Slack { webhook_url, channel, links: links(l) }
            }
            RawSpec::Teams { webhook_url, links: l } => ChannelSpec::Teams { webhook_url, links: links(l) },
            RawSpec::Email { host, port, security, username, password, from, to } => {
                let security = match security.as_deref().unwrap_or("starttls") {
                    "starttls" => SmtpSecurity::StartTls,
                    "tls" => SmtpSecurity::ImplicitTls,
                    "plaintext" => SmtpSecurity::Plaintext,
                    other => {
                        return Err(ChannelError::new(
                            &name,
                            "security",
                            format!("`{other}` is not one of starttls, tls, plaintext"),
                        ))
                    }
                };
                let credentials = match (username, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    _ => {
                        return Err(ChannelError::new(&name, "username", "give both username and password, or neither"))
                    }
                };
                ChannelSpec::Email { host, port, security, credentials, from, to }
            }
            RawSpec::Sms { account_sid, auth_token, from, to, base_url, max_chars } => {
                ChannelSpec::Sms { account_sid, auth_token, from, to, base_url, max_chars }
            }
            RawSpec::Webhook { url, headers, hmac_secret } => ChannelSpec::Webhook { url, headers, hmac_secret },
            RawSpec::Alertmanager { url, bearer_token, resend_interval, generator_url } => {
                let resend_interval = resend_interval
                    .map(|s| {
                        humantime::parse_duration(s.trim())
                            .map_err(|e| ChannelError::new(&name, "resend_interval", format!("not a duration: {e}")))
                    })
                    .transpose()?;
                ChannelSpec::Alertmanager { url, bearer_token, resend_interval, generator_url }
            }
        };
        out.push(ChannelConfig { name, spec, delivery, policy });
    }
    Ok(out)
}

/// The parser quotes offending values (`invalid type: string "…"`); those may be secrets.
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("[redacted]\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// Replaces `${VAR}` in every string under `value`.
fn substitute(
    channel: &str,
    path: &str,
    value: &mut serde_yaml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ChannelError> {
    match value {
        serde_yaml::Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or_else(|| ChannelError::new(channel, path, "unclosed `${`"))?;
                let var = &after[..end];
                let found = env(var).ok_or_else(|| {
                    ChannelError::new(channel, path, format!("environment variable `{var}` is not set"))
                })?;
                out.push_str(&found);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let key = k.as_str().unwrap_or("?");
                let sub = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
                substitute(channel, &sub, v, env)?;
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute(channel, &format!("{path}[{i}]"), v, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Takes `send_resolved` and `rate_limit` out of a channel's mapping.
fn take_policy(channel: &str, value: &mut serde_yaml::Value) -> Result<crate::alerting::ChannelPolicy, ChannelError> {
    use crate::alerting::{ChannelPolicy, RateLimit};
    let mut policy = ChannelPolicy::default();
    let Some(map) = value.as_mapping_mut() else { return Ok(policy) };
    if let Some(v) = map.remove("send_resolved") {
        policy.send_resolved =
            v.as_bool().ok_or_else(|| ChannelError::new(channel, "send_resolved", "expected true or false"))?;
    }
    if let Some(v) = map.remove("rate_limit") {
        let shape =
            || ChannelError::new(channel, "rate_limit", "expected { max: N, per: DURATION }, e.g. { max: 5, per: 1h }");
        let m = v.as_mapping().ok_or_else(shape)?;
        if m.len() != 2 {
            return Err(shape());
        }
        let max = m.get("max").and_then(serde_yaml::Value::as_u64).ok_or_else(shape)?;
        let per = m.get("per").and_then(serde_yaml::Value::as_str).ok_or_else(shape)?;
        let per = humantime::parse_duration(per.trim()).map_err(|_| shape())?;
        if !(1..=100_000).contains(&max) {
            return Err(ChannelError::new(channel, "rate_limit.max", "must be 1 to 100000"));
        }
        crate::alerting::limits::positive_at_most(per, crate::alerting::limits::MAX_REPEAT_INTERVAL)
            .map_err(|e| ChannelError::new(channel, "rate_limit.per", e))?;
        policy.rate_limit = Some(RateLimit { max: max as u32, per });
    }
    Ok(policy)
}

/// Takes the delivery keys out of a channel's mapping.
fn take_delivery(channel: &str, value: &mut serde_yaml::Value) -> Result<DeliveryOptions, ChannelError> {
    let mut d = DeliveryOptions::default();
    let Some(map) = value.as_mapping_mut() else {
        return Err(ChannelError::new(channel, "type", "a channel is a mapping with a `type`"));
    };
    let mut take = |key: &str| map.remove(key);
    let num = |key: &str, v: serde_yaml::Value| {
        v.as_u64().ok_or_else(|| ChannelError::new(channel, key, "expected a whole number"))
    };
    let dur = |key: &str, v: serde_yaml::Value| -> Result<Duration, ChannelError> {
        let s =
            v.as_str().ok_or_else(|| ChannelError::new(channel, key, "expected a duration such as 500ms or 10s"))?;
        humantime::parse_duration(s)
            .map_err(|e| ChannelError::new(channel, key, format!("`{s}` is not a duration: {e}")))
    };
    // Out-of-range numbers become the bound plus one, so `validate` names the field.
    if let Some(v) = take("queue_capacity") {
        d.queue_capacity = usize::try_from(num("queue_capacity", v)?).unwrap_or(usize::MAX);
    }
    if let Some(v) = take("max_attempts") {
        d.max_attempts = u32::try_from(num("max_attempts", v)?).unwrap_or(u32::MAX);
    }
    if let Some(v) = take("initial_backoff") {
        d.initial_backoff = dur("initial_backoff", v)?;
    }
    if let Some(v) = take("max_backoff") {
        d.max_backoff = dur("max_backoff", v)?;
    }
    if let Some(v) = take("max_retry_after") {
        d.max_retry_after = dur("max_retry_after", v)?;
    }
    if let Some(v) = take("timeout") {
        d.request_timeout = dur("timeout", v)?;
    }
    d.validate().map_err(|(field, reason)| ChannelError::new(channel, field, reason))?;
    Ok(d)
}

impl ChannelConfig {
    /// The notifier this configuration describes.
    pub fn build(&self) -> Result<Arc<dyn Notifier>, ChannelError> {
        #[allow(unused_variables)] // every kind that checks for emptiness may be compiled out
        let empty = |field: &str| ChannelError::new(&self.name, field, "must not be empty");
        let n: Arc<dyn Notifier> = match &self.spec {
            #[cfg(feature = "pagerduty")]
            ChannelSpec::PagerDuty { routing_key, url, source, links } => {
                if routing_key.is_empty() {
                    return Err(empty("routing_key"));
                }
                let mut n =
                    PagerDutyNotifier::new(routing_key.expose().to_string()).with_delivery(self.delivery.clone());
                if let Some(url) = url {
                    n = n.with_url(url.clone());
                }
                if let Some(s) = source {
                    n = n.with_source(s.clone());
                }
                for l in links {
                    n = n.with_link(l.text.clone(), l.url.clone());
                }
                Arc::new(n)
            }
            #[cfg(feature = "slack")]
            ChannelSpec::Slack { webhook_url, channel, links } => {
                if webhook_url.is_empty() {
                    return Err(empty("webhook_url"));
                }
                let mut n = SlackNotifier::new(webhook_url.expose().to_string(), channel.clone())
                    .with_delivery(self.delivery.clone());
                for l in links {
                    n = n.with_link(l.text.clone(), l.url.clone());
                }
                Arc::new(n)
            }
            #[cfg(feature = "teams")]
            ChannelSpec::Teams { webhook_url, links } => {
                if webhook_url.is_empty() {
                    return Err(empty("webhook_url"));
                }
                let mut n = TeamsNotifier::new(webhook_url.expose().to_string()).with_delivery(self.delivery.clone());
                for l in links {
                    n = n.with_link(l.text.clone(), l.url.clone());
                }
                Arc::new(n)
            }
            #[cfg(feature = "email")]
            ChannelSpec::Email { host, port, security, credentials, from, to } => {
                if to.is_empty() {
                    return Err(empty("to"));
                }
                let mut n = EmailNotifier::new(host.clone(), from.clone(), to.clone())
                    .with_security(*security)
                    .with_delivery(self.delivery.clone());
                if let Some(p) = port {
                    n = n.with_port(*p);
                }
                if let Some((u, p)) = credentials {
                    n = n.with_credentials(u.clone(), p.expose().to_string());
                }
                Arc::new(n)
            }
            #[cfg(feature = "sms")]
            ChannelSpec::Sms { account_sid, auth_token, from, to, base_url, max_chars } => {
                if auth_token.is_empty() {
                    return Err(empty("auth_token"));
                }
                if to.is_empty() {
                    return Err(empty("to"));
                }
                let mut n =
                    SmsNotifier::new(account_sid.clone(), auth_token.expose().to_string(), from.clone(), to.clone())
                        .with_delivery(self.delivery.clone());
                if let Some(b) = base_url {
                    n = n.with_base_url(b.clone());
                }
                if let Some(m) = max_chars {
                    n = n.with_max_chars(*m);
                }
                Arc::new(n)
            }
            #[cfg(feature = "webhook")]
            ChannelSpec::Webhook { url, headers, hmac_secret } => {
                if url.is_empty() {
                    return Err(empty("url"));
                }
                let mut n = WebhookNotifier::new(url.expose().to_string()).with_delivery(self.delivery.clone());
                for (k, v) in headers {
                    n = n.with_header(k.clone(), v.expose().to_string());
                }
                if let Some(s) = hmac_secret {
                    n = n.with_hmac_secret(s.expose().to_string());
                }
                Arc::new(n)
            }
            ChannelSpec::Alertmanager { url, bearer_token, resend_interval, generator_url } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ChannelError::new(&self.name, "url", "must be an http:// or https:// URL"));
                }
                let mut n = AlertmanagerNotifier::new(url.clone()).with_delivery(self.delivery.clone());
                if let Some(t) = bearer_token {
                    n = n.with_bearer_token(t.expose().to_string());
                }
                if let Some(every) = resend_interval {
                    n = n.with_resend_interval(*every);
                }
                if let Some(g) = generator_url {
                    n = n.with_generator_url(g.clone());
                }
                Arc::new(n)
            }
            // A kind this build was compiled without: the file is valid, the channel cannot run.
            #[allow(unreachable_patterns)]
            other => {
                let kind = other.kind();
                return Err(ChannelError::new(
                    &self.name,
                    "type",
                    format!("this build has no `{kind}` channel: enable the cargo feature `{kind}`"),
                ));
            }
        };
        Ok(n)
    }
}

/// Builds every channel and registers it with `system` under its name. Nothing is
/// registered if one channel is invalid. Returns how many were registered.
pub fn register_channels(system: &AlertingSystem, channels: &[ChannelConfig]) -> Result<usize, ChannelError> {
    let built = channels.iter().map(|c| c.build().map(|n| (c.name.clone(), n))).collect::<Result<Vec<_>, _>>()?;
    let count = built.len();
    for (name, n) in built {
        system.add_notifier(name, n);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str, env: &[(&str, &str)]) -> Result<Vec<ChannelConfig>, ChannelError> {
        let raw: BTreeMap<String, serde_yaml::Value> = serde_yaml::from_str(yaml).expect("yaml");
        parse_channels(raw, &|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn variables_are_substituted_and_unset_ones_named() {
        let ok = parse("hook: { type: webhook, url: \"https://h.example/${PATH_TOKEN}/x\" }", &[("PATH_TOKEN", "t0k")])
            .expect("valid");
        let ChannelSpec::Webhook { url, .. } = &ok[0].spec else { panic!("webhook") };
        assert_eq!(url.expose(), "https://h.example/t0k/x");
        let err = parse("hook: { type: webhook, url: \"${NOPE}\" }", &[]).expect_err("unset").to_string();
        assert_eq!(err, "channels.hook.url: environment variable `NOPE` is not set");
    }

    #[test]
    fn errors_do_not_repeat_values() {
        let err = parse("m: { type: email, host: h, from: a@b, to: [c@d], port: \"${P}\" }", &[("P", "hunter2")])
            .expect_err("port is a number")
            .to_string();
        assert_eq!(err, "channels.m.port: expected a port number, 1 to 65535");
        assert!(!err.contains("hunter2"), "{err}");
        // A secret of another type than text: named, and never repeated.
        let err = parse("p: { type: pagerduty, routing_key: 12345678901 }", &[]).expect_err("a number").to_string();
        assert_eq!(err, "channels.p.routing_key: expected text (quote numbers: a bare number loses a leading + or 0)");
        let err = parse("p: { type: pagerduty, routing_key: [s3cr3t] }", &[]).expect_err("a list").to_string();
        assert!(err.starts_with("channels.p.routing_key: expected text") && !err.contains("s3cr3t"), "{err}");
        let err = parse("p: { type: pagerduty, routng_key: k }", &[]).expect_err("typo").to_string();
        assert_eq!(
            err,
            "channels.p.routng_key: unknown field for a pagerduty channel (known: routing_key, url, source, links)"
        );
        let err = parse("p: { type: pagerduty }", &[]).expect_err("missing").to_string();
        assert_eq!(err, "channels.p.routing_key: missing: a pagerduty channel needs it");
        let err = parse("p: { type: pagerdoody, routing_key: k }", &[]).expect_err("type").to_string();
        assert!(err.starts_with("channels.p.type: not a channel type") && !err.contains("doody"), "{err}");
        let err = parse("p: { type: pagerduty, routing_key: k, queue_capacity: 3000000000000000000 }", &[])
            .expect_err("bound")
            .to_string();
        assert_eq!(err, "channels.p.queue_capacity: must be 1 to 65536");
        let err = parse("m: { type: email, host: h, from: a@b, to: [c@d], security: none }", &[]).expect_err("mode");
        assert!(err.to_string().contains("not one of starttls, tls, plaintext"));
        let err = parse("p: { type: pagerduty, routing_key: k, max_attempts: many }", &[]).expect_err("number");
        assert_eq!(err.to_string(), "channels.p.max_attempts: expected a whole number");
    }
}
