#!/usr/bin/env bash
# Cold start of each Lambda: for every binary infra/package.sh built, prints its stripped size
# and the time from exec to its first poll of the Lambda Runtime API (median of 20 starts)
# with its peak RSS, against a fake Runtime API and a Secrets Manager stub on loopback
# (infra/bench/coldstart.py). Targets: <= 8 MB, <= 30 ms, <= 30 MB RSS; exits 1 if one is missed.
#
#   ./infra/package.sh             # once: the release build (target/package/lambda/*/bootstrap)
#   ./infra/bench/coldstart.sh     # RUNS=20 by default
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/target/package/lambda"
binaries=(ticket-push auth-callback token-refresher audit-actions batch-runner)

args=()
for b in "${binaries[@]}"; do
  f="$dir/$b/bootstrap"
  [ -x "$f" ] || { echo "no $f: run ./infra/package.sh first" >&2; exit 1; }
  args+=("$b=$f")
done
arch=$(cat "$dir/ARCHITECTURE" 2>/dev/null || echo unknown)
# The release profile strips symbols; strip(1) finding (almost) nothing more to remove shows it.
if command -v strip >/dev/null && [ "$arch" = x86_64 ]; then
  tmp=$(mktemp)
  for b in "${binaries[@]}"; do
    f="$dir/$b/bootstrap"
    before=$(stat -c %s "$f")
    strip -o "$tmp" "$f"
    after=$(stat -c %s "$tmp")
    echo "strip(1) on $b: $before -> $after bytes"
  done
  rm -f "$tmp"
fi
echo "host: $(nproc) CPUs, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
exec python3 "$root/infra/bench/coldstart.py" --runs "${RUNS:-20}" --arch "$arch" "${args[@]}"
