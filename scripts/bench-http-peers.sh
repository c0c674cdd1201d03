#!/usr/bin/env bash
# The HTTP layer against axum-otel-metrics and axum-tracing-opentelemetry, in one criterion run
# (BENCHMARKS.md, "HTTP server layer"). The bench is a crate of its own (benches/peers/http):
# the peers bring a second OpenTelemetry family, which the main build and CI never compile.
# Extra arguments go to criterion, e.g. `scripts/bench-http-peers.sh traces/`.
set -euo pipefail
cd "$(dirname "$0")/../benches/peers/http"
exec cargo bench --bench http_peers -- "$@"
