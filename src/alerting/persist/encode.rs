//! The snapshot's JSON, written straight from the engine's records: no per-alert record, map
//! or string is built to save the state, so saving 1,000 alerts allocates next to nothing
//! beyond the output buffer. The text is byte for byte what the record-based serde encoding
//! of [`StateFile`](super::StateFile) wrote (the tests compare the two), so every snapshot
//! reads back the same way.
//!
//! Written by hand rather than through serde because the alerts are most of the file and most
//! of their bytes are label strings: serde_json scans every string byte by byte for escapes,
//! which was the largest cost of a save. Here a string that needs no escaping (the usual
//! label) is copied as is, and anything else (escapes, numbers, silences) goes through
//! serde_json, so the output cannot drift from its rules.

use super::{state_name, Clock, FORMAT};
use crate::alerting::cycle::Core;
use crate::alerting::state::{AlertState, Entry};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Result, Write};
use tokio::time::Instant;

/// Writes the snapshot of `core` to `w` (under the engine's lock: it borrows the alerts).
pub(super) fn write_snapshot<W: Write>(core: &Core, clock: &Clock, w: &mut W) -> Result<()> {
    w.write_all(b"{\"format\":")?;
    string(w, FORMAT)?;
    w.write_all(b",\"written_at_ms\":")?;
    serde(w, &clock.ms(clock.now))?;
    w.write_all(b",\"node\":")?;
    strings(w, &core.evaluator.node)?;
    w.write_all(b",\"alerts\":[")?;
    let alerts = core.evaluator.alerts.iter().filter(|(_, e)| e.state != AlertState::Inactive);
    for (i, (fp, e)) in alerts.enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{{\"fingerprint\":\"{fp}\"")?;
        alert(w, e, clock)?;
    }
    w.write_all(b"],\"silences\":")?;
    serde(w, &Silences(core))?;
    w.write_all(b",\"failing\":")?;
    strings(w, &core.router.failing)?;
    w.write_all(b"}")
}

/// The fields of one alert after its fingerprint, and the closing brace.
fn alert<W: Write>(w: &mut W, e: &Entry, clock: &Clock) -> Result<()> {
    let ms = |t: Option<Instant>| t.map(|t| clock.ms(t));
    w.write_all(b",\"rule\":")?;
    string(w, &e.rule)?;
    w.write_all(b",\"labels\":")?;
    strings(w, &e.labels)?;
    w.write_all(b",\"severity\":")?;
    string(w, e.severity.as_str())?;
    w.write_all(b",\"state\":")?;
    string(w, state_name(e.state))?;
    w.write_all(b",\"value\":")?;
    serde(w, &e.value.is_finite().then_some(e.value))?;
    w.write_all(b",\"active_since_ms\":")?;
    serde(w, &ms(e.active_since))?;
    w.write_all(b",\"fired_at_ms\":")?;
    serde(w, &ms(e.fired_at))?;
    w.write_all(b",\"resolved_at_ms\":")?;
    serde(w, &ms(e.resolved_at))?;
    w.write_all(if e.acknowledged { b",\"acknowledged\":true" } else { b",\"acknowledged\":false" })?;
    w.write_all(b",\"note\":")?;
    match &e.note {
        Some(note) => string(w, note)?,
        None => w.write_all(b"null")?,
    }
    w.write_all(b",\"sent\":")?;
    times(w, &e.delivery.sent, clock)?;
    w.write_all(b",\"resolution_due\":")?;
    list(w, &e.delivery.resolution_due)?;
    w.write_all(b",\"retry_at\":")?;
    times(w, &e.delivery.retry_at, clock)?;
    w.write_all(b"}")
}

/// A JSON string: copied as is when no byte needs escaping, else escaped by serde_json.
fn string<W: Write>(w: &mut W, s: &str) -> Result<()> {
    // serde_json escapes exactly these: control bytes, the quote and the backslash.
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return serde(w, s);
    }
    w.write_all(b"\"")?;
    w.write_all(s.as_bytes())?;
    w.write_all(b"\"")
}

/// Anything else, in serde_json's own text.
fn serde<W: Write, T: serde::Serialize + ?Sized>(w: &mut W, value: &T) -> Result<()> {
    serde_json::to_writer(w, value).map_err(std::io::Error::from)
}

fn strings<W: Write>(w: &mut W, map: &BTreeMap<String, String>) -> Result<()> {
    w.write_all(b"{")?;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        string(w, k)?;
        w.write_all(b":")?;
        string(w, v)?;
    }
    w.write_all(b"}")
}

fn list<W: Write>(w: &mut W, set: &BTreeSet<String>) -> Result<()> {
    w.write_all(b"[")?;
    for (i, s) in set.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        string(w, s)?;
    }
    w.write_all(b"]")
}

/// Per-channel instants as wall-clock milliseconds.
fn times<W: Write>(w: &mut W, map: &BTreeMap<String, Instant>, clock: &Clock) -> Result<()> {
    w.write_all(b"{")?;
    for (i, (channel, t)) in map.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        string(w, channel)?;
        w.write_all(b":")?;
        serde(w, &clock.ms(*t))?;
    }
    w.write_all(b"}")
}

/// The silences, rare and nested: through their own `Serialize`.
struct Silences<'a>(&'a Core);

impl serde::Serialize for Silences<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.router.silences.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{read, restore, write_atomically, write_atomically_with, SavedAlert, StateFile, STATE_FILE};
    use super::*;
    use crate::alerting::cycle::lock;
    use crate::alerting::matcher::Matcher;
    use crate::alerting::silence::SilenceSpec;
    use crate::alerting::state::Fingerprint;
    use crate::alerting::{AlertSeverity, AlertingConfig, AlertingSystem};
    use std::borrow::Cow;
    use std::time::Duration;

    #[test]
    fn any_string_is_written_as_serde_json_writes_it() {
        use proptest::prelude::*;
        let config = proptest::test_runner::Config { failure_persistence: None, cases: 2000, ..Default::default() };
        // Any text, and text dense in the bytes the fast path must not copy as they are.
        let dense = proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\u{7f}'),
                Just('é'),
                (0u8..0x20).prop_map(char::from),
                any::<char>()
            ],
            0..24,
        )
        .prop_map(|cs| cs.into_iter().collect::<String>());
        proptest!(config, |(s in prop_oneof![any::<String>(), dense])| {
            let mut ours = Vec::new();
            string(&mut ours, &s).expect("a Vec takes every write");
            prop_assert_eq!(ours, serde_json::to_vec(&s).expect("a string serializes"));
        });
    }

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
                // Each byte class serde_json escapes, one per alert, and one it does not (the inactive
                // alert, left out of the file, has none).
                let odd = ["\"", "\\", "\u{1f}", "", "\u{e9}"][i];
                let l = labels(&[("alertname", "Hot"), ("peer", &format!("p{odd}{i}"))]);
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
        let mut streamed = Vec::new();
        write_snapshot(&core, &clock, &mut streamed).expect("encode");
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
        let mut again = Vec::new();
        write_snapshot(&lock(&fresh.shared.core), &Clock::new(now), &mut again).expect("encode");
        let again = String::from_utf8(again).expect("utf-8");
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
