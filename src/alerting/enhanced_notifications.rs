//! An alias module, kept so the monitoring reference's import
//! (`alerting::enhanced_notifications::*`) compiles: it defines nothing, and each name below is
//! a re-export of its one home, [`super`] or [`super::channels`]. New code imports from there.
//!
//! It brings in the [`Notifier`] trait, the in-memory and log
//! notifiers, and every provider channel of [`super::channels`] (PagerDuty, Slack, Teams,
//! e-mail, Twilio SMS, generic webhook) with their delivery options.
//!
//! ```
//! use bitcraps_otel::alerting::enhanced_notifications::*;
//! use bitcraps_otel::semconv::AttributeEnum;
//!
//! let pagerduty = PagerDutyNotifier::new("your-integration-key".to_string());
//! let slack = SlackNotifier::new("https://hooks.slack.com/services/...".to_string(), "#alerts".to_string());
//! assert_eq!(pagerduty.kind().as_str(), "pagerduty");
//! assert!(!format!("{slack:?}").contains("hooks.slack.com"));
//! ```

#[cfg(feature = "email")]
#[doc(no_inline)]
pub use super::channels::EmailNotifier;
#[cfg(feature = "slack")]
#[doc(no_inline)]
pub use super::channels::SlackNotifier;
#[cfg(feature = "teams")]
#[doc(no_inline)]
pub use super::channels::TeamsNotifier;
#[doc(no_inline)]
pub use super::channels::{
    register_channels, ChannelConfig, ChannelError, ChannelSpec, ChannelStats, DeliveryOptions, Link, Secret,
    SendError, SmtpSecurity,
};
#[cfg(feature = "pagerduty")]
#[doc(no_inline)]
pub use super::channels::{PagerDutyNotifier, PAGERDUTY_EVENTS_URL};
#[cfg(feature = "sms")]
#[doc(no_inline)]
pub use super::channels::{SmsNotifier, TWILIO_API_BASE};
#[cfg(feature = "webhook")]
#[doc(no_inline)]
pub use super::channels::{WebhookNotifier, WEBHOOK_SCHEMA};
#[doc(no_inline)]
pub use super::notify::{DeliveryReport, InMemoryNotifier, LogNotifier, Notification, Notifier, NotifyError};
