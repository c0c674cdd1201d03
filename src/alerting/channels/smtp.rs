//! [`SmtpSecurity`]: how an e-mail channel protects its SMTP connection. Plain data, so rules
//! files and the Alertmanager export can name it in a build without the `email` feature.

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (default; port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS; port 465).
    ImplicitTls,
    /// No encryption at all: only for a relay on the same host or a trusted network. Must
    /// be chosen explicitly; credentials, if any, travel in clear.
    Plaintext,
}

impl SmtpSecurity {
    /// The usual port of the mode.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::ImplicitTls => 465,
            SmtpSecurity::Plaintext => 25,
        }
    }
}
