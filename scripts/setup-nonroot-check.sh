#!/usr/bin/env bash
# Proves scripts/setup.sh's non-root path (called by .ci/run, which runs as root): as an
# unprivileged user on a machine where a package is missing, it must change nothing, print
# the exact `sudo apt-get install` line and exit 2. "Missing" is simulated by a PATH of
# links to every installed tool but shellcheck; the script is copied to a directory the
# user can read, so the check does not depend on where the checkout lives.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "setup non-root check: SKIPPED — needs root to switch to an unprivileged user"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/bin" "$tmp/repo/scripts"
for f in /usr/local/bin/* /usr/bin/*; do
  [ "${f##*/}" = shellcheck ] || ln -sf "$f" "$tmp/bin/"
done
cp scripts/setup.sh "$tmp/repo/scripts/"
chmod -R a+rX "$tmp"
set +e
out=$(cd "$tmp/repo" && setpriv --reuid=65534 --regid=65534 --clear-groups \
  env -i PATH="$tmp/bin" HOME="$tmp" ./scripts/setup.sh 2>&1)
rc=$?
set -e
if [ "$rc" -ne 2 ] || ! grep -qx "setup: installing them needs root: sudo apt-get install -y shellcheck" <<<"$out"; then
  echo "setup non-root check: FAILED (exit $rc, expected 2 and the sudo line); output:" >&2
  echo "$out" >&2
  exit 1
fi
if [ -e "$tmp/repo/.venv" ]; then
  echo "setup non-root check: FAILED — it created .venv before refusing" >&2
  exit 1
fi
echo "setup non-root check: as uid 65534 without shellcheck it printed the sudo line and exited 2"
