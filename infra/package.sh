#!/usr/bin/env bash
# Builds the five Lambda binaries for deployment and checks template.yaml with `sam validate --lint`.
#
#   ./infra/package.sh            # build (arm64 if the aarch64 std is installed, else x86_64) + validate
#   ./infra/package.sh --validate # only sam validate --lint
#
# Tools come from PyPI into the git-ignored venv .venv/package: cargo-lambda (its wheel brings
# zig, the cross linker) and aws-sam-cli. Both work offline; nothing here calls AWS.
#
# Architecture: Graviton (arm64) is ~20% cheaper per GB-second, so template.yaml's `Architecture`
# parameter defaults to arm64. Building for it needs Rust's aarch64-unknown-linux-gnu standard
# library (`rustup target add aarch64-unknown-linux-gnu`); without it this script builds x86_64
# and says so (the packaged template below then defaults to Architecture=x86_64).
#
# Output: target/package/lambda/<binary>/bootstrap, a summary line per binary, and
# target/package/template.yaml: template.yaml with each CodeUri on its binary's directory and
# the Architecture parameter defaulting to what was built, for `sam deploy` (README
# "Deploying"). The build uses its own CARGO_TARGET_DIR (target/package), so a release build
# (fat LTO, one codegen unit: 237 s on 2 cores from a fresh clone) never holds the lock of the
# shared target/ that tests build in.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CARGO_LAMBDA_VERSION=1.9.2
SAM_CLI_VERSION=1.170.0
venv="$root/.venv/package"
binaries=(ticket-push auth-callback token-refresher audit-actions batch-runner)

step() { printf '\n==> %s\n' "$*"; }

validate_only=false
case "${1:-}" in
  --validate) validate_only=true ;;
  "") ;;
  *) echo "usage: $0 [--validate]" >&2; exit 2 ;;
esac

step "cargo-lambda==$CARGO_LAMBDA_VERSION and aws-sam-cli==$SAM_CLI_VERSION in .venv/package"
if ! [ -x "$venv/bin/cargo-lambda" ] || ! [ -x "$venv/bin/sam" ] \
  || ! "$venv/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION" \
  || ! "$venv/bin/sam" --version 2>/dev/null | grep -q "$SAM_CLI_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
fi
export PATH="$venv/bin:$PATH"
"$venv/bin/cargo-lambda" lambda --version
sam --version

if ! $validate_only; then
  if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    arch=arm64
    flag=--arm64
  else
    arch=x86_64
    flag=--x86-64
  fi
  step "cargo lambda build --release $flag (${binaries[*]})"
  if [ "$arch" = x86_64 ]; then
    echo "NOTE: the aarch64-unknown-linux-gnu standard library is not installed, so this is an"
    echo "      x86_64 build (target/package/template.yaml defaults to Architecture=x86_64)."
    echo "      For arm64: rustup target add aarch64-unknown-linux-gnu, then run this again."
  fi
  export CARGO_TARGET_DIR="$root/target/package"
  # Size over speed for the Lambdas (opt-level "z" instead of the release profile's 3; fat LTO,
  # one codegen unit and stripping stay): measured on x86_64, it cut the binaries from
  # 12.6-14.4 MB to 7.8-9.1 MB with the same cold start; with one TLS stack on ring, no EnvFilter
  # and TRACE compiled out they are 6.4-7.7 MB, ~8 ms to the first poll (README "Deploying");
  # their time goes to waiting on WeChat and DynamoDB. The push path's verify + decrypt +
  # parse goes from 1.4 to 2.9 µs (criterion, back to back), nothing beside an invocation.
  # `cargo bench` and infra/bench/compare.sh keep measuring it at opt-level 3 (profile.bench).
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
  bin_args=()
  for b in "${binaries[@]}"; do bin_args+=(--bin "$b"); done
  start=$(date +%s)
  # ticket-push, auth-callback, token-refresher and audit-actions (with its batch-runner binary).
  cargo lambda build --release "$flag" \
    -p ticket-push -p auth-callback -p token-refresher -p audit-actions "${bin_args[@]}"
  took=$(( $(date +%s) - start ))

  step "built for $arch in ${took}s (release profile at opt-level z: fat LTO, one codegen unit, stripped)"
  for b in "${binaries[@]}"; do
    f="$CARGO_TARGET_DIR/lambda/$b/bootstrap"
    [ -f "$f" ] || { echo "missing $f" >&2; exit 1; }
    printf '%-16s %s  %6.2f MB  %s\n' "$b" "$arch" \
      "$(awk -v s="$(stat -c %s "$f")" 'BEGIN { print s / 1000000 }')" "${f#"$root"/}"
  done
  echo "$arch" >"$CARGO_TARGET_DIR/lambda/ARCHITECTURE"

  step "target/package/template.yaml: the template on these binaries, Architecture defaulting to $arch"
  # sam deploy zips each CodeUri directory as it is: pointing CodeUri at lambda/<binary>/ ships
  # exactly the binaries built (and benched) here, with no second build by `sam build`.
  python3 - "$root/template.yaml" "$CARGO_TARGET_DIR/template.yaml" "$arch" <<'PY'
import re, sys
src, dst, arch = sys.argv[1:]
t = open(src, encoding="utf-8").read()
blocks = re.split(r"(?m)^(?=  [A-Za-z0-9]+:\n)", t)
n = 0
for i, b in enumerate(blocks):
    m = re.search(r"(?m)^        Binary: (\S+)$", b)
    if m and "Type: AWS::Serverless::Function" in b:
        b, k = re.subn(r"(?m)^      CodeUri: \.$", f"      CodeUri: lambda/{m.group(1)}/", b)
        assert k == 1, m.group(1)
        blocks[i] = b
        n += 1
t = "".join(blocks)
t, k = re.subn(r"(?m)^(  Architecture:\n    Type: String\n    Default: )arm64$", rf"\g<1>{arch}", t)
assert k == 1 and n == 5, (k, n)
open(dst, "w", encoding="utf-8").write(t)
print(f"{n} functions point at lambda/<binary>/; Architecture defaults to {arch}")
PY
fi

step "sam validate --lint (offline)"
# --lint runs the SAM transform and cfn-lint locally: no credentials, no request (checked with
# no AWS configuration and every proxy pointed at a closed port). A region name is all it
# takes for the region-specific rules; telemetry is off so nothing is sent either.
templates=("$root/template.yaml")
[ -f "$root/target/package/template.yaml" ] && ! $validate_only && templates+=("$root/target/package/template.yaml")
for tpl in "${templates[@]}"; do
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 \
    sam validate --lint --template-file "$tpl"
done

step "done"
if ! $validate_only; then
  echo "deploy: sam deploy --guided --template-file target/package/template.yaml --resolve-s3 --capabilities CAPABILITY_IAM"
fi
