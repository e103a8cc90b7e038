"""The package is versioned with the server: the workspace version of Cargo.toml."""

from __future__ import annotations

import importlib.metadata
import re
import sys

import plumbline

from .conftest import REPO, PYTHON_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_the_version_is_the_workspaces() -> None:
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))
    workspace = cargo["workspace"]["package"]["version"]
    assert plumbline.__version__ == workspace
    # The installed distribution's version, which hatchling reads from __version__.
    assert importlib.metadata.version("plumbline") == workspace
    assert re.fullmatch(r"\d+\.\d+\.\d+", workspace)


def test_the_package_is_typed() -> None:
    assert (PYTHON_DIR / "src/plumbline/py.typed").is_file()
