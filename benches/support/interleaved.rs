//! Cases measured in one loop, so that the machine's drift between two criterion functions
//! run one after the other hits every case alike: each iteration calls every case in turn,
//! timing each call on its own, and each case's criterion entry reports its side of the
//! same loop. Shared by the benches (included with `#[path]`).

use std::time::{Duration, Instant};

/// Runs `iters` rounds of every case in turn, timing each call, and returns the total of
/// case `side`.
pub fn interleaved(iters: u64, cases: &[&dyn Fn()], side: usize) -> Duration {
    let mut totals = vec![Duration::ZERO; cases.len()];
    for _ in 0..iters {
        for (case, total) in cases.iter().zip(totals.iter_mut()) {
            let t0 = Instant::now();
            case();
            *total += t0.elapsed();
        }
    }
    totals[side]
}

/// Registers `names[i]` as the side of `cases[i]` in one interleaved loop. With `solo`, each
/// entry runs its own case only: for instruction counts (callgrind), which drift does not
/// blur and which must not mix the cases.
pub fn together(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    names: &[&str],
    cases: &[&dyn Fn()],
    solo: bool,
) {
    for (side, name) in names.iter().enumerate() {
        if solo {
            let case = cases[side];
            g.bench_function(*name, |bench| bench.iter_custom(|iters| interleaved(iters, &[case], 0)));
        } else {
            g.bench_function(*name, |bench| bench.iter_custom(|iters| interleaved(iters, cases, side)));
        }
    }
}
