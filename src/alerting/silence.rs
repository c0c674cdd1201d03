//! Silences in Alertmanager's model: label [`Matcher`]s, a `startsAt`–`endsAt` window in
//! wall-clock time, who made it and why, and an id. A matching alert keeps its state but is
//! not notified while a silence is active. Expired silences stay listed for a retention
//! period, then are forgotten.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use bitcraps_otel::alerting::{Matcher, SilenceSpec, SilenceState, Silences};
//!
//! let now = SystemTime::now();
//! let mut silences = Silences::default();
//! let id = silences.set(
//!     SilenceSpec {
//!         matchers: vec![Matcher::parse(r#"alertname=~"Battery.*""#)?],
//!         starts_at: now,
//!         ends_at: now + Duration::from_secs(3600),
//!         created_by: "ops@bitcraps".into(),
//!         comment: "charging the test devices".into(),
//!         id: None,
//!     },
//!     now,
//! )?;
//! let labels = [("alertname".to_string(), "BatteryLow".to_string())].into();
//! assert_eq!(silences.silencing(&labels, now), vec![id.as_str()]);
//! silences.expire(&id, now)?;
//! assert_eq!(silences.get(&id).map(|s| s.state(now + Duration::from_millis(1))), Some(SilenceState::Expired));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::matcher::{MatchType, Matcher};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How long an expired silence stays listed (Alertmanager's default `--data.retention`).
pub const SILENCE_RETENTION: Duration = Duration::from_secs(120 * 3600);

/// Most silences held at once, expired ones included; more are refused.
pub const MAX_SILENCES: usize = 10_000;

/// Most matchers one silence may have.
pub const MAX_SILENCE_MATCHERS: usize = 64;

/// Longest `createdBy` or `comment`, in bytes.
pub const MAX_SILENCE_TEXT: usize = 4096;

/// Where a silence is in its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Silencing now.
    Active,
    /// Starts later.
    Pending,
    /// Ended (or was expired).
    Expired,
}

impl SilenceState {
    /// `active`, `pending` or `expired`, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
            SilenceState::Expired => "expired",
        }
    }
}

/// What someone asks for: a new silence, or (with `id`) a change to one.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::{Duration, SystemTime};
/// use bitcraps_otel::alerting::{Matcher, SilenceSpec, Silences};
/// let now = SystemTime::now();
/// let mut silences = Silences::default();
/// let id = silences.set(
///     SilenceSpec {
///         id: None,
///         matchers: vec![Matcher::eq("alertname", "BatteryLow")?],
///         starts_at: now,
///         ends_at: now + Duration::from_secs(3600),
///         created_by: "ops".into(),
///         comment: "lab devices on the bench".into(),
///     },
///     now,
/// )?;
/// let labels = BTreeMap::from([("alertname".to_string(), "BatteryLow".to_string())]);
/// assert!(silences.is_silenced(&labels, now));
/// silences.expire(&id, now)?;
/// assert!(!silences.is_silenced(&labels, now + Duration::from_secs(1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceSpec {
    /// The silence to update; `None` creates one.
    pub id: Option<String>,
    /// Alerts matching all of these are silenced.
    pub matchers: Vec<Matcher>,
    /// When it starts (the past means now).
    pub starts_at: SystemTime,
    /// When it ends.
    pub ends_at: SystemTime,
    /// Who made it.
    pub created_by: String,
    /// Why (a ticket, a maintenance window).
    pub comment: String,
}

