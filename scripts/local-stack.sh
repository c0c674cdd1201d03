#!/usr/bin/env bash
# A BitCraps observability stack on this machine, from Debian's packages, on loopback only:
# a simulated node, Prometheus with the shipped rules (deploy/prometheus/*.yml) scraping it,
# and Alertmanager receiving what fires. Prints where to look; ctrl-c (or SIGTERM) stops all
# three and removes their data.
#
#   apt-get install prometheus prometheus-alertmanager    # once
#   scripts/local-stack.sh                    # node 9090 (health 8080), Prometheus 9091, Alertmanager 9093
#   scripts/local-stack.sh --rate 500         # arguments go to bitcraps-node
#
# Settings (environment):
#   BITCRAPS_NODE_BIN                 node binary (default: target/release/bitcraps-node, built if missing)
#   BITCRAPS_STACK_NODE_PORT          node's /metrics port (9090)
#   BITCRAPS_STACK_HEALTH_PORT        node's /health and /ready port (8080)
#   BITCRAPS_STACK_PROMETHEUS_PORT    Prometheus (9091: 9090 is the node's)
#   BITCRAPS_STACK_ALERTMANAGER_PORT  Alertmanager (9093)
#   BITCRAPS_STACK_SCRAPE_INTERVAL    scrape and rule evaluation interval (15s)
#   BITCRAPS_STACK_KEEP=1             keep the logs and data directory after stopping
# A port of 0 lets the OS choose a free one; the banner then says which (tests use this, so no
# other process can take a port between choosing it and binding it).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
node_port="${BITCRAPS_STACK_NODE_PORT:-9090}"
health_port="${BITCRAPS_STACK_HEALTH_PORT:-8080}"
prom_port="${BITCRAPS_STACK_PROMETHEUS_PORT:-9091}"
am_port="${BITCRAPS_STACK_ALERTMANAGER_PORT:-9093}"
interval="${BITCRAPS_STACK_SCRAPE_INTERVAL:-15s}"

die() { echo "local-stack: $*" >&2; exit 1; }

# --- what it needs ----------------------------------------------------------------------------
command -v prometheus >/dev/null || die "prometheus is not installed (apt-get install prometheus)"
am_bin="$(command -v prometheus-alertmanager || command -v alertmanager || true)"
[ -n "$am_bin" ] || die "Alertmanager is not installed (apt-get install prometheus-alertmanager)"
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
command -v setsid >/dev/null || die "setsid is not installed (apt-get install util-linux)"

node_bin="${BITCRAPS_NODE_BIN:-$repo/target/release/bitcraps-node}"
if [ ! -x "$node_bin" ]; then
  [ -z "${BITCRAPS_NODE_BIN:-}" ] || die "BITCRAPS_NODE_BIN=$node_bin is not an executable"
  echo "local-stack: building the node (cargo build --release --bin bitcraps-node)..."
  (cd "$repo" && cargo build --release --bin bitcraps-node) || die "the node did not build"
fi

for port in "$node_port" "$health_port" "$prom_port" "$am_port"; do
  [ "$port" != 0 ] || continue
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is already in use; pick other ports with BITCRAPS_STACK_*_PORT (see the top of $0)"
  fi
done

# --- configuration ----------------------------------------------------------------------------
dir="$(mktemp -d "${TMPDIR:-/tmp}/bitcraps-stack.XXXXXX")"
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${BITCRAPS_STACK_KEEP:-}" = 1 ]; then
    echo "local-stack: stopped; logs and data kept in $dir"
  else
    rm -rf "$dir"
    echo "local-stack: stopped"
  fi
}
trap 'stop; exit 0' INT TERM
trap 'stop' EXIT

# Prints the first capture of the sed expression `expr` in `log` once it appears: the port a
# process says it bound. Fails naming the log when it never does.
port_from_log() {
  local what="$1" log="$2" expr="$3" port=""
  for _ in $(seq 1 300); do
    port="$(sed -n -e 's/\x1b\[[0-9;]*m//g' -e "$expr" "$log" 2>/dev/null | head -n 1)"
    if [ -n "$port" ]; then
      echo "$port"
      return 0
    fi
    sleep 0.2
  done
  echo "local-stack: $what did not say which port it bound; the end of $log:" >&2
  tail -n 20 "$log" >&2
  return 1
}
listening='s#.*msg="Listening on" address=127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p'

