#!/usr/bin/env bash
# Deterministic cost of monitor-agent's hot path (scrape page → labels/staleness →
# disk queue → request → protobuf + snappy), per 1,000 samples:
#   - instructions, counted by valgrind's callgrind, and
#   - heap allocations (calls into Rust's allocator, bench/callgrind_allocs.py);
# both are the same on every run of the same binary, whatever else the machine does.
# Two runs (2 and 12 pages) are subtracted, so start-up and the first page's cold
# staleness map do not count: the figures are the steady state.
# Usage: bench/callgrind.sh            (needs Debian's valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
  echo "bench/callgrind.sh needs valgrind: apt-get install valgrind" >&2
  exit 2
fi
cargo build --release --quiet -p monitor-collector --example hot_path
bin="${CARGO_TARGET_DIR:-target}/release/examples/hot_path"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "<instructions> <allocations> <samples> <bytes sent>" for $1 pages.
measure() {
  local line ir allocs
  line=$(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" "$bin" "$1" 2>/dev/null)
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg.$1")
  allocs=$(python3 bench/callgrind_allocs.py "$tmp/cg.$1")
  echo "$ir $allocs $(echo "$line" | awk '{print $4, $6}')"
}

read -r ir_a al_a s_a bs_a < <(measure 2)
read -r ir_b al_b s_b bs_b < <(measure 12)
awk -v ir="$((ir_b - ir_a))" -v s="$((s_b - s_a))" -v al="$((al_b - al_a))" \
    -v bs="$((bs_b - bs_a))" 'BEGIN {
  printf "steady state over %d samples (10 pages of tests/corpus/node_exporter.prom):\n", s
  printf "  instructions per 1,000 samples:     %.0f\n", ir / s * 1000
  printf "  heap allocations per 1,000 samples: %.0f\n", al / s * 1000
  printf "  compressed bytes sent per sample:   %.2f\n", bs / s
}'