/// A silence as held.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// A random UUID.
    pub id: String,
    /// Alerts matching all of these are silenced.
    pub matchers: Vec<Matcher>,
    /// Start of the window.
    #[serde(with = "super::wallclock::rfc3339")]
    pub starts_at: SystemTime,
    /// End of the window.
    #[serde(with = "super::wallclock::rfc3339")]
    pub ends_at: SystemTime,
    /// Last change.
    #[serde(with = "super::wallclock::rfc3339")]
    pub updated_at: SystemTime,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Its state at `now`: pending before `starts_at`, expired after `ends_at`.
    pub fn state(&self, now: SystemTime) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now > self.ends_at {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    /// Whether it silences alerts with `labels` at `now`.
    pub fn silences(&self, labels: &BTreeMap<String, String>, now: SystemTime) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// A silence that was refused. Messages follow Alertmanager's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// No matcher given.
    #[error("silence invalid: at least one matcher required")]
    NoMatchers,
    /// Every matcher matches an alert without the label: it would silence everything.
    #[error("silence invalid: at least one matcher must not match the empty string")]
    MatchesEverything,
    /// More than [`MAX_SILENCE_MATCHERS`].
    #[error("silence invalid: {0} matchers; at most {MAX_SILENCE_MATCHERS} are accepted")]
    TooManyMatchers(usize),
    /// `startsAt` is not before `endsAt`.
    #[error("Failed to create silence: start time must be before end time")]
    StartNotBeforeEnd,
    /// `endsAt` has passed.
    #[error("Failed to create silence: end time can't be in the past")]
    EndInPast,
    /// `createdBy` or `comment` longer than [`MAX_SILENCE_TEXT`].
    #[error("silence invalid: {field} is {len} bytes; at most {MAX_SILENCE_TEXT} are accepted")]
    TextTooLong {
        /// `createdBy` or `comment`.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// No silence has this id.
    #[error("silence not found")]
    NotFound,
    /// [`MAX_SILENCES`] are held already.
    #[error("too many silences ({MAX_SILENCES}); expire some first")]
    Full,
}

/// Every silence, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Silences {
    items: BTreeMap<String, Silence>,
}

/// A random (version 4) UUID in its usual text form.
fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Whether a silence `prev` may be changed in place into `next` at `now` (else it is expired
/// and `next` gets a new id, as Alertmanager does).
fn can_update(prev: &Silence, next: &SilenceSpec, now: SystemTime) -> bool {
    if prev.matchers != next.matchers {
        return false;
    }
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    match prev.state(now) {
        SilenceState::Active => secs(next.starts_at) == secs(prev.starts_at) && next.ends_at >= now,
        SilenceState::Pending => next.starts_at >= now,
        SilenceState::Expired => false,
    }
}

impl Silences {
    /// Creates a silence, or changes the one `spec.id` names; returns its id (a new one when
    /// the change needed a new silence). Starting times in the past become `now`.
    pub fn set(&mut self, spec: SilenceSpec, now: SystemTime) -> Result<String, SilenceError> {
        validate(&spec, now)?;
        if let Some(id) = &spec.id {
            let prev = self.items.get(id).ok_or(SilenceError::NotFound)?;
            if can_update(prev, &spec, now) {
                let updated = Silence {
                    id: id.clone(),
                    matchers: spec.matchers,
                    starts_at: spec.starts_at,
                    ends_at: spec.ends_at,
                    updated_at: now,
                    created_by: spec.created_by,
                    comment: spec.comment,
                };
                self.items.insert(id.clone(), updated);
                return Ok(id.clone());
            }
        }
        self.gc(now);
        if self.items.len() >= MAX_SILENCES {
            return Err(SilenceError::Full);
        }
        if let Some(id) = &spec.id {
            self.expire(id, now)?;
        }
        let mut id = new_id();
        while self.items.contains_key(&id) {
            id = new_id();
        }
        let silence = Silence {
            id: id.clone(),
            matchers: spec.matchers,
            starts_at: spec.starts_at.max(now),
            ends_at: spec.ends_at,
            updated_at: now,
            created_by: spec.created_by,
            comment: spec.comment,
        };
        self.items.insert(id.clone(), silence);
        Ok(id)
    }

    /// Ends a silence now (a pending one never starts). Expiring an expired silence is fine.
    pub fn expire(&mut self, id: &str, now: SystemTime) -> Result<(), SilenceError> {
        let s = self.items.get_mut(id).ok_or(SilenceError::NotFound)?;
        match s.state(now) {
            SilenceState::Expired => {}
            SilenceState::Active => {
                s.ends_at = now;
                s.updated_at = now;
            }
            SilenceState::Pending => {
                s.starts_at = now;
                s.ends_at = now;
                s.updated_at = now;
            }
        }
        Ok(())
    }

    /// The silence with `id`.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.items.get(id)
    }

    /// Every silence held (expired ones until their retention ends), by id.
    pub fn iter(&self) -> impl Iterator<Item = &Silence> {
        self.items.values()
    }

    /// How many are held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Ids of the active silences that silence `labels` at `now`, sorted.
    pub fn silencing(&self, labels: &BTreeMap<String, String>, now: SystemTime) -> Vec<&str> {
        self.items.values().filter(|s| s.silences(labels, now)).map(|s| s.id.as_str()).collect()
    }

    /// Whether any active silence silences `labels` at `now`.
    pub fn is_silenced(&self, labels: &BTreeMap<String, String>, now: SystemTime) -> bool {
        self.items.values().any(|s| s.silences(labels, now))
    }

    /// Forgets silences expired for longer than [`SILENCE_RETENTION`].
    pub fn gc(&mut self, now: SystemTime) {
        self.items.retain(|_, s| s.ends_at.checked_add(SILENCE_RETENTION).is_none_or(|t| t > now));
    }

    /// Puts back silences from a snapshot (ids kept; invalid or long-gone ones left out).
    /// Returns how many were restored.
    pub fn restore(&mut self, silences: impl IntoIterator<Item = Silence>, now: SystemTime) -> usize {
        let mut n = 0;
        for s in silences {
            if self.items.len() >= MAX_SILENCES || s.id.is_empty() || s.matchers.is_empty() {
                continue;
            }
            if s.matchers.iter().all(selects_unlabelled) || s.ends_at < s.starts_at {
                continue;
            }
            self.items.insert(s.id.clone(), s);
            n += 1;
        }
        self.gc(now);
        n
    }
}

