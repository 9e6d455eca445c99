#!/usr/bin/env bash
# Prints what systemd thinks of deploy/systemd: `systemd-analyze verify` and
# the exposure score of `systemd-analyze security` (make test checks both
# when systemd-analyze is installed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
herd_bin=${HERD_BIN:-$repo/.build/debug/herd}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for unit in herd@.service herd@.socket herd.target; do
  sed "s|/usr/local/bin/herd|$herd_bin|" "$repo/deploy/systemd/$unit" > "$work/$unit"
done
ln -s "$work/herd@.service" "$work/herd@0.service"
ln -s "$work/herd@.socket" "$work/herd@0.socket"
echo "== systemd-analyze verify"
systemd-analyze verify --man=no "$work/herd@0.service" "$work/herd@0.socket" "$work/herd.target" && echo "clean"
echo "== systemd-analyze security --offline=yes herd@.service"
systemd-analyze security --offline=yes "$work/herd@.service" | tail -1
