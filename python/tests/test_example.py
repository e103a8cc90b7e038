"""The worked example of docs/python.md, run as it is written: ``examples/dpo_pairs.py`` is
included in the guide verbatim (checked here), and runs end to end against the test server and
against ``plumbline serve --demo``, its key the demo operator's key file."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any, Iterator

import datasets
import pandas as pd
import pytest

from .conftest import PYTHON_DIR, REPO, Server, start_server, stop_server

EXAMPLE = PYTHON_DIR / "examples/dpo_pairs.py"
GUIDE = REPO / "docs/python.md"


def code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_guide_shows_the_example_verbatim() -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks
    assert len(code_lines(EXAMPLE.read_text(encoding="utf-8"))) < 20


def run_example(url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **env: str) -> dict[str, Any]:
    monkeypatch.chdir(EXAMPLE.parent)
    monkeypatch.setenv("PLUMBLINE_SERVER", url)
    for name in ("PLUMBLINE_KEY", "PLUMBLINE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    scope = runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert "num_rows" in capsys.readouterr().out
    return scope


def check_outcome(scope: dict[str, Any]) -> None:
    dpo, experiment, pairs = scope["dpo"], scope["experiment"], scope["pairs"]
    assert isinstance(pairs, pd.DataFrame) and len(pairs) == 40
    assert isinstance(dpo, datasets.Dataset)
    assert {"prompt", "chosen", "rejected"} <= set(dpo.column_names)
    assert dpo.num_rows >= 36
    best = dict(zip(pairs.prompt, pairs.chosen))
    right = sum(row["chosen"] == best[row["prompt"]] for row in dpo)
    assert right >= 0.95 * dpo.num_rows
    assert experiment.phase == "settled"
    settlement = experiment.settlement()
    assert len(settlement) == 5 and (settlement.tier == "rewarded").sum() >= 3
    assert experiment.stats()["batches"] == {"joined": 5, "committed": 5, "revealed": 5}


def test_the_example_runs_on_the_test_server(server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from plumbline import new_key

    check_outcome(run_example(server.url, monkeypatch, capsys, PLUMBLINE_KEY=new_key()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("demo")
    process, url, log = start_server(folder, "--demo", name="demo")
    try:
        text = log.read_text(encoding="utf-8")
        assert "demo: experiment" in text
        yield url, folder / "demo-demo-keys"
    finally:
        stop_server(process)


def test_the_example_runs_on_the_demo(demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url, keys = demo
    assert sorted(p.name for p in keys.iterdir()) == ["labeler-1.json", "labeler-2.json", "labeler-3.json", "labeler-4.json", "operator.json"]
    check_outcome(run_example(url, monkeypatch, capsys, PLUMBLINE_KEY_FILE=str(keys / "operator.json")))