/// Alertmanager's test for a matcher that would select alerts lacking the label: only
/// equality with `""` and regexes matching `""` count (negative matchers do not).
fn selects_unlabelled(m: &Matcher) -> bool {
    match m.op() {
        MatchType::Equal | MatchType::Regex => m.matches_empty(),
        MatchType::NotEqual | MatchType::NotRegex => false,
    }
}

fn validate(spec: &SilenceSpec, now: SystemTime) -> Result<(), SilenceError> {
    if spec.matchers.is_empty() {
        return Err(SilenceError::NoMatchers);
    }
    if spec.matchers.len() > MAX_SILENCE_MATCHERS {
        return Err(SilenceError::TooManyMatchers(spec.matchers.len()));
    }
    if spec.matchers.iter().all(selects_unlabelled) {
        return Err(SilenceError::MatchesEverything);
    }
    for (field, text) in [("createdBy", &spec.created_by), ("comment", &spec.comment)] {
        if text.len() > MAX_SILENCE_TEXT {
            return Err(SilenceError::TextTooLong { field, len: text.len() });
        }
    }
    if spec.starts_at >= spec.ends_at {
        return Err(SilenceError::StartNotBeforeEnd);
    }
    if spec.ends_at < now {
        return Err(SilenceError::EndInPast);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(matchers: &str, from: SystemTime, secs: u64) -> SilenceSpec {
        SilenceSpec {
            id: None,
            matchers: Matcher::parse_set(matchers).expect("matchers"),
            starts_at: from,
            ends_at: from + Duration::from_secs(secs),
            created_by: "me".into(),
            comment: "why".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn windows_decide_what_is_silenced() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = Silences::default();
        let later = s.set(spec(r#"node_id=~"eu-.*""#, t0 + Duration::from_secs(60), 60), t0).expect("pending");
        let l = labels(&[("node_id", "eu-1")]);
        assert!(!s.is_silenced(&l, t0), "pending");
        assert_eq!(s.silencing(&l, t0 + Duration::from_secs(90)), vec![later.as_str()]);
        assert!(!s.is_silenced(&l, t0 + Duration::from_secs(121)), "ended");
        assert!(!s.is_silenced(&labels(&[("node_id", "us-1")]), t0 + Duration::from_secs(90)));
        // Retention, then forgotten.
        s.gc(t0 + SILENCE_RETENTION + Duration::from_secs(119));
        assert_eq!(s.len(), 1);
        s.gc(t0 + SILENCE_RETENTION + Duration::from_secs(121));
        assert!(s.is_empty());
    }

    #[test]
    fn refusals_match_alertmanager() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = Silences::default();
        assert_eq!(s.set(spec("", t0, 60), t0), Err(SilenceError::NoMatchers));
        assert_eq!(s.set(spec(r#"a=~".*", b="""#, t0, 60), t0), Err(SilenceError::MatchesEverything));
        assert_eq!(s.set(spec("a=1", t0, 0), t0), Err(SilenceError::StartNotBeforeEnd));
        assert_eq!(
            s.set(spec("a=1", t0, 60), t0 + Duration::from_secs(61)),
            Err(SilenceError::EndInPast),
            "ended before it was posted"
        );
        // Like Alertmanager, only an end strictly before now is in the past.
        assert!(s.set(spec("a=1", t0, 60), t0 + Duration::from_secs(60)).is_ok(), "ends the moment it is posted");
        let mut unknown = spec("a=1", t0, 60);
        unknown.id = Some("nope".into());
        assert_eq!(s.set(unknown, t0), Err(SilenceError::NotFound));
        assert_eq!(s.expire("nope", t0), Err(SilenceError::NotFound));
    }

    #[test]
    fn updates_in_place_or_replace_like_alertmanager() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = Silences::default();
        let id = s.set(spec("a=1", t0, 60), t0).expect("set");
        // Same matchers, same start, later end: changed in place.
        let mut longer = spec("a=1", t0, 600);
        longer.id = Some(id.clone());
        assert_eq!(s.set(longer, t0 + Duration::from_secs(10)).as_deref(), Ok(id.as_str()));
        assert_eq!(s.get(&id).map(|x| x.ends_at), Some(t0 + Duration::from_secs(600)));
        // Other matchers: the old one is expired and a new id is made.
        let mut other = spec("a=2", t0, 600);
        other.id = Some(id.clone());
        let new = s.set(other, t0 + Duration::from_secs(20)).expect("replaced");
        assert_ne!(new, id);
        assert_eq!(s.get(&id).map(|x| x.state(t0 + Duration::from_secs(21))), Some(SilenceState::Expired));
        assert_eq!(new.len(), 36);
        assert_eq!(&new[14..15], "4", "version 4 UUID");
    }

    #[test]
    fn expiring_ends_active_and_pending_silences() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = Silences::default();
        let active = s.set(spec("a=1", t0, 60), t0).expect("set");
        let pending = s.set(spec("a=1", t0 + Duration::from_secs(100), 60), t0).expect("set");
        let t1 = t0 + Duration::from_secs(5);
        s.expire(&active, t1).expect("expire");
        s.expire(&pending, t1).expect("expire");
        s.expire(&active, t1).expect("again is fine");
        let after = t1 + Duration::from_millis(1);
        assert!(s.iter().all(|x| x.state(after) == SilenceState::Expired));
        assert!(!s.is_silenced(&labels(&[("a", "1")]), after));
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut s = Silences::default();
        let id = s.set(spec(r#"a=~"x|y", b!="z""#, t0, 60), t0).expect("set");
        let json = serde_json::to_string(&s.iter().cloned().collect::<Vec<_>>()).expect("json");
        let back: Vec<Silence> = serde_json::from_str(&json).expect("parse");
        let mut restored = Silences::default();
        assert_eq!(restored.restore(back, t0), 1);
        assert_eq!(restored.get(&id), s.get(&id));
    }
}