# The shipped configuration, with the names a cluster provides turned into loopback addresses,
# and without the collector's job (no collector runs here; it is the file's last job).
write_prometheus_config() {
  sed -e "s#bitcraps-node:9090#127.0.0.1:$node_port#" \
      -e "s#localhost:9091#127.0.0.1:$prom_port#" \
      -e "s#alertmanager:9093#127.0.0.1:$am_port#" \
      -e '/job_name: bitcraps-otel-collector/,$d' \
      -e "s#- prometheus/\*\.yml#- $repo/deploy/prometheus/*.yml#" \
      -e "s#_interval: 15s#_interval: $interval#" \
      "$repo/deploy/prometheus.yml" > "$dir/prometheus.yml.new"
  # A scrape may not outlast its interval.
  if [ "$interval" != 15s ]; then
    sed -i "s#scrape_timeout: 10s#scrape_timeout: $interval#" "$dir/prometheus.yml.new"
  fi
  promtool check config "$dir/prometheus.yml.new" > "$dir/promtool.log" 2>&1 \
    || die "the generated Prometheus configuration is invalid: $(cat "$dir/promtool.log")"
  mv "$dir/prometheus.yml.new" "$dir/prometheus.yml"
}

# --- start ------------------------------------------------------------------------------------
# Each in its own session: a ctrl-c reaches this script only, which stops each of them once.
# The node and Alertmanager first: Prometheus's configuration names their ports.
BITCRAPS_PROMETHEUS_ADDR="127.0.0.1:$node_port" BITCRAPS_HEALTH_ADDR="127.0.0.1:$health_port" \
  BITCRAPS_DRAIN_PERIOD="${BITCRAPS_DRAIN_PERIOD:-0s}" BITCRAPS_LOG_FORMAT="${BITCRAPS_LOG_FORMAT:-pretty}" \
  NO_COLOR=1 setsid "$node_bin" "$@" > "$dir/node.log" 2>&1 &
pids+=($!)
setsid "$am_bin" --config.file="$repo/deploy/alertmanager/local.yml" --storage.path="$dir/alertmanager" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= > "$dir/alertmanager.log" 2>&1 &
pids+=($!)
node_port="$(port_from_log "the node" "$dir/node.log" \
  's#.*serving Prometheus metrics on http://127\.0\.0\.1:\([0-9][0-9]*\)/metrics.*#\1#p')"
health_port="$(port_from_log "the node" "$dir/node.log" \
  's#.*serving health probes on http://127\.0\.0\.1:\([0-9][0-9]*\)/health.*#\1#p')"
am_port="$(port_from_log "Alertmanager" "$dir/alertmanager.log" "$listening")"
write_prometheus_config
setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port" > "$dir/prometheus.log" 2>&1 &
pids+=($!)
if [ "$prom_port" = 0 ]; then
  # Its own scrape target is known only now: rewrite the file and have it reload (SIGHUP).
  prom_port="$(port_from_log "Prometheus" "$dir/prometheus.log" "$listening")"
  write_prometheus_config
  kill -HUP "${pids[-1]}"
fi

# Waits until `url` answers 2xx, or fails naming the log to read.
await() {
  local what="$1" url="$2" log="$3"
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "local-stack: $what did not come up at $url; the end of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}
await "the node" "http://127.0.0.1:$health_port/ready" "$dir/node.log"
await "Alertmanager" "http://127.0.0.1:$am_port/-/ready" "$dir/alertmanager.log"
await "Prometheus" "http://127.0.0.1:$prom_port/-/ready" "$dir/prometheus.log"

cat <<EOF
BitCraps local stack is up, on loopback only (ctrl-c stops all of it):
  node          http://127.0.0.1:$node_port/metrics   (health: http://127.0.0.1:$health_port/ready)
  Prometheus    http://127.0.0.1:$prom_port/targets   (rules: /rules, alerts: /alerts)
  Alertmanager  http://127.0.0.1:$am_port/            (notifies nobody: deploy/alertmanager/local.yml)
  logs          $dir/{node,prometheus,alertmanager}.log
Prometheus scrapes the node every $interval and evaluates deploy/prometheus/*.yml; what fires
goes to Alertmanager. Watch the node with: tail -f $dir/node.log
EOF

# Stay up until a signal, or until one of the three stops on its own.
set +e
wait -n "${pids[@]}"
echo "local-stack: a process stopped on its own; its log is in $dir" >&2
BITCRAPS_STACK_KEEP=1
exit 1
