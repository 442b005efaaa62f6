#!/usr/bin/env bash
# The lambda stack's figures: its start time, and what one request pays for going through the
# front (API Gateway's 2.0 event) and the Runtime API into a function's process, against the
# same routes through wxopen-local (the handlers in process), both on one moto server.
#   ./infra/bench/lambda-stack.sh [N requests, default 200] [starts, default 5]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
MOTO_VERSION=5.2.5
venv="$root/.venv/test"
if ! "$venv/bin/python" -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$root/target"
"$venv/bin/python" "$root/infra/moto/serial_server.py" 127.0.0.1 "$port" >"$root/target/moto-bench.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
cargo build --quiet --workspace --bins
cargo run --quiet -p wxopen-lambda-stack --example bench -- "http://127.0.0.1:$port" "${1:-200}" "${2:-5}"
