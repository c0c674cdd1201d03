//! The proptest runner settings every property test here shares: a bounded case count and a
//! fixed seed, so CI sees the same inputs on every run.

use proptest::test_runner::{Config as RunnerConfig, RngSeed};

/// `default` cases from `seed`; `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both for a
/// longer or different hunt. Failures are not persisted to files beside the sources.
pub fn runner_config(default: u32, seed: u64) -> RunnerConfig {
    let mut config = RunnerConfig { failure_persistence: None, ..RunnerConfig::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(seed);
    }
    config
}
