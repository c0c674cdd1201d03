//! Exemplars of our histograms: which span a recording happened in, and one slot per bucket
//! holding the latest recording that qualified.
//!
//! The span comes from the current OpenTelemetry context, read in place
//! ([`opentelemetry::Context::map_current`], no clone), which is what `tracing-opentelemetry`
//! keeps current inside an entered `tracing` span as well. A recording outside any span pays
//! one thread-local read and one branch.
//!
//! Exemplars are stamped with the coarse real-time clock (on Linux and Android
//! `CLOCK_REALTIME_COARSE`: a memory read, no syscall, one tick is 1 to 10 ms), and a bucket
//! keeps the first qualifying recording of each tick: within a tick the slot is not rewritten,
//! so a hot loop inside one span pays for one exemplar per tick rather than one per value.
//! At scrape granularity (seconds) that is still the latest exemplar.

use crate::config::ExemplarFilter;
use crate::metrics::data::Exemplar;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The span a recording is attributed to: trace id and span id, all zero for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpanIds {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
}

/// Whether the current recording becomes an exemplar under `filter`, and with which span.
#[inline]
pub(crate) fn candidate(filter: ExemplarFilter) -> Option<SpanIds> {
    match filter {
        ExemplarFilter::AlwaysOff => None,
        ExemplarFilter::TraceBased => Context::map_current(|cx| {
            if !cx.has_active_span() {
                return None;
            }
            let span = cx.span();
            let sc = span.span_context();
            sc.is_sampled().then(|| SpanIds { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes() })
        }),
        ExemplarFilter::AlwaysOn => Some(Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                SpanIds { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes() }
            } else {
                SpanIds::default()
            }
        })),
    }
}

/// Nanoseconds since the Unix epoch from the coarse real-time clock.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn coarse_now_nanos() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec, and CLOCK_REALTIME_COARSE exists on every
    // Linux since 2.6.32 (on failure the fine clock below serves).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc == 0 && ts.tv_sec >= 0 {
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
    } else {
        fine_now_nanos()
    }
}

/// Elsewhere the standard clock (a new value nearly every call, so every exemplar is written).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline]
pub(crate) fn coarse_now_nanos() -> u64 {
    fine_now_nanos()
}

