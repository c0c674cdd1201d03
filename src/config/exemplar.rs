//! [`ExemplarFilter`]: which histogram recordings keep an exemplar (`OTEL_METRICS_EXEMPLAR_FILTER`).

/// Which recordings may become exemplars, as the OpenTelemetry SDK specification defines
/// `OTEL_METRICS_EXEMPLAR_FILTER`.
///
/// ```
/// use bitcraps_otel::config::ExemplarFilter;
/// use bitcraps_otel::Config;
///
/// assert_eq!(ExemplarFilter::parse("always_off"), Some(ExemplarFilter::AlwaysOff));
/// assert_eq!(ExemplarFilter::default(), ExemplarFilter::TraceBased);
/// let config = Config::builder().exemplar_filter(ExemplarFilter::AlwaysOn).build()?;
/// assert_eq!(config.exemplar_filter(), ExemplarFilter::AlwaysOn);
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExemplarFilter {
    /// Every recording is a candidate, inside a span or not (`always_on`).
    AlwaysOn,
    /// No exemplars at all (`always_off`).
    AlwaysOff,
    /// Only recordings made while the current context holds a sampled span (`trace_based`,
    /// the default).
    #[default]
    TraceBased,
}

impl ExemplarFilter {
    /// The specification's spelling of a filter (`always_on`, `always_off`, `trace_based`),
    /// case-insensitive and trimmed; `None` for anything else.
    pub fn parse(value: &str) -> Option<ExemplarFilter> {
        match value.trim().to_ascii_lowercase().as_str() {
            "always_on" => Some(ExemplarFilter::AlwaysOn),
            "always_off" => Some(ExemplarFilter::AlwaysOff),
            "trace_based" => Some(ExemplarFilter::TraceBased),
            _ => None,
        }
    }

    /// The specification's spelling of this filter.
    pub fn as_str(self) -> &'static str {
        match self {
            ExemplarFilter::AlwaysOn => "always_on",
            ExemplarFilter::AlwaysOff => "always_off",
            ExemplarFilter::TraceBased => "trace_based",
        }
    }
}

impl std::fmt::Display for ExemplarFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigBuilder, ConfigError};

    fn from_env(value: &str) -> Result<ExemplarFilter, ConfigError> {
        let value = value.to_string();
        ConfigBuilder::from_lookup(move |k| (k == "OTEL_METRICS_EXEMPLAR_FILTER").then(|| value.clone()))
            .build()
            .map(|c| c.exemplar_filter())
    }

    #[test]
    fn each_spelling_of_the_specification_is_read_from_the_environment() {
        assert_eq!(from_env("always_on"), Ok(ExemplarFilter::AlwaysOn));
        assert_eq!(from_env(" ALWAYS_OFF "), Ok(ExemplarFilter::AlwaysOff));
        assert_eq!(from_env("trace_based"), Ok(ExemplarFilter::TraceBased));
        assert_eq!(ConfigBuilder::from_lookup(|_| None).build().map(|c| c.exemplar_filter()), Ok(Default::default()));
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_variable() {
        let err = from_env("sometimes").unwrap_err();
        assert!(matches!(err, ConfigError::Value { field: "OTEL_METRICS_EXEMPLAR_FILTER", .. }), "{err:?}");
        assert!(err.to_string().contains("always_on"), "{err}");
    }

    #[test]
    fn the_builder_method_overrides_the_environment() {
        let c = ConfigBuilder::from_lookup(|k| (k == "OTEL_METRICS_EXEMPLAR_FILTER").then(|| "bogus".to_string()))
            .exemplar_filter(ExemplarFilter::AlwaysOff)
            .build()
            .expect("the setter replaces the bad environment value");
        assert_eq!(c.exemplar_filter(), ExemplarFilter::AlwaysOff);
    }
}
