//! [`TraceSampler`] and [`Propagator`]: which spans are kept (`OTEL_TRACES_SAMPLER`,
//! `OTEL_TRACES_SAMPLER_ARG`) and which header formats carry trace context over HTTP
//! (`OTEL_PROPAGATORS`).

use super::error::ConfigError;

/// Which spans are sampled, as the OpenTelemetry SDK specification defines
/// `OTEL_TRACES_SAMPLER` (the six values that need no remote service).
///
/// The default is [`TraceSampler::ParentBasedAlwaysOn`]: a root span is always sampled, and a
/// child (in this process or on another node, through the peer carrier or `traceparent`)
/// follows its parent's decision, so a trace crossing the mesh is either whole or absent. A
/// BitCraps node starts a handful of game and consensus spans per second, which the batch
/// processor exports cheaply; a busy fleet lowers the volume with
/// `parentbased_traceidratio` and a ratio, which keeps the same whole-or-absent property.
///
/// ```
/// use bitcraps_otel::config::TraceSampler;
/// use bitcraps_otel::Config;
///
/// assert_eq!(TraceSampler::parse("parentbased_traceidratio", Some("0.25")), Ok(TraceSampler::ParentBasedTraceIdRatio(0.25)));
/// assert!(TraceSampler::parse("traceidratio", Some("2")).is_err());
/// let config = Config::builder().traces_sampler(TraceSampler::AlwaysOff).build()?;
/// assert_eq!(config.traces_sampler(), TraceSampler::AlwaysOff);
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum TraceSampler {
    /// Every span (`always_on`).
    AlwaysOn,
    /// No span (`always_off`).
    AlwaysOff,
    /// This fraction of traces, decided from the trace id, ignoring the parent (`traceidratio`).
    TraceIdRatio(f64),
    /// The parent's decision; roots always sampled (`parentbased_always_on`, the default).
    #[default]
    ParentBasedAlwaysOn,
    /// The parent's decision; roots never sampled (`parentbased_always_off`).
    ParentBasedAlwaysOff,
    /// The parent's decision; this fraction of roots (`parentbased_traceidratio`).
    ParentBasedTraceIdRatio(f64),
}

/// What `OTEL_TRACES_SAMPLER` accepts, for error messages.
const SAMPLERS: &str = "`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, \
                        `parentbased_always_off` or `parentbased_traceidratio`";

impl TraceSampler {
    /// Parses the specification's spelling (case-insensitive, trimmed) with its argument: the
    /// ratio samplers read `arg` as a number from 0 to 1 (1 when absent); the others ignore it.
    /// The error names `OTEL_TRACES_SAMPLER` or `OTEL_TRACES_SAMPLER_ARG`.
    pub fn parse(sampler: &str, arg: Option<&str>) -> Result<TraceSampler, ConfigError> {
        Self::parse_from(sampler, arg, "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
    }

    pub(super) fn parse_from(
        sampler: &str,
        arg: Option<&str>,
        field: &'static str,
        arg_field: &'static str,
    ) -> Result<TraceSampler, ConfigError> {
        let ratio = || -> Result<f64, ConfigError> {
            let Some(text) = arg.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(1.0) };
            match text.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(ConfigError::Value { field: arg_field, value: text.into(), expected: "a ratio from 0 to 1" }),
            }
        };
        Ok(match sampler.trim().to_ascii_lowercase().as_str() {
            "always_on" => TraceSampler::AlwaysOn,
            "always_off" => TraceSampler::AlwaysOff,
            "traceidratio" => TraceSampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => TraceSampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => TraceSampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => TraceSampler::ParentBasedTraceIdRatio(ratio()?),
            _ => return Err(ConfigError::Value { field, value: sampler.into(), expected: SAMPLERS }),
        })
    }

    /// The specification's spelling of this sampler.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceSampler::AlwaysOn => "always_on",
            TraceSampler::AlwaysOff => "always_off",
            TraceSampler::TraceIdRatio(_) => "traceidratio",
            TraceSampler::ParentBasedAlwaysOn => "parentbased_always_on",
            TraceSampler::ParentBasedAlwaysOff => "parentbased_always_off",
            TraceSampler::ParentBasedTraceIdRatio(_) => "parentbased_traceidratio",
        }
    }

    /// The SDK sampler.
    pub fn to_sdk(self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler;
        match self {
            TraceSampler::AlwaysOn => Sampler::AlwaysOn,
            TraceSampler::AlwaysOff => Sampler::AlwaysOff,
            TraceSampler::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            TraceSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            TraceSampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            TraceSampler::ParentBasedTraceIdRatio(r) => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r))),
        }
    }
}