#[inline]
fn fine_now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The latest exemplar of one bucket, behind a sequence lock: writers never wait (a writer
/// that finds another one mid-write leaves the slot to it, which is "latest wins" give or take
/// a few nanoseconds) and readers retry until they see a whole exemplar.
#[derive(Default)]
pub(crate) struct ExemplarSlot {
    /// Even when stable, odd while being written; 0 means never written.
    seq: AtomicU64,
    value: AtomicU64,
    time_nanos: AtomicU64,
    trace_hi: AtomicU64,
    trace_lo: AtomicU64,
    span: AtomicU64,
}

impl ExemplarSlot {
    #[inline]
    pub(crate) fn write(&self, value: f64, ids: SpanIds) {
        self.write_at(coarse_now_nanos(), value, ids);
    }

    #[inline]
    fn write_at(&self, nanos: u64, value: f64, ids: SpanIds) {
        if self.time_nanos.load(Ordering::Relaxed) == nanos {
            // This tick already has its exemplar.
            return;
        }
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1 || self.seq.compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        // Keeps the data stores below from being seen before the odd sequence number.
        fence(Ordering::Release);
        let trace = u128::from_be_bytes(ids.trace_id);
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.time_nanos.store(nanos, Ordering::Relaxed);
        self.trace_hi.store((trace >> 64) as u64, Ordering::Relaxed);
        self.trace_lo.store(trace as u64, Ordering::Relaxed);
        self.span.store(u64::from_be_bytes(ids.span_id), Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The exemplar held, if any; `None` also when writers kept it busy for every attempt.
    pub(crate) fn read(&self, bucket: usize) -> Option<Exemplar> {
        for _ in 0..16 {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let value = f64::from_bits(self.value.load(Ordering::Relaxed));
            let nanos = self.time_nanos.load(Ordering::Relaxed);
            let hi = self.trace_hi.load(Ordering::Relaxed);
            let lo = self.trace_lo.load(Ordering::Relaxed);
            let span = self.span.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let trace_id = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
            return Some(Exemplar {
                bucket,
                value,
                time: UNIX_EPOCH + Duration::from_nanos(nanos),
                trace_id,
                span_id: span.to_be_bytes(),
            });
        }
        None
    }
}

/// Waits until the coarse clock moves on, so the next write starts a new tick.
#[cfg(test)]
pub(crate) fn next_tick() {
    let start = coarse_now_nanos();
    while coarse_now_nanos() == start {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn remote(sampled: bool) -> Context {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let sc = SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([3; 8]),
            flags,
            true,
            TraceState::default(),
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn trace_based_takes_only_sampled_spans() {
        assert_eq!(candidate(ExemplarFilter::TraceBased), None, "no span at all");
        {
            let _g = remote(false).attach();
            assert_eq!(candidate(ExemplarFilter::TraceBased), None, "a span that is not sampled");
        }
        let _g = remote(true).attach();
        let ids = candidate(ExemplarFilter::TraceBased).expect("a sampled span");
        assert_eq!(ids, SpanIds { trace_id: [7; 16], span_id: [3; 8] });
    }

    #[test]
    fn always_on_takes_every_recording_and_always_off_none() {
        assert_eq!(candidate(ExemplarFilter::AlwaysOn), Some(SpanIds::default()));
        let _g = remote(false).attach();
        assert_eq!(candidate(ExemplarFilter::AlwaysOn).map(|s| s.trace_id), Some([7; 16]));
        assert_eq!(candidate(ExemplarFilter::AlwaysOff), None);
    }

    #[test]
    fn a_slot_returns_the_latest_write_whole() {
        let slot = ExemplarSlot::default();
        assert_eq!(slot.read(0), None);
        let ids = SpanIds { trace_id: *b"0123456789abcdef", span_id: *b"spanid!!" };
        slot.write(0.5, ids);
        slot.write(0.6, SpanIds { span_id: *b"same-tic", ..ids });
        let e = slot.read(4).expect("written");
        assert_eq!((e.value, e.span_id), (0.5, *b"spanid!!"), "one exemplar per clock tick: the first stays");
        next_tick();
        slot.write(0.75, SpanIds { span_id: *b"second!!", ..ids });
        let e = slot.read(4).expect("written");
        assert_eq!((e.bucket, e.value, e.trace_id, e.span_id), (4, 0.75, *b"0123456789abcdef", *b"second!!"));
        assert!(e.time <= SystemTime::now() && e.time > UNIX_EPOCH);
    }

    #[test]
    fn readers_never_see_a_torn_exemplar() {
        let slot = ExemplarSlot::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for round in 0..200u64 {
                    for i in 0u8..=255 {
                        // Every field derives from `i`: a mix of two writes would show. Each
                        // write gets a time of its own, as if a tick had passed.
                        let nanos = 1 + round * 256 + u64::from(i);
                        slot.write_at(nanos, f64::from(i), SpanIds { trace_id: [i; 16], span_id: [i; 8] });
                    }
                }
                stop.store(true, Ordering::Relaxed);
            });
            let mut seen = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some(e) = slot.read(0) {
                    let i = e.value as u8;
                    assert_eq!((e.trace_id, e.span_id), ([i; 16], [i; 8]), "torn exemplar");
                    let nanos = e.time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                    assert_eq!((nanos - 1) % 256, u64::from(i), "torn exemplar time");
                    seen += 1;
                }
            }
            assert!(seen > 0 || slot.read(0).is_some());
        });
    }

    #[test]
    fn a_read_while_a_write_is_under_way_returns_nothing_rather_than_a_half_written_exemplar() {
        let slot = ExemplarSlot::default();
        slot.write_at(1, 0.5, SpanIds { trace_id: [1; 16], span_id: [1; 8] });
        assert!(slot.read(0).is_some());
        // A writer has claimed the slot (odd sequence) and stored its value, not yet its ids.
        slot.seq.fetch_add(1, Ordering::AcqRel);
        slot.value.store(0.75f64.to_bits(), Ordering::Relaxed);
        assert_eq!(slot.read(0), None, "a half-written exemplar must not be returned");
        slot.seq.fetch_add(1, Ordering::AcqRel);
        assert_eq!(slot.read(0).map(|e| e.value), Some(0.75), "readable again once the write completes");
    }
}
