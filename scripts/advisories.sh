#!/usr/bin/env bash
# `cargo deny check advisories` that really runs: against the live RustSec database when
# it can be fetched, otherwise against the newest dated offline snapshot in
# ../shared/rustsec/ (rustsec-advisory-db-YYYY-MM-DD.tar.gz), saying which one and its
# date. Fails on any advisory not fixed by an upgrade nor ignored in deny.toml with a
# reason; fails (never passes silently) when neither database is available.
# Usage: scripts/advisories.sh        (needs cargo-deny; .ci/run installs it)
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$log" "$tmp"' EXIT

if cargo deny --locked check advisories 2>"$log"; then
  echo "advisories: ok (live RustSec database)"
  exit 0
fi
if ! grep -q 'failed to fetch advisory database' "$log"; then
  cat "$log" >&2
  exit 1
fi

snapshot=$(find ../shared/rustsec -maxdepth 1 -name 'rustsec-advisory-db-*.tar.gz' 2>/dev/null | sort | tail -n 1)
if [ -z "$snapshot" ]; then
  echo "advisories: NOT CHECKED — the live RustSec database is unreachable and there is no snapshot in ../shared/rustsec" >&2
  exit 1
fi
taken=$(basename "$snapshot" .tar.gz | sed 's/^rustsec-advisory-db-//')
age_days=$(( ( $(date +%s) - $(date -d "$taken" +%s) ) / 86400 ))
echo "advisories: live database unreachable; checking against the offline snapshot $(basename "$snapshot") (taken $taken, $age_days days old)"

# cargo-deny reads <db-path>/advisory-db-<hash of the default URL> as a git checkout
# (it asks git for HEAD's date), so unpack the snapshot there as a one-commit repository
# dated the day the snapshot was taken.
db="$tmp/advisory-dbs/advisory-db-3157b0e258782691"
mkdir -p "$db"
tar -xzf "$snapshot" -C "$db"
git -C "$db" init -q
git -C "$db" add -A
GIT_AUTHOR_DATE="${taken}T00:00:00Z" GIT_COMMITTER_DATE="${taken}T00:00:00Z" \
  git -C "$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m "RustSec snapshot $taken"

# The same deny.toml, pointed at the snapshot, accepting its age (it is stated above).
awk -v db="$tmp/advisory-dbs" -v days="$((age_days + 1))" '
  { print }
  /^\[advisories\]/ { print "db-path = \"" db "\""; print "maximum-db-staleness = \"P" days "D\"" }
' deny.toml > "$tmp/deny.toml"
cargo deny --locked --offline --config "$tmp/deny.toml" check advisories
echo "advisories: ok against the $taken snapshot"
