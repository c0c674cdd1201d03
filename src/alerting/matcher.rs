//! Label matchers in Alertmanager's model: `=`, `!=`, `=~` and `!~`, regexes anchored at both
//! ends (RE2 syntax, as Go's `regexp`), a missing label read as the empty string. Silences,
//! API filters and `amtool`'s text form (`name=~"value"`) all use them.
//!
//! ```
//! use bitcraps_otel::alerting::Matcher;
//! use std::collections::BTreeMap;
//!
//! let m = Matcher::parse(r#"node_id=~"eu-.*""#)?;
//! let labels: BTreeMap<String, String> = [("node_id".to_string(), "eu-1".to_string())].into();
//! assert!(m.matches(&labels));
//! assert!(!Matcher::parse("node_id=~eu")?.matches(&labels), "anchored: the whole value must match");
//! assert_eq!(m.to_string(), r#"node_id=~"eu-.*""#);
//! # Ok::<(), bitcraps_otel::alerting::MatcherError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

/// Longest label value or pattern a matcher takes, in bytes.
pub const MAX_MATCHER_VALUE: usize = 4096;

/// Memory a compiled pattern may use; larger patterns are refused rather than built.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How a matcher compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchType {
    /// `=`: the value equals.
    Equal,
    /// `!=`: the value differs.
    NotEqual,
    /// `=~`: the whole value matches the regex.
    Regex,
    /// `!~`: the whole value does not match the regex.
    NotRegex,
}

impl MatchType {
    /// The operator as written: `=`, `!=`, `=~`, `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }

    /// From the API's `isEqual` and `isRegex` flags.
    pub fn from_flags(is_equal: bool, is_regex: bool) -> MatchType {
        match (is_equal, is_regex) {
            (true, false) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regex,
            (false, true) => MatchType::NotRegex,
        }
    }

    /// Whether the value is a regex.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regex | MatchType::NotRegex)
    }

    /// Whether a match selects (`=`, `=~`) rather than excludes (`!=`, `!~`).
    pub fn is_equal(self) -> bool {
        matches!(self, MatchType::Equal | MatchType::Regex)
    }
}

/// A matcher that cannot be built. The message never repeats a whole hostile value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// Not `name op value`.
    #[error("bad matcher format: {0}")]
    Format(String),
    /// The label name is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}")]
    Name(String),
    /// The regex does not compile (or is too large).
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regex {
        /// The pattern (shortened when long).
        pattern: String,
        /// The regex engine's reason.
        reason: String,
    },
    /// A value with an unescaped or unbalanced double quote.
    #[error("matcher value contains unescaped double quote: {0}")]
    Quote(String),
    /// The value is longer than [`MAX_MATCHER_VALUE`].
    #[error("matcher value is {0} bytes; at most {MAX_MATCHER_VALUE} are accepted")]
    TooLong(usize),
}

/// Selects alerts (or series) by one label: `name op value`.
///
/// ```
/// use std::collections::BTreeMap;
/// use bitcraps_otel::alerting::{MatchType, Matcher};
/// let m = Matcher::parse(r#"severity=~"high|critical""#)?;
/// assert_eq!(m.op(), MatchType::Regex);
/// let labels = BTreeMap::from([("severity".to_string(), "critical".to_string())]);
/// assert!(m.matches(&labels));
/// assert!(Matcher::parse("severity=~\"(\"").is_err(), "a bad regex is an error");
/// # Ok::<(), bitcraps_otel::alerting::MatcherError>(())
/// ```
#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchType,
    value: String,
    re: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

