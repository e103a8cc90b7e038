"""Specs from keyword arguments, dicts and TOML or JSON files, with durations; what the server
makes of them."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

import plumbline
from plumbline.spec import resolve_spec

from .conftest import Server

SPEC_TOML = """\
schema_version = 1
title = "Is the answer correct?"
block_size = 4
overlap = 3
gold_per_batch = 1
stake_per_batch = "100"
reward_pool = "3000"
commit_within = "2h"
reveal_within = "30m"

[question]
kind = "binary"
options = ["wrong", "right"]
instructions = "Read the answer; is it **correct**?"

[limits]
batches_per_labeler_max = 2
"""


def test_keyword_arguments_make_a_spec() -> None:
    spec = plumbline.build_spec(
        title="t",
        kind="pairwise",
        strength_max=3,
        instructions="Pick one",
        block_size=10,
        overlap=3,
        stake_per_batch=10**30,
        reward_pool=5000,
        commit_within=datetime.timedelta(hours=1, minutes=30),
        reveal_within=86400,
        batches_per_labeler_max=2,
        seconds_per_task_min=5,
        subjective=True,
    )
    assert spec == {
        "schema_version": 1,
        "title": "t",
        "question": {"kind": "pairwise", "strength_max": 3, "instructions": "Pick one", "allow_tie": False},
        "block_size": 10,
        "overlap": 3,
        "stake_per_batch": str(10**30),
        "reward_pool": "5000",
        "commit_within": "1h30m",
        "reveal_within": "1d",
        "limits": {"batches_per_labeler_max": 2, "seconds_per_task_min": 5},
        "subjective": True,
    }


def test_durations() -> None:
    assert plumbline.duration("3d") == "3d"
    assert plumbline.duration(5400) == "1h30m"
    assert plumbline.duration(90061) == "1d1h1m1s"
    assert plumbline.duration(datetime.timedelta(days=2)) == "2d"
    assert plumbline.duration(0) == "0s"
    assert plumbline.duration("1d12h") == "1d12h"
    for bad in (-1, 1.5, True, "", "soon", "1h1d", "3 d", "h", datetime.timedelta(seconds=0.5)):
        with pytest.raises(plumbline.InputError):
            plumbline.duration(bad)  # type: ignore[arg-type]


def test_bad_keyword_arguments_are_named() -> None:
    with pytest.raises(plumbline.InputError, match="unknown spec field 'overlapp'"):
        plumbline.build_spec(title="t", overlapp=3)
    with pytest.raises(plumbline.InputError, match="kind= one of"):
        plumbline.build_spec(title="t", options=["a", "b"])
    with pytest.raises(plumbline.InputError, match="a rating question has no strength_max"):
        plumbline.build_spec(title="t", kind="rating", min=1, max=5, strength_max=2)
    with pytest.raises(plumbline.InputError, match="not both"):
        plumbline.build_spec(title="t", question={"kind": "text", "length_max": 10}, kind="text")


def test_files_and_dicts_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    spec = resolve_spec(tmp_path / "spec.toml")
    assert spec["question"]["options"] == ["wrong", "right"] and spec["commit_within"] == "2h"
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert resolve_spec(str(tmp_path / "spec.json")) == spec
    # Keyword arguments override a file's fields, the question's and the limits' too.
    changed = resolve_spec(tmp_path / "spec.toml", title="other", instructions="new", batches_per_labeler_max=3, reward_pool=10)
    assert changed["title"] == "other" and changed["reward_pool"] == "10"
    assert changed["question"] == {"kind": "binary", "options": ["wrong", "right"], "instructions": "new"}
    assert changed["limits"] == {"batches_per_labeler_max": 3}
    # Durations given beside a spec with absolute deadlines replace them.
    absolute: dict[str, Any] = {**spec, "commit_deadline": 5, "reveal_deadline": 500}
    del absolute["commit_within"], absolute["reveal_within"]
    relative = resolve_spec(absolute, commit_within="1h", reveal_within="1h")
    assert "commit_deadline" not in relative and "reveal_deadline" not in relative
    with pytest.raises(plumbline.InputError, match="cannot read the spec file"):
        resolve_spec(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("title = ")
    with pytest.raises(plumbline.InputError, match="does not parse"):
        resolve_spec(tmp_path / "broken.toml")


def test_a_toml_spec_with_durations_becomes_an_experiment(server: Server, creator: plumbline.Client, tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    experiment = creator.create_experiment(tmp_path / "spec.toml")
    assert experiment.phase == "draft" and experiment.creator.lower() == creator.address.lower()
    assert experiment.title == "Is the answer correct?"
    assert experiment.spec["commit_within"] == "2h" and experiment.spec["reveal_within"] == "30m"
    # Durations become deadlines when the experiment opens, counted from then.
    assert (experiment.commit_deadline, experiment.reveal_deadline) == (0, 0)
    rows: list[dict[str, Any]] = [{"prompt": f"{i} + {i} = {2 * i}", "responses": ["yes"]} for i in range(8)]
    rows.append({"prompt": "2 + 2 = 5", "responses": ["yes"], "gold": 0})
    assert experiment.import_tasks(rows) == {"tasks": 9, "regular": 8, "gold": 1}
    server.advance(60)
    experiment.fund().open()
    assert experiment.phase == "open"
    assert experiment.commit_deadline == server.now + 2 * 3600
    assert experiment.reveal_deadline == experiment.commit_deadline + 30 * 60
    assert experiment.refresh().spec["commit_deadline"] == experiment.commit_deadline


def test_the_server_names_the_field_it_refuses(creator: plumbline.Client) -> None:
    with pytest.raises(plumbline.Invalid) as refused:
        creator.create_experiment(
            title="t", kind="binary", options=["a", "b"], block_size=4, overlap=0, stake_per_batch=1, reward_pool=1,
            commit_within="1h", reveal_within="1h",
        )
    assert refused.value.code == "invalid_spec" and "overlap" in refused.value.message
    with pytest.raises(plumbline.Invalid, match="insufficient|reward_pool|stake"):
        creator.create_experiment(
            title="t", kind="binary", options=["a", "b"], block_size=4, overlap=2, stake_per_batch=0, reward_pool=1,
            commit_within="1h", reveal_within="1h",
        )
    # A malformed duration is caught before it is sent, naming its field.
    with pytest.raises(plumbline.InputError, match="spec field `commit_within`: 'soon' is not a duration"):
        creator.create_experiment(
            title="t", kind="binary", options=["a", "b"], block_size=4, overlap=2, stake_per_batch=1, reward_pool=1,
            commit_within="soon", reveal_within="1h",
        )