impl std::fmt::Display for TraceSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceSampler::TraceIdRatio(r) | TraceSampler::ParentBasedTraceIdRatio(r) => {
                write!(f, "{}({r})", self.as_str())
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

/// One trace-context header format for HTTP (`OTEL_PROPAGATORS`). Several may be listed; on
/// extraction the last one that finds something wins, on injection all of them write.
///
/// ```
/// use bitcraps_otel::config::Propagator;
/// assert_eq!(Propagator::parse_list("tracecontext, baggage"), Ok(vec![Propagator::TraceContext, Propagator::Baggage]));
/// assert_eq!(Propagator::parse_list("none"), Ok(vec![]));
/// assert!(Propagator::parse_list("xray").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagator {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// Zipkin B3, one `b3` header.
    B3,
    /// Zipkin B3, the `X-B3-*` headers.
    B3Multi,
}

impl Propagator {
    /// The default list: `tracecontext,baggage`.
    pub const DEFAULT: &'static [Propagator] = &[Propagator::TraceContext, Propagator::Baggage];

    /// Parses a comma-separated list (case-insensitive, blanks ignored, duplicates dropped);
    /// `none` alone turns propagation off. The error names `OTEL_PROPAGATORS`.
    pub fn parse_list(text: &str) -> Result<Vec<Propagator>, ConfigError> {
        Self::parse_list_from(text, "OTEL_PROPAGATORS")
    }

