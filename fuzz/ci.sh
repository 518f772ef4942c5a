#!/usr/bin/env bash
# Short fuzzing run for CI (called by .ci/run; longer runs: docs/FUZZING.md).
# Builds the cargo-fuzz targets (stable toolchain via RUSTC_BOOTSTRAP=1, AddressSanitizer),
# then runs each for FUZZ_SECONDS (default 60) from the committed seed corpus
# fuzz/corpus/<target>/ (read-only: new inputs go to a scratch directory).
# Exit status: 1 if a target crashed, panicked, hung or leaked past the limits (the
# input is in fuzz/artifacts/<target>/), or if the targets do not compile; 0 otherwise.
# If cargo-fuzz cannot run on this machine it prints "fuzzing: NOT RUN — <reason>" and
# exits 0 (said plainly, never a silent pass).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=(exposition disk_segment agent_config)
export RUSTC_BOOTSTRAP=1   # cargo-fuzz passes -Z flags; there is no nightly here
flags=(--debug-assertions) # overflow checks and debug_assert! on (same flags for build and run)
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

not_run() {
  echo "fuzzing: NOT RUN — $*"
  exit 0
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz --version '^0.13' >"$log/install" 2>&1 ||
    not_run "cargo-fuzz could not be installed: $(grep -m1 '^error' "$log/install" || tail -1 "$log/install")"
fi
cargo fuzz --version

# fuzz/Cargo.lock is committed: refuse to run with a stale one, as the rest of CI (--locked).
if ! cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null 2>"$log/lock"; then
  # (cargo up to 1.8x: "needs to be updated but --locked"; since: "cannot update the lock file")
  if grep -qE 'needs to be updated but --locked|cannot update the lock file' "$log/lock"; then
    echo "fuzz/Cargo.lock is out of date: run 'cargo update --workspace --manifest-path fuzz/Cargo.toml' and commit it"
    exit 1
  fi
  not_run "cargo metadata failed: $(grep -m1 '^error' "$log/lock" || tail -1 "$log/lock")"
fi

b0=$(date +%s)
if ! cargo fuzz build "${flags[@]}" >"$log/build" 2>&1; then
  if grep -q '^error\[E' "$log/build"; then
    tail -40 "$log/build"
    echo "fuzzing: the fuzz targets do not compile"
    exit 1
  fi
  tail -20 "$log/build"
  not_run "cargo fuzz build failed: $(grep -m1 '^error' "$log/build" || tail -1 "$log/build")"
fi
echo "fuzzing: build $(( $(date +%s) - b0 ))s"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$log/corpus-$t"
  s0=$(date +%s)
  rc=0
  cargo fuzz run "${flags[@]}" "$t" "$log/corpus-$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log/$t" 2>&1 || rc=$?
  took=$(( $(date +%s) - s0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$t")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log/$t")
  if [ "$rc" -ne 0 ] || [ -z "$execs" ]; then
    tail -60 "$log/$t"
    echo "fuzzing: $t FAILED after ${took}s, ${execs:-?} execs (exit $rc); input in fuzz/artifacts/$t/"
    failed+=("$t")
  else
    echo "fuzzing: $t ran ${took}s, $execs execs (${rate}/s), no crash"
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzzing: crashes in ${failed[*]}"
  exit 1
fi
