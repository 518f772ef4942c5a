#!/usr/bin/env bash
# Runs every test: unit, property, wiremock contract, and real-process integration tests
# (real Prometheus, node_exporter, Alertmanager and moto on loopback). Installs what is
# missing first (scripts/setup.sh: Debian packages and moto in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Integration tests run the workspace binaries; build them first (same profile as tests).
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
