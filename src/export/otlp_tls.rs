//! TLS material of an OTLP exporter: the CA and client identity files a signal names, read once
//! and turned into tonic's and reqwest's TLS settings. The system roots are always trusted too.

use crate::config::OtlpSignal;
use crate::export::ExportError;

/// The PEM bytes a signal's TLS settings name.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsMaterial {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsMaterial {
    /// Reads the files `signal` names; an unreadable file is an error naming its setting.
    pub(crate) fn load(signal: &OtlpSignal) -> Result<TlsMaterial, ExportError> {
        let read = |path: &std::path::Path, source: &'static str| {
            std::fs::read(path).map_err(|e| ExportError {
                signal: signal.signal.as_str(),
                endpoint: signal.endpoint_for_display(),
                reason: format!("{source}: cannot read {}: {e}", crate::config::quote(&path.display().to_string())),
            })
        };
        let ca = match &signal.tls.certificate {
            Some(p) => Some(read(p, signal.sources.certificate)?),
            None => None,
        };
        let identity = match (&signal.tls.client_certificate, &signal.tls.client_key) {
            (Some(c), Some(k)) => {
                Some((read(c, signal.sources.client_certificate)?, read(k, signal.sources.client_certificate)?))
            }
            _ => None,
        };
        Ok(TlsMaterial { ca, identity })
    }

    /// tonic's settings (used only for `https://` endpoints).
    pub(crate) fn tonic(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let mut tls = ClientTlsConfig::new().with_enabled_roots();
        if let Some(ca) = &self.ca {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        tls
    }

    /// The CA certificates and client identity in reqwest's form.
    pub(crate) fn reqwest(&self) -> Result<(Vec<reqwest::Certificate>, Option<reqwest::Identity>), String> {
        let certs = match &self.ca {
            Some(ca) => reqwest::Certificate::from_pem_bundle(ca).map_err(|e| format!("CA certificate: {e}"))?,
            None => Vec::new(),
        };
        let identity = match &self.identity {
            Some((cert, key)) => {
                let mut pem = cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| format!("client certificate or key: {e}"))?)
            }
            None => None,
        };
        Ok((certs, identity))
    }
}
