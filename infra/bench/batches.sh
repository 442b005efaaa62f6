#!/usr/bin/env bash
# Batch bench (issue figures): a submit_audit batch over 1,000 authorized apps, every WeChat call
# answered after 50 ms, through wxopen-local (operator API, batch runner, embedded store,
# simulator). Prints the wall time from the 202 to done, WeChat calls per app, what one app at a
# time would take, and peak RSS. Target: <= 20 s. Dev profile: the run is I/O-bound.
# Env overrides: BENCH_APPS, BENCH_LATENCY_MS, WXOPEN_BATCH_CONCURRENCY.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUST_LOG=${RUST_LOG:-warn} cargo run --quiet -p wxopen-local --example batch_bench
