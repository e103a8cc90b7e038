#!/usr/bin/env bash
# The Python client's checks: a venv (default target/py-client at the repository root, reused
# when present; PLUMBLINE_PY_VENV names another), `pip install ./python[test]`, `mypy --strict`
# on the package, then pytest against a real `plumbline serve` (the binary from $PLUMBLINE_BIN,
# else target/release/plumbline, else target/debug/plumbline). Arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
venv="${PLUMBLINE_PY_VENV:-$repo/target/py-client}"

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$here[test]"

cd "$here"
export PYTHONDONTWRITEBYTECODE=1
"$venv/bin/python" -m mypy --cache-dir "$venv/mypy-cache"
"$venv/bin/python" -m pytest -o cache_dir="$venv/pytest-cache" "$@"
