//! E-mail over SMTP with `lettre`: STARTTLS (port 587) by default or implicit TLS (465),
//! both through rustls; plain SMTP only when chosen explicitly, for a local relay. Optional
//! authentication; a `multipart/alternative` message with a text and an HTML part.

use super::delivery::{Delivery, DeliveryOptions, SendError, Transport};
use super::{alerts, delivery_methods, headline, labels_text, threshold_text, value_text, Secret, SmtpSecurity};
use crate::alerting::{DeliveryReport, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Mails alerts to a list of recipients.
///
/// ```
/// use bitcraps_otel::alerting::channels::{EmailNotifier, SmtpSecurity};
///
/// let mail = EmailNotifier::new("smtp.example.com", "alerts@bitcraps.example", vec!["oncall@bitcraps.example".into()])
///     .with_credentials("alerts", "s3cret-password");
/// assert!(!format!("{mail:?}").contains("s3cret"));
///
/// // A relay on loopback, without TLS: only when asked for.
/// let relay = EmailNotifier::new("127.0.0.1", "node@localhost", vec!["ops@localhost".into()])
///     .with_security(SmtpSecurity::Plaintext)
///     .with_port(2525);
/// ```
#[derive(Debug)]
pub struct EmailNotifier {
    host: String,
    port: Option<u16>,
    security: SmtpSecurity,
    credentials: Option<(String, Secret)>,
    from: String,
    to: Vec<String>,
    delivery: Delivery<SmtpSender>,
}

delivery_methods!(EmailNotifier);

impl EmailNotifier {
    /// Mail from `from` to each of `to` through the SMTP server `host` (STARTTLS, port 587).
    pub fn new(host: impl Into<String>, from: impl Into<String>, to: Vec<String>) -> Self {
        EmailNotifier {
            host: host.into(),
            port: None,
            security: SmtpSecurity::default(),
            credentials: None,
            from: from.into(),
            to,
            delivery: Delivery::new(AlertChannel::Email),
        }
    }

    /// The connection's protection (default STARTTLS).
    pub fn with_security(mut self, security: SmtpSecurity) -> Self {
        self.security = security;
        self
    }

    /// Another port than the mode's usual one.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Authenticates as `user` (PLAIN or LOGIN, whichever the server offers).
    pub fn with_credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), Secret::new(password.into())));
        self
    }

    /// The message for `n`.
    fn message(&self, n: &Notification) -> Result<Message, String> {
        let from: Mailbox = self.from.parse().map_err(|e| format!("from `{}`: {e}", self.from))?;
        let mut builder = Message::builder().from(from).subject(headline(n)).message_id(None);
        for to in &self.to {
            let mailbox: Mailbox = to.parse().map_err(|e| format!("to `{to}`: {e}"))?;
            builder = builder.to(mailbox);
        }
        let (text, html) = bodies(n);
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    fn transport(&self, options: &DeliveryOptions) -> Result<SmtpSender, String> {
        let builder = match self.security {
            SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host),
            SmtpSecurity::ImplicitTls => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host),
            SmtpSecurity::Plaintext => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)),
        }
        .map_err(|e| format!("SMTP host `{}`: {e}", self.host))?;
        let mut builder =
            builder.port(self.port.unwrap_or(self.security.default_port())).timeout(Some(options.request_timeout));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
        }
        Ok(SmtpSender { transport: builder.build() })
    }
}

/// The text and HTML parts.
fn bodies(n: &Notification) -> (String, String) {
    let title = headline(n);
    let mut text = format!("{title}\n\n");
    let mut html =
        format!("<html><body><h2>{}</h2><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">", esc(&title));
    html.push_str(
        "<tr><th>State</th><th>Rule</th><th>Severity</th><th>Value</th><th>Threshold</th><th>Labels</th><th>Description</th></tr>",
    );
    for (a, firing) in alerts(n) {
        let state = if firing { "FIRING" } else { "RESOLVED" };
        let labels = labels_text(a);
        let value = value_text(a.value);
        let threshold = threshold_text(a.threshold);
        text.push_str(&format!(
            "{state} {} ({}) value {value}, threshold {threshold}\n  {}\n  labels: {labels}\n",
            a.rule, a.severity, a.description
        ));
        html.push_str(&format!(
            "<tr><td>{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.rule),
            a.severity,
            esc(&value),
            esc(&threshold),
            esc(&labels),
            esc(&a.description)
        ));
    }
    let footer = format!("group: {} · escalation tier {}", group_text(n), n.escalation_tier);
    text.push_str(&format!("\n{footer}\n"));
    html.push_str(&format!("</table><p>{}</p></body></html>", esc(&footer)));
    (text, html)
}

fn group_text(n: &Notification) -> String {
    n.group.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The lettre transport (pooled connections).
pub(crate) struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

#[async_trait::async_trait]
impl Transport for SmtpSender {
    type Message = Message;

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        match self.transport.send(message.clone()).await {
            Ok(_) => Ok(()),
            // 5xx replies: the server refuses this message for good.
            Err(e) if e.is_permanent() => Err(SendError::Permanent { reason: format!("SMTP: {e}") }),
            Err(e) => Err(SendError::Retryable { reason: format!("SMTP: {e}"), retry_after: None }),
        }
    }
}

#[async_trait::async_trait]
impl Notifier for EmailNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Email
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let render = || {
            self.message(n).map(|m| vec![(m, None)]).map_err(|reason| NotifyError::Config { channel: "email", reason })
        };
        self.delivery.deliver(&n.channel, super::fingerprints(n), render, |o| self.transport(o)).await
    }
}
