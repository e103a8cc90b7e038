#!/usr/bin/env bash
# The peer benchmark: Plumbline against Label Studio, measured in one run on this machine from
# the same load generator (crates/cli/benches/peer.rs). This script gives the benchmark its
# peer: Label Studio from PyPI, pinned, in a venv under target/, started on SQLite (its
# default) in a fresh data directory on a free loopback port, with a known user and API token.
# Label Studio is stopped and its data removed when the script ends, whether the run passed,
# failed or was interrupted.
#
# Usage: bash bench/labelstudio/run.sh
#   CLIENTS=<n>, SEED=<n> and PEER_LABELS=<n> pass through to the benchmark.
#   Figures: bench/results/peer-labelstudio.{md,json}.
set -euo pipefail

cd "$(dirname "$0")/../.."

# Pinned so that the figures name the peer they measured.
LABEL_STUDIO_VERSION=1.23.2
VENV=target/labelstudio-venv
# The first start migrates a fresh database, which takes most of a minute on two cores.
START_TIMEOUT_SECS=300
# A throwaway user on a throwaway instance that listens on loopback only.
USER_EMAIL=bench@localhost
USER_PASSWORD=plumbline-peer-benchmark
USER_TOKEN=plumbline-peer-benchmark-token

log() { echo "labelstudio: $*" >&2; }

# Installs the pinned Label Studio into the venv unless it is there already.
install() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$LABEL_STUDIO_VERSION" <<'EOF' 2>/dev/null; then
import importlib.metadata, sys
sys.exit(importlib.metadata.version("label-studio") != sys.argv[1])
EOF
    return
  fi
  log "installing label-studio==$LABEL_STUDIO_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "label-studio==$LABEL_STUDIO_VERSION"
}

# A loopback port nobody listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Python, Django and SQLite versions and the database's journal mode, for the figures.
stack() {
  "$VENV/bin/python" - "$1" <<'EOF'
import platform, sqlite3, sys
import django
with sqlite3.connect(sys.argv[1]) as db:
    journal = db.execute("pragma journal_mode").fetchone()[0]
print(f"Python {platform.python_version()}, Django {django.get_version()}, "
      f"SQLite {sqlite3.sqlite_version}, journal_mode = {journal}")
EOF
}

PID=""
DATA=""
# Stops Label Studio (SIGTERM, then SIGKILL after ten seconds) and removes its data.
teardown() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    log "stopping Label Studio (pid $PID)"
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [ -n "$DATA" ]; then
    rm -rf "$DATA"
  fi
}
trap teardown EXIT
trap 'exit 130' INT TERM

install
DATA=$(mktemp -d)
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"

# Headless: no browser, no interactive prompts (user and password come from the environment),
# and nothing sent off the machine (error reports and the version check are off).
log "starting Label Studio $LABEL_STUDIO_VERSION on $URL, data in $DATA"
LABEL_STUDIO_USERNAME=$USER_EMAIL \
LABEL_STUDIO_PASSWORD=$USER_PASSWORD \
LABEL_STUDIO_USER_TOKEN=$USER_TOKEN \
SENTRY_DSN='' FRONTEND_SENTRY_DSN='' LATEST_VERSION_CHECK=false \
  "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$PORT" \
    --data-dir "$DATA/data" --enable-legacy-api-token >"$DATA/label-studio.log" 2>&1 &
PID=$!

deadline=$((SECONDS + START_TIMEOUT_SECS))
until curl -sf "$URL/health" >/dev/null; do
  if ! kill -0 "$PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    log "Label Studio did not come up; its log:"
    cat "$DATA/label-studio.log" >&2
    exit 1
  fi
  sleep 1
done

# The data directory holds its SQLite file: proof that it runs on SQLite.
DB="$DATA/data/label_studio.sqlite3"
if [ ! -f "$DB" ]; then
  log "no SQLite database at $DB"
  exit 1
fi
STACK=$(stack "$DB")
log "up: $STACK"

LABEL_STUDIO_URL=$URL LABEL_STUDIO_TOKEN=$USER_TOKEN LABEL_STUDIO_PID=$PID \
LABEL_STUDIO_LOG="$DATA/label-studio.log" LABEL_STUDIO_STACK=$STACK \
  cargo bench -p plumbline --bench peer
