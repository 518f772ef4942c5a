#!/usr/bin/env bash
# The local stack: real node_exporter + real Prometheus (remote-write receiver, the AMP
# stand-in, evaluating the stack's alert rules) + monitor-agent + a real Alertmanager with
# the stack's routing, notifying a webhook that prints alerts here. All on loopback, in a
# temp dir. Ctrl-C stops everything.
#
#   ./scripts/local-stack.sh   # ports 9100 exporter, 9090 Prometheus, 9465 agent,
#                              # 9093 Alertmanager, 9095 webhook
#   NE_PORT=19100 PROM_PORT=19090 AGENT_PORT=19465 AM_PORT=19093 HOOK_PORT=19095 ./scripts/local-stack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NE_PORT=${NE_PORT:-9100}
PROM_PORT=${PROM_PORT:-9090}
AGENT_PORT=${AGENT_PORT:-9465}
AM_PORT=${AM_PORT:-9093}
HOOK_PORT=${HOOK_PORT:-9095}

./scripts/setup.sh local

for port in "$NE_PORT" "$PROM_PORT" "$AGENT_PORT" "$AM_PORT" "$HOOK_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port is already in use; set NE_PORT/PROM_PORT/AGENT_PORT/AM_PORT/HOOK_PORT to free ports." >&2
    exit 2
  fi
done

echo "Building monitor-agent, monitor-verify and monitor-provision ..."
cargo build --quiet -p monitor-agent -p monitor-verify -p monitor-provision

dir=$(mktemp -d -t monitor-local-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

# The stack file of this one local host; its alert rules and Alertmanager routing are
# rendered exactly as monitor-provision renders them for AWS.
cat >"$dir/stack.toml" <<TOML
name = "local"
[collector]
scrape_interval = "5s"
scrape_timeout = "4s"
[alerting]
[[hosts]]
name = "local"
labels = { env = "local", role = "workstation", team = "me" }
TOML
./target/debug/monitor-provision render --config "$dir/stack.toml" --out "$dir/render" \
  --alert-webhook "http://127.0.0.1:$HOOK_PORT/alerts" >/dev/null
amtool check-config "$dir/render/_alerting/alertmanager-local.yml" >/dev/null

python3 scripts/alert-webhook.py "$HOOK_PORT" &
pids+=($!)
prometheus-alertmanager --config.file="$dir/render/_alerting/alertmanager-local.yml" \
  --storage.path="$dir/alertmanager" --web.listen-address="127.0.0.1:$AM_PORT" \
  --cluster.listen-address= >"$dir/alertmanager.log" 2>&1 &
pids+=($!)
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" >"$dir/node_exporter.log" 2>&1 &
pids+=($!)
{
  printf 'global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n'
  printf 'rule_files:\n  - %s/render/_alerting/rules/*.yml\n' "$dir"
  printf 'alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ["127.0.0.1:%s"]\n' "$AM_PORT"
} >"$dir/prometheus.yml"
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver >"$dir/prometheus.log" 2>&1 &
pids+=($!)

cat >"$dir/agent.toml" <<TOML
[agent]
listen = "127.0.0.1:$AGENT_PORT"

[labels]
host = "local"
env = "local"
role = "workstation"
team = "me"

[[scrape]]
job = "node"
url = "http://127.0.0.1:$NE_PORT/metrics"
interval = "5s"
timeout = "4s"

[remote_write]
url = "http://127.0.0.1:$PROM_PORT/api/v1/write"
batch_send_deadline = "1s"
TOML

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
RUST_LOG=${RUST_LOG:-info} ./target/debug/monitor-agent --config "$dir/agent.toml" >"$dir/agent.log" 2>&1 &
pids+=($!)

cat <<MSG

Local stack running (logs in $dir):
  node_exporter   http://127.0.0.1:$NE_PORT/metrics
  Prometheus      http://127.0.0.1:$PROM_PORT          (stand-in for AMP)
  monitor-agent   http://127.0.0.1:$AGENT_PORT/metrics (its own metrics)
  Alertmanager    http://127.0.0.1:$AM_PORT            (the stack's routing; alerts print below)
  Alert rules     $dir/render/_alerting/rules/

Try an alert: stop node_exporter (kill the prometheus-node-exporter process) and
NodeExporterDown prints here after its 'for' (2m); prove the path any time with
  ./target/debug/monitor-verify alerts --endpoint http://127.0.0.1:$PROM_PORT --alertmanager http://127.0.0.1:$AM_PORT --fire-drill

This machine's CPU utilisation (%), in the Prometheus UI or with curl:
  100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))
  curl -s http://127.0.0.1:$PROM_PORT/api/v1/query --data-urlencode 'query=100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))'

MSG
if [ -x ./target/debug/monitor-verify ] && ./target/debug/monitor-verify --help 2>/dev/null | grep -q metrics; then
  echo "Waiting 20 s for data, then verifying ..."
  sleep 20
  ./target/debug/monitor-verify metrics --endpoint "http://127.0.0.1:$PROM_PORT" --max-age 1m --label env --label role --label team || true
fi
echo
echo "Press Ctrl-C to stop."
wait