/// A short, printable form of a value for error messages.
pub(crate) fn quoted_excerpt(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Whether `name` is a valid label name (Prometheus' classic rule).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Matcher {
    /// A matcher; regexes are compiled anchored (`^(?:value)$`).
    pub fn new(name: impl Into<String>, op: MatchType, value: impl Into<String>) -> Result<Matcher, MatcherError> {
        let (name, value) = (name.into(), value.into());
        if !valid_label_name(&name) {
            return Err(MatcherError::Name(quoted_excerpt(&name)));
        }
        if value.len() > MAX_MATCHER_VALUE {
            return Err(MatcherError::TooLong(value.len()));
        }
        let re = if op.is_regex() {
            let compiled = regex::RegexBuilder::new(&format!("^(?:{value})$"))
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| MatcherError::Regex { pattern: quoted_excerpt(&value), reason: regex_reason(&e) })?;
            Some(compiled)
        } else {
            None
        };
        Ok(Matcher { name, op, value, re })
    }

    /// `name="value"`.
    pub fn eq(name: impl Into<String>, value: impl Into<String>) -> Result<Matcher, MatcherError> {
        Matcher::new(name, MatchType::Equal, value)
    }

    /// `name=~"regex"`.
    pub fn regex(name: impl Into<String>, pattern: impl Into<String>) -> Result<Matcher, MatcherError> {
        Matcher::new(name, MatchType::Regex, pattern)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The comparison.
    pub fn op(&self) -> MatchType {
        self.op
    }

    /// The value or pattern.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (`None`: the label is missing, read as `""`) satisfies it.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match (self.op, &self.re) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regex, Some(re)) => re.is_match(v),
            (MatchType::NotRegex, Some(re)) => !re.is_match(v),
            // `new` always compiles regex matchers.
            (MatchType::Regex | MatchType::NotRegex, None) => false,
        }
    }

    /// Whether `labels` satisfy it.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map(String::as_str))
    }

    /// Whether a missing label satisfies it (a silence of only such matchers would silence
    /// everything, so one of them must not).
    pub fn matches_empty(&self) -> bool {
        self.matches_value(None)
    }

    /// Parses `amtool`'s form: `name=value`, `name!="value"`, `name=~"re.*"`, `name!~re`.
    /// Values may be quoted; inside quotes `\"`, `\\` and `\n` are escapes.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let s = text.trim();
        let name_end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(s.len());
        let name = &s[..name_end];
        let rest = s[name_end..].trim_start();
        let (op, raw) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchType::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchType::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchType::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchType::Equal, r)
        } else {
            return Err(MatcherError::Format(quoted_excerpt(text)));
        };
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(MatcherError::Format(quoted_excerpt(text)));
        }
        let value = unquote(raw.trim())?;
        Matcher::new(name, op, value)
    }

    /// Parses a comma-separated set, with or without braces: `{a="1", b=~"x|y"}`.
    pub fn parse_set(text: &str) -> Result<Vec<Matcher>, MatcherError> {
        let s = text.trim();
        let s = s.strip_prefix('{').unwrap_or(s);
        let s = s.strip_suffix('}').unwrap_or(s);
        let mut out = Vec::new();
        let (mut quoted, mut escaped, mut start) = (false, false, 0);
        for (i, c) in s.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    out.push(Matcher::parse(&s[start..i])?);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !s[start..].trim().is_empty() {
            out.push(Matcher::parse(&s[start..])?);
        }
        Ok(out)
    }
}

fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!("the pattern compiles to more than {limit} bytes"),
        // The syntax error's own text quotes the pattern over several lines: keep the last.
        other => other.to_string().lines().last().unwrap_or("invalid pattern").trim().to_string(),
    }
}

/// A value with optional surrounding quotes and `amtool`'s escapes.
fn unquote(raw: &str) -> Result<String, MatcherError> {
    let body = match raw.strip_prefix('"') {
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) if !ends_with_escape(inner) => inner,
            _ => return Err(MatcherError::Quote(quoted_excerpt(raw))),
        },
        None => raw,
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('n') => {
                    out.push('\n');
                    chars.next();
                }
                Some(&q @ ('"' | '\\')) => {
                    out.push(q);
                    chars.next();
                }
                // A spurious escape is a literal backslash.
                _ => out.push('\\'),
            },
            '"' => return Err(MatcherError::Quote(quoted_excerpt(raw))),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Whether `s` ends in an odd run of backslashes (its last quote is escaped).
fn ends_with_escape(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        f.write_str(self.op.as_str())?;
        f.write_str("\"")?;
        for c in self.value.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                other => write!(f, "{other}")?,
            }
        }
        f.write_str("\"")
    }
}

impl TryFrom<&super::LabelMatcher> for Matcher {
    type Error = MatcherError;

