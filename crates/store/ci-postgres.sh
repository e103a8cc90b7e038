#!/usr/bin/env bash
# Makes the PostgreSQL the store tests need available: starts the local cluster if it is not
# running (installing PostgreSQL first on a machine without one), then creates the test
# database if it is missing. The tests read its URL from PLUMBLINE_TEST_POSTGRES, by default
# postgres://postgres@127.0.0.1:5432/test, and fail when they cannot reach it.
set -euo pipefail

host=127.0.0.1
port=5432
database=test

ready() {
  pg_isready -q -h "$host" -p "$port"
}

# The superuser runs the admin commands: as root, through the postgres account; as anyone
# else, over TCP as postgres (trust authentication on these machines).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -c "$(printf '%q ' "$@")"
  else
    "$@" -h "$host" -p "$port" -U postgres
  fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed; installing it" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # A fresh cluster asks for passwords over TCP; the tests connect as postgres without one,
  # as on the machines where the cluster is set up with trust authentication for localhost.
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    sed -i -E 's/^(host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1\/32|::1\/128)[[:space:]]+)[a-z0-9-]+/\1trust/' "$hba"
  done
fi

if ! ready; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL $version" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do
    ready && break
    sleep 1
  done
  ready || { echo "error: PostgreSQL did not start on $host:$port" >&2; exit 1; }
fi

exists=$(as_postgres psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$database'")
if [ "$exists" != 1 ]; then
  echo "creating database $database" >&2
  as_postgres psql -d postgres -qc "CREATE DATABASE $database"
fi
echo "PostgreSQL is ready: postgres://postgres@$host:$port/$database" >&2
