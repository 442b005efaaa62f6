#!/usr/bin/env bash
# Runs the whole wxopen system on this machine, no AWS account:
#   ./infra/run-local.sh [demo|...]  wxopen-local: the handlers in one process, embedded store,
#                                    the WeChat simulator (arguments go to wxopen-local);
#   ./infra/run-local.sh lambda      the deployed shape: each function's binary polling a Lambda
#                                    Runtime API with template.yaml's environment, API Gateway's
#                                    routes on one port, the schedules, DynamoDB and Secrets
#                                    Manager on moto's server, the WeChat simulator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ "${1:-}" != "lambda" ]; then
  exec cargo run --quiet -p wxopen-local -- "$@"
fi
shift

MOTO_VERSION=5.2.5
venv="$root/.venv/test"
if ! "$venv/bin/python" -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null; then
  echo "moto[server]==$MOTO_VERSION into .venv/test (as ./infra/test-all.sh does)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$root/target"
"$venv/bin/python" "$root/infra/moto/serial_server.py" 127.0.0.1 "$port" >"$root/target/moto-lambda-stack.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null && break
  kill -0 "$moto_pid" 2>/dev/null || { cat "$root/target/moto-lambda-stack.log"; echo "moto_server died" >&2; exit 1; }
  sleep 0.2
done
echo "DynamoDB and Secrets Manager: moto's server at http://127.0.0.1:$port"

# The functions' binaries (debug), then the stack.
cargo build --quiet --workspace --bins
target="${CARGO_TARGET_DIR:-$root/target}"
"$target/debug/wxopen-lambda-stack" --repo "$root" --aws-endpoint "http://127.0.0.1:$port" "$@"
