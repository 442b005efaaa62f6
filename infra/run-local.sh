#!/usr/bin/env bash
# Runs the whole wxopen system on this machine: embedded store, WeChat simulator, no AWS account.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p wxopen-local -- "$@"
