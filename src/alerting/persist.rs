//! Crash-safe alert state: alerts (with wall-clock times), what was told to which channel,
//! acknowledgements, silences and failing channels, snapshotted to a state directory after
//! every cycle that changed them and restored at start.
//!
//! A snapshot is written whole to a temporary file, synced, then renamed over the previous
//! one (and the directory synced), so a crash at any point leaves the last complete snapshot.
//! Its JSON is written straight from the engine's records (module `encode`); at stop it streams
//! into the file through a small buffer, after a cycle it is encoded into memory under the
//! lock and written from a blocking thread.
//! At start a snapshot is restored when it is this format, from this node, and younger than
//! the tolerance; anything else (corrupt, foreign, too old) is one clear log line and a clean
//! start, never a crash.
//!
//! Restored alerts rejoin their rules: a firing alert already told to a channel is not told
//! again before its `repeat_interval`, escalation continues from when it fired, and an alert
//! whose condition cleared while the node was down resolves at its rule's first evaluation
//! (its resolve goes to the channels that heard it fire). Rules that need history (rates,
//! windowed ratios, anomalies) get that history's time before a restored alert can resolve.

use super::cycle::{lock, Core, Shared};
use super::silence::Silence;
use super::state::{AlertState, Entry, Fingerprint};
use super::{AlertCondition, AlertSeverity};
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

mod encode;

/// The snapshot's file name inside the state directory.
pub const STATE_FILE: &str = "alerting-state.json";
/// What the snapshot says it is; another value is a foreign file.
const FORMAT: &str = "bitcraps-alerting-state/1";
/// The buffer between the encoder and the file when saving at stop: a few write calls for
/// a 1,000-alert snapshot, a small fraction of its size in memory.
const WRITE_BUFFER: usize = 64 << 10;
/// Largest snapshot read back (a corrupt or hostile file is not read whole).
const MAX_STATE_BYTES: u64 = 64 << 20;

// What a snapshot holds, as read back (owned). Writing goes through `encode`, which writes
// the same JSON straight from the engine's records; the tests encode these records the way
// earlier versions wrote them, to check the two agree.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct StateFile<'a> {
    format: Cow<'a, str>,
    written_at_ms: u64,
    node: Cow<'a, BTreeMap<String, String>>,
    alerts: Vec<SavedAlert<'a>>,
    #[serde(default)]
    silences: Vec<Silence>,
    #[serde(default)]
    failing: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct SavedAlert<'a> {
    fingerprint: String,
    rule: Cow<'a, str>,
    labels: Cow<'a, BTreeMap<String, String>>,
    severity: Cow<'a, str>,
    state: Cow<'a, str>,
    value: Option<f64>,
    active_since_ms: Option<u64>,
    fired_at_ms: Option<u64>,
    resolved_at_ms: Option<u64>,
    acknowledged: bool,
    note: Option<Cow<'a, str>>,
    sent: BTreeMap<Cow<'a, str>, u64>,
    resolution_due: Cow<'a, BTreeSet<String>>,
    retry_at: BTreeMap<Cow<'a, str>, u64>,
}

/// Converts between tokio instants and wall-clock milliseconds, around one `now`.
struct Clock {
    now: Instant,
    wall: SystemTime,
}

impl Clock {
    fn new(now: Instant) -> Clock {
        Clock { now, wall: super::wallclock::wall(now) }
    }

