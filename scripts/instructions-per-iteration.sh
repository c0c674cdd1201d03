#!/usr/bin/env bash
# Instructions one iteration of a criterion bench function costs, from callgrind, which the
# machine's load does not change. Runs the bench binary twice under callgrind (1 s and 3 s of
# --profile-time, or LONG_SECONDS) and divides the difference in instructions by the difference in calls of
# a function every iteration calls once, so set-up and warm-up cancel out.
#
#   scripts/instructions-per-iteration.sh BENCH_BINARY FILTER_REGEX CALLED_FUNCTION_PATTERN
#
# e.g. scripts/instructions-per-iteration.sh target/release/deps/alerting-* \
#        'evaluation-cycle$' 'cycle::guarded_cycle'
set -euo pipefail
bin=$1 filter=$2 called=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
long=${LONG_SECONDS:-3}
for t in 1 "$long"; do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$t" "$bin" --bench --profile-time "$t" "$filter" \
    >"$out/log.$t" 2>&1
done
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
calls() {
  # In the caller tree, a function's block is its callers' lines, each ending in "(Nx)",
  # then its own line marked "*": the calls are the sum over that block.
  callgrind_annotate --inclusive=yes --tree=caller "$1" 2>/dev/null | awk -v pat="$called" '
    /^$/ { n = 0; next }
    / < / { if (match($0, /\(([0-9]+)x\)/)) { n += substr($0, RSTART + 1, RLENGTH - 3) } ; next }
    / \*  / { if (index($0, pat) && !done) { print n; done = 1 } ; n = 0 }
    END { if (!done) print 0 }'
}
t1=$(total "$out/cg.1") t3=$(total "$out/cg.$long")
c1=$(calls "$out/cg.1") c3=$(calls "$out/cg.$long")
if [ "$c3" -le "$c1" ]; then
  echo "no more calls of $called in the longer run ($c1, $c3): wrong filter or function?" >&2
  exit 1
fi
awk -v t1="$t1" -v t3="$t3" -v c1="$c1" -v c3="$c3" -v f="$filter" \
  'BEGIN { printf "%s: %.2f M instructions per iteration (%d iterations compared)\n", f, (t3 - t1) / (c3 - c1) / 1e6, c3 - c1 }'
