//! The snapshot's JSON, encoded straight from the engine's records: no per-alert record, map
//! or string is built to save the state, so saving 1,000 alerts allocates next to nothing
//! beyond the output buffer. The text is the one [`StateFile`](super::StateFile) reads back
//! (same fields, same order as the record-based encoding earlier versions wrote).

use super::{state_name, Clock, FORMAT};
use crate::alerting::cycle::Core;
use crate::alerting::state::{AlertState, Entry, Fingerprint};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// The whole snapshot, borrowed from the engine (encode it under the engine's lock).
pub(super) struct Encoded<'a> {
    pub(super) core: &'a Core,
    pub(super) clock: &'a Clock,
}

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("StateFile", 6)?;
        st.serialize_field("format", FORMAT)?;
        st.serialize_field("written_at_ms", &self.clock.ms(self.clock.now))?;
        st.serialize_field("node", &self.core.evaluator.node)?;
        st.serialize_field("alerts", &Alerts(self))?;
        st.serialize_field("silences", &Silences(self.core))?;
        st.serialize_field("failing", &self.core.router.failing)?;
        st.end()
    }
}

/// Every alert that is not inactive, in the engine's map order.
struct Alerts<'a>(&'a Encoded<'a>);

impl Serialize for Alerts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let clock = self.0.clock;
        s.collect_seq(
            self.0.core.evaluator.alerts.iter().filter(|(_, e)| e.state != AlertState::Inactive).map(|(fp, e)| Alert {
                fp: *fp,
                e,
                clock,
            }),
        )
    }
}

struct Silences<'a>(&'a Core);

impl Serialize for Silences<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.router.silences.iter())
    }
}

struct Alert<'a> {
    fp: Fingerprint,
    e: &'a Entry,
    clock: &'a Clock,
}

impl Serialize for Alert<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, clock) = (self.e, self.clock);
        let ms = |t: Option<Instant>| t.map(|t| clock.ms(t));
        let mut st = s.serialize_struct("SavedAlert", 14)?;
        st.serialize_field("fingerprint", &Hex(self.fp))?;
        st.serialize_field("rule", &e.rule)?;
        st.serialize_field("labels", &e.labels)?;
        st.serialize_field("severity", e.severity.as_str())?;
        st.serialize_field("state", state_name(e.state))?;
        st.serialize_field("value", &e.value.is_finite().then_some(e.value))?;
        st.serialize_field("active_since_ms", &ms(e.active_since))?;
        st.serialize_field("fired_at_ms", &ms(e.fired_at))?;
        st.serialize_field("resolved_at_ms", &ms(e.resolved_at))?;
        st.serialize_field("acknowledged", &e.acknowledged)?;
        st.serialize_field("note", &e.note)?;
        st.serialize_field("sent", &Times(&e.delivery.sent, clock))?;
        st.serialize_field("resolution_due", &e.delivery.resolution_due)?;
        st.serialize_field("retry_at", &Times(&e.delivery.retry_at, clock))?;
        st.end()
    }
}

/// A fingerprint as its 16 hex digits, written without an intermediate string.
struct Hex(Fingerprint);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Per-channel instants as wall-clock milliseconds.
struct Times<'a>(&'a BTreeMap<String, Instant>, &'a Clock);