    pub(super) fn parse_list_from(text: &str, field: &'static str) -> Result<Vec<Propagator>, ConfigError> {
        let mut out = Vec::new();
        let mut none = false;
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let p = match item.to_ascii_lowercase().as_str() {
                "tracecontext" => Propagator::TraceContext,
                "baggage" => Propagator::Baggage,
                "b3" => Propagator::B3,
                "b3multi" => Propagator::B3Multi,
                "none" => {
                    none = true;
                    continue;
                }
                _ => {
                    return Err(ConfigError::Value {
                        field,
                        value: item.into(),
                        expected: "a comma-separated list of `tracecontext`, `baggage`, `b3`, `b3multi`, or `none`",
                    })
                }
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if none && !out.is_empty() {
            return Err(ConfigError::Value {
                field,
                value: text.into(),
                expected: "`none` alone, or a list of propagators without `none`",
            });
        }
        Ok(out)
    }

    /// The specification's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Baggage => "baggage",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigBuilder;

    fn from_env(vars: &[(&str, &str)]) -> Result<crate::Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigBuilder::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).build()
    }

    fn sampler(value: &str, arg: Option<&str>) -> Result<TraceSampler, ConfigError> {
        let mut vars = vec![("OTEL_TRACES_SAMPLER", value)];
        vars.extend(arg.map(|a| ("OTEL_TRACES_SAMPLER_ARG", a)));
        from_env(&vars).map(|c| c.traces_sampler())
    }

    #[test]
    fn every_sampler_value_is_read_from_the_environment() {
        assert_eq!(sampler("always_on", None), Ok(TraceSampler::AlwaysOn));
        assert_eq!(sampler(" ALWAYS_OFF ", None), Ok(TraceSampler::AlwaysOff));
        assert_eq!(sampler("traceidratio", Some("0.5")), Ok(TraceSampler::TraceIdRatio(0.5)));
        assert_eq!(sampler("traceidratio", None), Ok(TraceSampler::TraceIdRatio(1.0)));
        assert_eq!(sampler("parentbased_always_on", None), Ok(TraceSampler::ParentBasedAlwaysOn));
        assert_eq!(sampler("parentbased_always_off", Some("ignored")), Ok(TraceSampler::ParentBasedAlwaysOff));
        assert_eq!(sampler("parentbased_traceidratio", Some("0")), Ok(TraceSampler::ParentBasedTraceIdRatio(0.0)));
        assert_eq!(sampler("parentbased_traceidratio", Some(" 1 ")), Ok(TraceSampler::ParentBasedTraceIdRatio(1.0)));
        assert_eq!(from_env(&[]).map(|c| c.traces_sampler()), Ok(TraceSampler::ParentBasedAlwaysOn), "default");
        for s in [
            TraceSampler::AlwaysOn,
            TraceSampler::AlwaysOff,
            TraceSampler::TraceIdRatio(0.25),
            TraceSampler::ParentBasedAlwaysOn,
            TraceSampler::ParentBasedAlwaysOff,
            TraceSampler::ParentBasedTraceIdRatio(0.25),
        ] {
            assert_eq!(TraceSampler::parse(s.as_str(), Some("0.25")), Ok(s), "{s} round-trips its spelling");
        }
    }

    #[test]
    fn every_bad_sampler_value_is_an_error_naming_its_variable() {
        for bad in ["sometimes", "jaeger_remote", "parentbased_jaeger_remote", "xray", "always-on", "on"] {
            let err = sampler(bad, None).unwrap_err();
            assert!(matches!(err, ConfigError::Value { field: "OTEL_TRACES_SAMPLER", .. }), "{bad}: {err:?}");
            assert!(err.to_string().contains("parentbased_traceidratio"), "{err}");
        }
        for (s, bad_arg) in [
            ("traceidratio", "1.5"),
            ("traceidratio", "-0.1"),
            ("parentbased_traceidratio", "half"),
            ("parentbased_traceidratio", "NaN"),
        ] {
            let err = sampler(s, Some(bad_arg)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Value { field: "OTEL_TRACES_SAMPLER_ARG", .. }),
                "{s}={bad_arg}: {err:?}"
            );
        }
    }

    #[test]
    fn the_builder_methods_override_the_environment() {
        let c = ConfigBuilder::from_lookup(|k| match k {
            "OTEL_TRACES_SAMPLER" => Some("bogus".into()),
            "OTEL_PROPAGATORS" => Some("bogus".into()),
            _ => None,
        })
        .traces_sampler(TraceSampler::AlwaysOff)
        .propagators([Propagator::B3])
        .build()
        .expect("the setters replace the bad environment values");
        assert_eq!((c.traces_sampler(), c.propagators()), (TraceSampler::AlwaysOff, &[Propagator::B3][..]));
    }

    #[test]
    fn propagators_are_read_from_the_environment_and_bad_ones_name_the_variable() {
        let list = |v: &str| from_env(&[("OTEL_PROPAGATORS", v)]).map(|c| c.propagators().to_vec());
        assert_eq!(
            list("tracecontext,baggage,b3,b3multi"),
            Ok(vec![Propagator::TraceContext, Propagator::Baggage, Propagator::B3, Propagator::B3Multi])
        );
        assert_eq!(list("B3, b3"), Ok(vec![Propagator::B3]));
        assert_eq!(list("none"), Ok(vec![]));
        assert_eq!(from_env(&[]).map(|c| c.propagators().to_vec()), Ok(Propagator::DEFAULT.to_vec()));
        for bad in ["xray", "jaeger", "ottrace", "none,b3", "tracecontext;baggage"] {
            let err = list(bad).unwrap_err();
            assert!(matches!(err, ConfigError::Value { field: "OTEL_PROPAGATORS", .. }), "{bad}: {err:?}");
        }
    }
}
