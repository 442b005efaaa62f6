#!/usr/bin/env bash
# Token refresher bench (issue figures): 10,000 authorizers all due, the simulator answering
# api_authorizer_token after 100 ms, on the embedded store and on DynamoDB (moto_server on a free
# loopback port, from the same pinned venv as the tests). Prints wall time, calls, DynamoDB
# requests per token and peak RSS. Builds in the test (dev) profile: the run is I/O-bound.
# Env overrides: BENCH_AUTHORIZERS, BENCH_CONCURRENCY, BENCH_LATENCY_MS, BENCH_STORES.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv="$root/.venv/test"
if ! "$venv/bin/python" -c "import moto" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.5" "cfn-lint==1.58.0"
fi
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/python" infra/moto/serial_server.py 127.0.0.1 "$port" >target/moto_bench.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
export WXOPEN_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
# The EMF lines each run prints are for CloudWatch; the bench shows only its figures.
cargo run --quiet -p wxopen-tests --example refresher_bench | grep -v '^{'
