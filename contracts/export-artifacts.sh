#!/usr/bin/env bash
# Refreshes artifacts/PlumblineMarket.json and artifacts/TestToken.json, the ABI and bytecode that
# the Rust side binds with alloy's `sol!` without needing forge. Each keeps the shape of forge's
# own artifact (`abi`, `bytecode.object`, `deployedBytecode.object`, `methodIdentifiers`), which
# `sol!` reads. The bytecode carries no metadata hash (foundry.toml), so it rebuilds byte for
# byte on any machine.
#
#   ./export-artifacts.sh           rebuild and write the artifacts
#   ./export-artifacts.sh --check   rebuild and fail if the committed artifacts differ
set -euo pipefail
cd "$(dirname "$0")"

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

[ -d node_modules/solc ] || npm ci --no-audit --no-fund
"${FORGE:-./node_modules/.bin/forge}" build --offline >/dev/null

mkdir -p artifacts
status=0
for contract in PlumblineMarket TestToken; do
  built="out/${contract}.sol/${contract}.json"
  committed="artifacts/${contract}.json"
  fresh="$(node -e '
    const artifact = require(require("path").resolve(process.argv[1]));
    const picked = {
      abi: artifact.abi,
      bytecode: { object: artifact.bytecode.object },
      deployedBytecode: { object: artifact.deployedBytecode.object },
      methodIdentifiers: artifact.methodIdentifiers,
    };
    process.stdout.write(JSON.stringify(picked, null, 2) + "\n");
  ' "$built")"
  if [ "$mode" = check ]; then
    if [ ! -f "$committed" ] || [ "$fresh" != "$(cat "$committed")" ]; then
      echo "error: $committed is stale; run ./export-artifacts.sh and commit the result" >&2
      status=1
    fi
  else
    printf '%s' "$fresh" > "$committed"
    echo "wrote $committed"
  fi
done
exit "$status"
