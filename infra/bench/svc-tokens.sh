#!/usr/bin/env bash
# Token endpoint bench (issue 26): 10,000 GET /svc/apps/{appid}/access-token over 100 apps at
# concurrency 64 through wxopen-local with a service key. Prints p50/p99 latency, WeChat calls
# (target 0 while fresh) and store token lookups per request; then every token within its
# refresh margin at once: api_authorizer_token calls per app (target exactly 1). The release
# profile, as the Lambdas ship (the first build takes minutes; the dev profile's figures swing 3x
# with the machine's load). Env overrides: BENCH_REQUESTS, BENCH_APPS, BENCH_CONCURRENCY,
# BENCH_LATENCY_MS.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUST_LOG=${RUST_LOG:-warn} cargo run --release --quiet -p wxopen-local --example svc_tokens_bench
