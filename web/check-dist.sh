#!/usr/bin/env bash
# Checks that the committed bundle in web/dist is what the sources build to: the server embeds
# web/dist, so a source change without a rebuild would ship the old interface. Rebuilds into a
# temporary folder and compares byte for byte (the build is deterministic).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
node build.mjs "$fresh"
if ! diff -r "$fresh" dist >/dev/null; then
  echo "web/dist is out of date with web/src: run 'npm run build' in web/ and commit web/dist" >&2
  diff -rq "$fresh" dist >&2 || true
  exit 1
fi
echo "web/dist is up to date"
