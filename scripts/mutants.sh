#!/usr/bin/env bash
# Mutation check of src/metrics and src/alerting with cargo-mutants, bounded in time.
#
# Not part of CI: one mutant costs one rebuild of the library plus its tests. Each run takes a
# round-robin sample (one shard of N) of each tree's mutants, so successive shards cover
# different mutants spread over every file. Surviving mutants, and what was done about each,
# are listed in TESTING.md ("Mutation check").
#
#   scripts/mutants.sh                 # shard 0, of 5 (metrics) and 30 (alerting)
#   SHARD=3 scripts/mutants.sh         # another sample
#   METRICS_SHARDS=1 scripts/mutants.sh   # every metrics mutant (hours on 2 cores)
#   MUTANTS_FLAGS=--in-place scripts/mutants.sh   # mutate this tree (a scratch worktree!) and
#                                    # reuse its target/ instead of building a copy from scratch
#
# Needs `cargo install cargo-mutants`. Results land in target/mutants/{metrics,alerting}/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || { echo "mutants.sh: cargo install cargo-mutants" >&2; exit 2; }
shard="${SHARD:-0}"
timeout="${MUTANT_TIMEOUT:-300}"
# cargo-mutants creates its output directory but not that directory's parents.
mkdir -p target/mutants

# The unit tests plus the integration tests that exercise each tree in-process (no node binary).
# `-C` (not `--`) so that the build step, too, compiles only those targets rather than every
# test binary of the crate.
# shellcheck disable=SC2086 # MUTANTS_FLAGS is a list of flags
cargo mutants ${MUTANTS_FLAGS:-} -f 'src/metrics/**/*.rs' -e 'src/metrics/tests.rs' -e 'src/metrics/**/tests.rs' --shard "$shard/${METRICS_SHARDS:-5}" --sharding round-robin \
  --timeout "$timeout" --output target/mutants/metrics -C --lib \
  -C --test=otlp_metrics -C --test=prometheus_openmetrics -C --test=telemetry_guard || true
# shellcheck disable=SC2086
cargo mutants ${MUTANTS_FLAGS:-} -f 'src/alerting/**/*.rs' --shard "$shard/${ALERTING_SHARDS:-30}" --sharding round-robin \
  --timeout "$timeout" --output target/mutants/alerting -C --lib \
  -C --test=alerting_engine -C --test=alerting_file -C --test=alerting_noise -C --test=alerting_state \
  -C --test=alerting_delivery -C --test=alerting_reload || true

for tree in metrics alerting; do
  echo "== $tree: missed mutants (tests passed with the code changed)"
  cat "target/mutants/$tree/mutants.out/missed.txt" 2>/dev/null || echo "(no run)"
done