    /// A rule's matcher (`=`, `!=`) as an Alertmanager matcher; OTel attribute keys become
    /// their Prometheus label names.
    fn try_from(m: &super::LabelMatcher) -> Result<Matcher, MatcherError> {
        let op = match m.op {
            super::MatchOp::Equal => MatchType::Equal,
            super::MatchOp::NotEqual => MatchType::NotEqual,
        };
        Matcher::new(super::rule::normalize_label(&m.name), op, m.value.clone())
    }
}

/// The API's JSON form: `{"name", "value", "isRegex", "isEqual"}` (`isEqual` defaults to true).
impl serde::Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Matcher", 4)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("value", &self.value)?;
        st.serialize_field("isRegex", &self.op.is_regex())?;
        st.serialize_field("isEqual", &self.op.is_equal())?;
        st.end()
    }
}

impl<'de> serde::Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            name: String,
            value: String,
            is_regex: bool,
            is_equal: Option<bool>,
        }
        let raw = Raw::deserialize(d)?;
        Matcher::new(raw.name, MatchType::from_flags(raw.is_equal.unwrap_or(true), raw.is_regex), raw.value)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_four_operators_and_missing_labels() {
        let l = labels(&[("a", "x1")]);
        assert!(Matcher::parse("a=x1").expect("eq").matches(&l));
        assert!(!Matcher::parse("a!=x1").expect("ne").matches(&l));
        assert!(Matcher::parse(r#"a=~"x[0-9]""#).expect("re").matches(&l));
        assert!(!Matcher::parse("a!~x.*").expect("nre").matches(&l));
        // Missing labels read as "".
        assert!(Matcher::parse(r#"b="""#).expect("empty").matches(&l));
        assert!(Matcher::parse("b!=y").expect("ne").matches(&l));
        assert!(Matcher::parse("b=~.*").expect("re").matches_empty());
        assert!(!Matcher::parse("b=~.+").expect("re").matches_empty());
    }

    #[test]
    fn regexes_are_anchored_and_bounded() {
        let m = Matcher::regex("a", "foo|bar").expect("re");
        assert!(m.matches_value(Some("bar")) && !m.matches_value(Some("foobar")) && !m.matches_value(Some("xbar")));
        let err = Matcher::regex("a", "(").expect_err("unbalanced");
        assert!(matches!(err, MatcherError::Regex { .. }), "{err}");
        let huge = Matcher::regex("a", "(((a{100}){100}){100})").expect_err("too big");
        assert!(huge.to_string().contains("more than"), "{huge}");
        assert!(matches!(Matcher::eq("a", "x".repeat(MAX_MATCHER_VALUE + 1)), Err(MatcherError::TooLong(_))));
    }

    #[test]
    fn text_form_round_trips_with_escapes() {
        let m = Matcher::parse(r#" comment = "say \"hi\"\n\\" "#).expect("quoted");
        assert_eq!(m.value(), "say \"hi\"\n\\");
        assert_eq!(Matcher::parse(&m.to_string()).expect("round trip"), m);
        assert!(matches!(Matcher::parse(r#"a="x"y""#), Err(MatcherError::Quote(_))));
        assert!(matches!(Matcher::parse(r#"a="x"#), Err(MatcherError::Quote(_))));
        assert!(matches!(Matcher::parse("just-text"), Err(MatcherError::Format(_))));
        assert!(matches!(Matcher::parse("9a=b"), Err(MatcherError::Format(_))));
        assert!(matches!(Matcher::new("a.b", MatchType::Equal, "x"), Err(MatcherError::Name(_))));
        let set = Matcher::parse_set(r#"{a="1,2", b=~"x|y"}"#).expect("set");
        assert_eq!(set.len(), 2);
        assert_eq!(set[0].value(), "1,2");
    }

    #[test]
    fn json_form_defaults_is_equal_and_validates() {
        let m: Matcher = serde_json::from_str(r#"{"name":"a","value":"x.*","isRegex":true}"#).expect("json");
        assert_eq!(m.op(), MatchType::Regex);
        let back = serde_json::to_value(&m).expect("json");
        assert_eq!(back, serde_json::json!({"name":"a","value":"x.*","isRegex":true,"isEqual":true}));
        assert!(serde_json::from_str::<Matcher>(r#"{"name":"a","value":"(","isRegex":true}"#).is_err());
    }
}
