#!/usr/bin/env bash
# Runs every test: unit, property, wiremock contract, and real-process integration tests
# (real Prometheus, node_exporter and moto on loopback). Needs the packages `.ci/run`
# installs: prometheus, prometheus-node-exporter, prometheus-alertmanager, shellcheck, and
# moto in .venv (or on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
# Integration tests run the workspace binaries; build them first (same profile as tests).
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