impl Serialize for Times<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(c, t)| (c, self.1.ms(*t))))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{read, restore, write_atomically, write_atomically_with, SavedAlert, StateFile, STATE_FILE};
    use super::*;
    use crate::alerting::cycle::lock;
    use crate::alerting::matcher::Matcher;
    use crate::alerting::silence::SilenceSpec;
    use crate::alerting::{AlertSeverity, AlertingConfig, AlertingSystem};
    use std::borrow::Cow;
    use std::time::Duration;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// An engine holding alerts in every state, with every optional field both set and
    /// unset, a silence and a failing channel.
    fn engine(now: Instant) -> AlertingSystem {
        let system = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
        {
            let mut core = lock(&system.shared.core);
            core.evaluator.node = labels(&[("node_id", "n-1"), ("region", "eu")]);
            let ago = |s: u64| now.checked_sub(Duration::from_secs(s));
            for (i, state) in [
                AlertState::Firing,
                AlertState::Pending,
                AlertState::Resolved,
                AlertState::Inactive,
                AlertState::Firing,
            ]
            .into_iter()
            .enumerate()
            {
                let l = labels(&[("alertname", "Hot"), ("peer", &format!("p\"{i}\\\u{e9}"))]);
                let mut e = Entry::new("Hot", l.clone(), AlertSeverity::High);
                e.state = state;
                e.value = if i == 1 { f64::NAN } else { 99.5 + i as f64 };
                e.active_since = ago(600);
                e.fired_at = (state != AlertState::Pending).then(|| ago(300)).flatten();
                e.resolved_at = (state == AlertState::Resolved).then(|| ago(10)).flatten();
                e.acknowledged = i == 0;
                e.note = (i == 4).then(|| "a \"note\"\n".to_string());
                if let Some(t) = ago(60) {
                    e.delivery.sent.insert("slack".into(), t);
                    e.delivery.sent.insert("pagerduty".into(), t);
                }
                if i == 2 {
                    e.delivery.resolution_due.insert("slack".into());
                    e.delivery.retry_at.insert("pagerduty".into(), now + Duration::from_secs(30));
                }
                core.evaluator.alerts.insert(Fingerprint::of(&l), e);
            }
            let wall = crate::alerting::wallclock::wall(now);
            let spec = SilenceSpec {
                id: None,
                matchers: Matcher::parse_set(r#"peer=~"p.*""#).expect("matchers"),
                starts_at: wall,
                ends_at: wall + Duration::from_secs(3600),
                created_by: "ops".into(),
                comment: "maintenance".into(),
            };
            core.router.silences.set(spec, wall).expect("silence");
            core.router.failing.insert("sms".into(), "gateway down".into());
        }
        system
    }

    /// The JSON as earlier versions wrote it: one owned record per alert, then the file.
    fn as_records(core: &Core, clock: &Clock) -> Vec<u8> {
        let alerts = core
            .evaluator
            .alerts
            .iter()
            .filter(|(_, e)| e.state != AlertState::Inactive)
            .map(|(fp, e)| SavedAlert {
                fingerprint: fp.to_string(),
                rule: Cow::Borrowed(e.rule.as_str()),
                labels: Cow::Borrowed(&e.labels),
                severity: Cow::Borrowed(e.severity.as_str()),
                state: Cow::Borrowed(state_name(e.state)),
                value: e.value.is_finite().then_some(e.value),
                active_since_ms: e.active_since.map(|t| clock.ms(t)),
                fired_at_ms: e.fired_at.map(|t| clock.ms(t)),
                resolved_at_ms: e.resolved_at.map(|t| clock.ms(t)),
                acknowledged: e.acknowledged,
                note: e.note.as_deref().map(Cow::Borrowed),
                sent: e.delivery.sent.iter().map(|(c, t)| (Cow::Borrowed(c.as_str()), clock.ms(*t))).collect(),
                resolution_due: Cow::Borrowed(&e.delivery.resolution_due),
                retry_at: e.delivery.retry_at.iter().map(|(c, t)| (Cow::Borrowed(c.as_str()), clock.ms(*t))).collect(),
            })
            .collect();
        let file = StateFile {
            format: Cow::Borrowed(FORMAT),
            written_at_ms: clock.ms(clock.now),
            node: Cow::Borrowed(&core.evaluator.node),
            alerts,
            silences: core.router.silences.iter().cloned().collect(),
            failing: core.router.failing.clone(),
        };
        serde_json::to_vec(&file).expect("records encode")
    }

    #[test]
    fn the_streamed_snapshot_is_byte_for_byte_what_the_record_encoding_wrote() {
        let now = Instant::now();
        let system = engine(now);
        let core = lock(&system.shared.core);
        let clock = Clock::new(now);
        let streamed = serde_json::to_vec(&Encoded { core: &core, clock: &clock }).expect("encode");
        let records = as_records(&core, &clock);
        assert_eq!(String::from_utf8_lossy(&streamed), String::from_utf8_lossy(&records));
        let text = String::from_utf8(streamed).expect("utf-8");
        assert_eq!(text.matches("\"fingerprint\"").count(), 4, "the inactive alert is left out: {text}");
    }

    #[test]
    fn saving_at_stop_streams_the_snapshot_restore_reads_and_leaves_no_temporary_file() {
        let now = Instant::now();
        let system = engine(now);
        let dir = tempfile::tempdir().expect("tempdir");
        super::super::save_streaming(&system.shared, dir.path(), now).expect("saved");
        let expected = {
            let core = lock(&system.shared.core);
            as_records(&core, &Clock::new(now))
        };
        // Written, read back and written again by records: the same text.
        let fresh = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
        let node = labels(&[("node_id", "n-1"), ("region", "eu")]);
        let restored = restore(&fresh.shared, dir.path(), &node, Duration::from_secs(3600), now).expect("restored");
        assert_eq!((restored.alerts, restored.silences, restored.orphans), (4, 1, 2), "{restored:?}");
        let file = read(dir.path()).map_err(|e| format!("{e:?}")).expect("readable");
        assert_eq!(file.alerts.len(), 4);
        let again = serde_json::from_slice::<serde_json::Value>(&expected).expect("json");
        let saved = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(dir.path().join(STATE_FILE)).expect("snapshot file"),
        )
        .expect("json");
        assert_eq!(saved, again);
        let leftovers: Vec<_> =
            std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(STATE_FILE)], "no temporary file is left");
    }

    /// A snapshot exactly as the record-based writer (before this encoder) produced it.
    const OLD_SNAPSHOT: &str = r#"{"format":"bitcraps-alerting-state/1","written_at_ms":WRITTEN,"node":{"node_id":"n-1"},"alerts":[{"fingerprint":"00000000000000ff","rule":"Hot","labels":{"alertname":"Hot","node_id":"n-1","peer":"p-1"},"severity":"high","state":"firing","value":99.0,"active_since_ms":SINCE,"fired_at_ms":SINCE,"resolved_at_ms":null,"acknowledged":true,"note":null,"sent":{"slack":SINCE},"resolution_due":[],"retry_at":{}}],"silences":[],"failing":{"sms":"gateway down"}}"#;

    #[test]
    fn a_snapshot_written_by_the_record_encoder_still_restores() {
        let now = Instant::now();
        let wall_ms = Clock::new(now).ms(now);
        let text =
            OLD_SNAPSHOT.replace("WRITTEN", &wall_ms.to_string()).replace("SINCE", &(wall_ms - 60_000).to_string());
        let dir = tempfile::tempdir().expect("tempdir");
        write_atomically(dir.path(), text.as_bytes()).expect("written");
        let fresh = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
        let node = labels(&[("node_id", "n-1")]);
        restore(&fresh.shared, dir.path(), &node, Duration::from_secs(3600), now).expect("restored");
        let core = lock(&fresh.shared.core);
        let e = core.evaluator.alerts.get(&Fingerprint(0xff)).expect("the alert is back");
        assert_eq!((e.rule.as_str(), e.severity, e.acknowledged), ("Hot", AlertSeverity::High, true));
        assert_eq!(e.labels.get("peer").map(String::as_str), Some("p-1"));
        assert_eq!(core.router.failing.get("sms").map(String::as_str), Some("gateway down"));
        // Its rule is gone, so it resolved at once; its resolve is due to the channel that heard it.
        assert_eq!(e.state, AlertState::Resolved);
        assert!(e.delivery.resolution_due.contains("slack"), "{:?}", e.delivery);
        drop(core);
        let again = serde_json::to_string(&Encoded { core: &lock(&fresh.shared.core), clock: &Clock::new(now) })
            .expect("encode");
        assert!(again.contains(r#""fingerprint":"00000000000000ff""#), "{again}");
    }

    #[test]
    fn a_failed_write_leaves_the_previous_snapshot_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_atomically(dir.path(), b"previous").expect("written");
        let failed = write_atomically_with(dir.path(), |f| {
            use std::io::Write;
            f.write_all(b"half")?;
            Err(std::io::Error::other("the encoder failed"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(dir.path().join(STATE_FILE)).expect("snapshot"), b"previous");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temporary file is left");
    }
}
