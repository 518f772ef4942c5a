#!/usr/bin/env bash
# Installs what the tests and the local stack need on a fresh Debian 12 machine, and
# nothing else: real Prometheus, node_exporter, Alertmanager (Debian's packages),
# the shellcheck linter, and moto (the AWS control-plane emulator) in .venv. Idempotent: each step
# runs only when its tool is missing. Called by scripts/test.sh, scripts/local-stack.sh
# and .ci/run; safe to run by hand.
#
#   ./scripts/setup.sh            # everything the tests need
#   ./scripts/setup.sh local      # only what the local stack needs (no moto, no shellcheck)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}

pairs=(prometheus:prometheus prometheus-node-exporter:prometheus-node-exporter
  prometheus-alertmanager:prometheus-alertmanager amtool:prometheus-alertmanager python3:python3)
if [ "$what" = test ]; then
  pairs+=(promtool:prometheus shellcheck:shellcheck)
fi
missing=()
for pair in "${pairs[@]}"; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: installing them needs root: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]} (apt) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# moto >= 5.2.6: older releases answer CreateAlertManagerDefinition with a 404 page.
moto_ok() {
  [ -x .venv/bin/moto_server ] && .venv/bin/python -c \
    'import moto, sys; sys.exit(tuple(int(x) for x in moto.__version__.split(".")[:3]) < (5, 2, 6))' 2>/dev/null
}
if [ "$what" = test ] && ! moto_ok; then
  echo "setup: installing moto into .venv (pip) ..." >&2
  python3 -m venv .venv 2>/dev/null || {
    [ "$(id -u)" -eq 0 ] || { echo "setup: python3-venv is missing; sudo apt-get install -y python3-venv" >&2; exit 2; }
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf .venv && python3 -m venv .venv
  }
  .venv/bin/pip install -q --disable-pip-version-check 'moto[server]>=5.2.6,<6'
fi
