//! What goes wrong configuring a channel, said with the channel and field at fault.

/// A channel that cannot be configured.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A field is missing, unknown, of the wrong type, or names an unset variable.
    #[error("channels.{channel}.{field}: {reason}")]
    Invalid {
        /// Channel name.
        channel: String,
        /// Field at fault.
        field: String,
        /// Why (never the value: it may be a secret).
        reason: String,
    },
}

impl ChannelError {
    pub(crate) fn new(channel: &str, field: &str, reason: impl Into<String>) -> Self {
        ChannelError::Invalid { channel: channel.to_string(), field: field.to_string(), reason: reason.into() }
    }

    pub(crate) fn parts(&self) -> (&str, &str, &str) {
        let ChannelError::Invalid { channel, field, reason } = self;
        (channel, field, reason)
    }
}
