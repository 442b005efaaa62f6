#!/usr/bin/env bash
# Runs every test of wxopen on a fresh machine, with all set-up done here:
#   - a Python venv (git-ignored .venv/test) with pinned moto[server] and cfn-lint;
#   - moto_server on a free loopback port, for the DynamoDB and Secrets Manager tests
#     (they read WXOPEN_TEST_AWS_ENDPOINT; with CI=true and no endpoint they fail, never skip);
#   - Debian's chromium, chromium-driver and fonts-wqy-zenhei for the browser tests (installed
#     when missing; the tests fail rather than skip under CI=true);
#   - cargo fmt --check, clippy -D warnings, cargo build --workspace --bins (the Lambda binaries the
#     lambda-stack tests run), cargo test --workspace --all-targets, cfn-lint.
# No test reaches the internet or AWS. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
venv="$root/.venv/test"

step() { printf '\n==> %s\n' "$*"; }

step "Python tools (moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION) in .venv/test"
if ! "$venv/bin/python" -c "import moto, cfnlint, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION"
fi

step "Chromium, ChromeDriver and a CJK font for the browser tests (Debian packages)"
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ] || ! fc-list 2>/dev/null | grep -qi "wenquanyi"; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null
fi
chromium --version 2>/dev/null | head -1

step "moto_server on a free loopback port"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_log="$root/target/moto_server.log"
mkdir -p "$root/target"
# moto_server one request at a time (infra/moto/serial_server.py says why: moto's conditional
# writes are not atomic under concurrent requests, DynamoDB's are).
"$venv/bin/python" "$root/infra/moto/serial_server.py" 127.0.0.1 "$port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { cat "$moto_log"; echo "moto_server died" >&2; exit 1; }
  sleep 0.2
done
export WXOPEN_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
echo "moto_server at $WXOPEN_TEST_AWS_ENDPOINT"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# The Lambda binaries the lambda-stack tests run as processes: `cargo test` does not reliably
# build other packages' plain binaries, and a nested cargo build inside a running test could
# wait forever on the target directory's lock. Its libraries are the ones cargo test builds next:
# the extra is linking the binaries.
step "cargo build --workspace --bins"
cargo build --workspace --bins

step "cargo test --workspace --all-targets"
cargo test --workspace --all-targets

step "cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml

step "all checks passed"
