#!/usr/bin/env bash
# The web interface's tests: unit tests of the browser's protocol code against the core's
# vectors, the bundle check, and the end-to-end browser test against the real server.
#
#   bash web/test.sh [PATH/TO/plumbline]
#
# Without a path it builds `cargo build --release -p plumbline`. It installs what a fresh machine
# lacks: the npm packages (npm ci, exact versions from package-lock.json) and Debian's chromium,
# which playwright-core drives headless (no browser is ever downloaded by a tool).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  else
    echo "error: /usr/bin/chromium is missing; install Debian's chromium package" >&2
    exit 1
  fi
fi

bash check-dist.sh

if [ $# -ge 1 ]; then
  binary="$(realpath "$1")"
else
  (cd .. && cargo build --release -p plumbline)
  target="$(cd .. && cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
  binary="$target/release/plumbline"
fi

PLUMBLINE_BIN="$binary" node --test --test-concurrency=1 tests/