    fn ms(&self, at: Instant) -> u64 {
        let wall = super::wallclock::wall(at);
        wall.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The instant of a wall-clock time; one before the monotonic clock's start reads as the
    /// earliest instant there is, which errs on the side of "long ago".
    fn instant(&self, ms: u64) -> Instant {
        let t = UNIX_EPOCH.checked_add(Duration::from_millis(ms)).unwrap_or(UNIX_EPOCH);
        match t.duration_since(self.wall) {
            Ok(ahead) => self.now.checked_add(ahead).unwrap_or(self.now),
            Err(behind) => {
                let behind = behind.duration();
                self.now.checked_sub(behind).unwrap_or_else(|| earliest(self.now, behind))
            }
        }
    }
}

/// The earliest instant within `behind` of `now` the platform can represent.
fn earliest(now: Instant, behind: Duration) -> Instant {
    let mut step = behind;
    let mut at = now;
    while !step.is_zero() {
        if let Some(t) = at.checked_sub(step) {
            at = t;
        } else {
            step /= 2;
        }
    }
    at
}

fn state_name(s: AlertState) -> &'static str {
    match s {
        AlertState::Inactive => "inactive",
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}

/// Encodes the snapshot of the engine's `core` into `out`.
fn encode<W: Write>(core: &Core, now: Instant, mut out: W) -> std::io::Result<()> {
    encode::write_snapshot(core, &Clock::new(now), &mut out)
}

/// The snapshot of `shared` as JSON bytes (taken under the engine's lock, written outside).
pub(crate) fn snapshot(shared: &Shared, now: Instant) -> Result<Vec<u8>, String> {
    // Sized up front (about 450 bytes an alert with a dozen labels): a buffer that doubles
    // holds its old and new copies at once on its last growth.
    let core = lock(&shared.core);
    let mut out = Vec::with_capacity(1024 + core.evaluator.alerts.len() * 512);
    encode(&core, now, &mut out).map_err(|e| format!("cannot encode the alert state: {e}"))?;
    Ok(out)
}

/// Writes the snapshot in `dir` through `fill`: a temporary file, synced, renamed over the
/// previous snapshot, then the directory synced. A failed `fill` leaves the previous one.
fn write_atomically_with(dir: &Path, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    // A name of its own per write: two writers never share a half-written file.
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{STATE_FILE}.{}.{n}.tmp", std::process::id()));
    let written = File::create(&tmp).and_then(|mut f| {
        fill(&mut f)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    // The rename is durable once the directory is; not every platform can open one.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` as the snapshot in `dir` (see [`write_atomically_with`]).
pub(crate) fn write_atomically(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(dir, |f| f.write_all(bytes))
}

/// Encodes the snapshot of `shared` straight into the temporary file through a small buffer,
/// so the whole file is never in memory; the engine's lock is held while encoding (the
/// writes go to the page cache) and released before the fsync.
fn save_streaming(shared: &Shared, dir: &Path, now: Instant) -> std::io::Result<()> {
    write_atomically_with(dir, |f| {
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, f);
        let core = lock(&shared.core);
        let encoded = encode(&core, now, &mut out);
        drop(core);
        encoded.map_err(|e| std::io::Error::other(format!("cannot encode or write the alert state: {e}")))?;
        out.flush()
    })
}

/// Why a snapshot was not restored.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// No snapshot yet.
    Missing,
    /// Unreadable, not JSON, or not this format.
    Corrupt(String),
    /// Another node's (by its identity labels).
    Foreign(String),
    /// Older than the tolerance.
    TooOld(Duration),
}

/// What a restore put back.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Restored {
    pub(crate) alerts: usize,
    pub(crate) silences: usize,
    /// Alerts of rules that no longer exist: resolved at once.
    pub(crate) orphans: usize,
}

fn read(dir: &Path) -> Result<StateFile<'static>, Skipped> {
    use std::io::Read;
    let path = dir.join(STATE_FILE);
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Skipped::Missing),
        Err(e) => return Err(Skipped::Corrupt(format!("cannot read {}: {e}", path.display()))),
    };
    let mut bytes = Vec::new();
    f.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Skipped::Corrupt(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(Skipped::Corrupt(format!("{} is larger than {MAX_STATE_BYTES} bytes", path.display())));
    }
    let file: StateFile = serde_json::from_slice(&bytes)
        .map_err(|e| Skipped::Corrupt(format!("{} is not an alert state snapshot: {e}", path.display())))?;
    if file.format != FORMAT {
        return Err(Skipped::Corrupt(format!("{} is not a {FORMAT} snapshot", path.display())));
    }
    Ok(file)
}

/// Restores the snapshot in `dir` into `shared`, once the rules are in force. `node` is the
/// node's identity as its resource says now; `max_age` the tolerance for how long it was down.
pub(crate) fn restore(
    shared: &Shared,
    dir: &Path,
    node: &BTreeMap<String, String>,
    max_age: Duration,
    now: Instant,
) -> Result<Restored, Skipped> {
    let file = read(dir)?;
    if !file.node.is_empty() && !node.is_empty() && *file.node != *node {
        let theirs: Vec<String> = file.node.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return Err(Skipped::Foreign(theirs.join(",")));
    }
    let clock = Clock::new(now);
    let age = clock.wall.duration_since(UNIX_EPOCH + Duration::from_millis(file.written_at_ms)).unwrap_or_default();
    if age > max_age {
        return Err(Skipped::TooOld(age));
    }
    let mut core = lock(&shared.core);
    let core = &mut *core;
    let mut restored = Restored::default();
    for saved in file.alerts {
        let Ok(fp) = saved.fingerprint.parse::<Fingerprint>() else { continue };
        let state = match &*saved.state {
            "pending" => AlertState::Pending,
            "firing" => AlertState::Firing,
            "resolved" => AlertState::Resolved,
            _ => continue,
        };
        let severity = AlertSeverity::parse(&saved.severity).unwrap_or_default();
        let mut e = Entry::new(&saved.rule, saved.labels.into_owned(), severity);
        e.state = state;
        e.value = saved.value.unwrap_or(f64::NAN);
        e.active_since = saved.active_since_ms.map(|t| clock.instant(t));
        e.fired_at = saved.fired_at_ms.map(|t| clock.instant(t));
        e.resolved_at = saved.resolved_at_ms.map(|t| clock.instant(t));
        e.acknowledged = saved.acknowledged;
        e.note = saved.note.map(Cow::into_owned);
        e.delivery.sent = saved.sent.into_iter().map(|(c, t)| (c.into_owned(), clock.instant(t))).collect();
        e.delivery.resolution_due = saved.resolution_due.into_owned();
        e.delivery.retry_at = saved.retry_at.into_iter().map(|(c, t)| (c.into_owned(), clock.instant(t))).collect();
        let slot = core.evaluator.slots.iter_mut().find(|s| s.compiled.rule.name == e.rule);
        match slot {
            Some(slot) if matches!(state, AlertState::Pending | AlertState::Firing) => {
                // Until the rule has had the history it needs, "no value" is not "clear".
                let rule = &slot.compiled.rule;
                let history = match &rule.condition {
                    AlertCondition::Rate { window, .. } | AlertCondition::Ratio { window: Some(window), .. } => *window,
                    AlertCondition::Anomaly { warmup, .. } => rule.evaluation_interval.saturating_mul(*warmup),
                    _ => Duration::ZERO,
                };
                e.hold_until = now.checked_add(history.saturating_add(rule.evaluation_interval));
                slot.known.insert(fp);
            }
            // The rule is gone (or the alert is an engine alert): firing ones resolve now.
            None if state == AlertState::Firing && !super::meta::is_meta(&e) => {
                e.note.get_or_insert_with(|| "its rule was removed while the node was down".into());
                e.observe(false, now, Duration::ZERO, Duration::ZERO);
                restored.orphans += 1;
            }
            _ => {}
        }
        core.evaluator.alerts.insert(fp, e);
        restored.alerts += 1;
    }
    let wall = super::wallclock::wall(now);
    restored.silences = core.router.silences.restore(file.silences, wall);
    core.router.failing.extend(file.failing);
    Ok(restored)
}

/// Where the node keeps its state by default: `$XDG_STATE_HOME/bitcraps-node/<node id>`, else
/// `$HOME/.local/state/bitcraps-node/<node id>`; `None` without either variable.
pub fn default_state_dir(node_id: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/state"))
    })?;
    let id: String =
        node_id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    Some(base.join("bitcraps-node").join(if id.is_empty() { "node".into() } else { id }))
}

/// Restores the snapshot of `shared`'s state directory, if it has one, logging what it did.
/// The node's identity comes from one collection through the reader.
pub(crate) fn restore_at_start(shared: &Shared) {
    let Some(dir) = shared.state_dir.clone() else { return };
    let node = lock(&shared.reader)
        .clone()
        .and_then(|r| r.collect_with(|rm, _| super::identity::node_labels(rm.resource())).ok())
        .unwrap_or_default();
    {
        let mut core = lock(&shared.core);
        if core.evaluator.node.is_empty() {
            core.evaluator.node = node.clone();
            core.router.node = node.clone();
        }
    }
    let path = dir.join(STATE_FILE);
    match restore(shared, &dir, &node, shared.state_max_age, Instant::now()) {
        Ok(r) => tracing::info!(
            target: "bitcraps_otel::alerting", path = %path.display(), alerts = r.alerts, silences = r.silences,
            orphans = r.orphans, "alert state restored"
        ),
        Err(Skipped::Missing) => {
            tracing::info!(target: "bitcraps_otel::alerting", path = %path.display(), "no alert state to restore; starting clean")
        }
        Err(Skipped::Corrupt(why)) => {
            tracing::error!(target: "bitcraps_otel::alerting", path = %path.display(), reason = %why, "alert state not restored (corrupt or foreign format); starting clean")
        }
        Err(Skipped::Foreign(node)) => {
            tracing::warn!(target: "bitcraps_otel::alerting", path = %path.display(), snapshot_node = %node, "alert state belongs to another node; starting clean")
        }
        Err(Skipped::TooOld(age)) => tracing::warn!(
            target: "bitcraps_otel::alerting", path = %path.display(), age_s = age.as_secs(), max_age_s = shared.state_max_age.as_secs(),
            "alert state older than the tolerance; starting clean"
        ),
    }
}

/// Writes a snapshot on a blocking thread when the state changed and no write is under way.
pub(crate) fn save_in_background(shared: &std::sync::Arc<Shared>) {
    use std::sync::atomic::Ordering;
    let Some(dir) = shared.state_dir.clone() else { return };
    if shared.writing.load(Ordering::Acquire) || !shared.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let bytes = match snapshot(shared, Instant::now()) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(target: "bitcraps_otel::alerting", error = %e, "alert state not saved");
            return;
        }
    };
    shared.writing.store(true, Ordering::Release);
    let writing = std::sync::Arc::clone(&shared.writing);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = write_atomically(&dir, &bytes) {
            tracing::error!(target: "bitcraps_otel::alerting", dir = %dir.display(), error = %e, "alert state not saved");
        }
        writing.store(false, Ordering::Release);
    });
}

/// Writes a snapshot now, on this thread (when the engine stops).
pub(crate) fn save_now(shared: &Shared) {
    let Some(dir) = shared.state_dir.as_deref() else { return };
    match save_streaming(shared, dir, Instant::now()) {
        Ok(()) => shared.dirty.store(false, std::sync::atomic::Ordering::Relaxed),
        Err(e) => {
            tracing::error!(target: "bitcraps_otel::alerting", dir = %dir.display(), error = %e, "alert state not saved")
        }
    }
}
