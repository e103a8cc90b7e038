"""The crowd's best of eight from Python on the test clock: a spec file with a knockout, one
best-of task imported as its pairs, twelve labelers who prefer the lower-numbered reply joining
every round while a batch is left for them, the clock moved round by round, settlement, and the
winner, ranking and matches read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import plumbline

from .conftest import Server

ROUNDS = 8
WINDOW = 600


def spec_file(tmp_path: Path, now: int) -> Path:
    path = tmp_path / "best-of.toml"
    path.write_text(f"""schema_version = 1
title = "Which reply is best?"
block_size = 4
overlap = 3
gold_per_batch = 1
stake_per_batch = "100"
reward_pool = "6000"
commit_deadline = {now + 3600}
reveal_deadline = {now + 4200}

[question]
kind = "pairwise"
strength_max = 2
allow_tie = false
instructions = "Pick the better reply."

[limits]
batches_per_labeler_max = 10

[rounds]
rule = "best_of"
count = {ROUNDS}
labels_max = 6
confidence = 0.9
commit_within = "{WINDOW}s"
reveal_within = "{WINDOW}s"
""")
    return path


def lower(task: plumbline.Task) -> int:
    """Prefers the reply with the lower number."""
    numbers = [int(r.split()[-1]) for r in task.responses]
    return task.prefer(numbers.index(min(numbers)))


def test_the_crowd_finds_the_best_of_eight(server: Server, tmp_path: Path) -> None:
    creator = server.client()
    start = server.now
    experiment = creator.create_experiment(str(spec_file(tmp_path, start)))
    tasks: list[dict[str, Any]] = [{"id": "p", "prompt": "Say hello.", "responses": [f"reply {k}" for k in range(8)]}]
    tasks += [{"id": f"g{g}", "prompt": "Gold", "responses": [f"reply {g}", f"reply {g + 10}"], "gold": -1} for g in range(30)]
    assert experiment.import_tasks(tasks) == {"tasks": 58, "regular": 28, "gold": 30}
    experiment.fund()
    experiment.open()
    labelers = [server.labeler() for _ in range(12)]
    commit_deadline, reveal_deadline = start + 3600, start + 4200
    for _ in range(ROUNDS):
        if experiment.refresh().phase == "settled":
            break  # The knockout is decided: no later round would ask anything.
        joined: set[int] = set()
        more = True
        while more:
            more = False
            for i, labeler in enumerate(labelers):
                try:
                    labeler.label(experiment, lower)
                except plumbline.Conflict as refused:
                    # No block left for this labeler, or nothing left to ask and settled.
                    assert refused.code in ("no_batch", "wrong_phase"), refused
                    continue
                joined.add(i)
                more = True
        if not joined:
            break  # This round asks nothing: the scheduler settles the experiment without moving the clock.
        server.set_clock(commit_deadline)
        for i in joined:
            labelers[i].reveal(experiment)
        server.set_clock(reveal_deadline)
        commit_deadline, reveal_deadline = reveal_deadline + WINDOW, reveal_deadline + 2 * WINDOW
    experiment.wait("settled", timeout=30, progress=False)
    last_reveal_deadline = start + 4200 + 2 * WINDOW * (ROUNDS - 1)
    assert experiment.record()["settled_at"] < last_reveal_deadline, "the knockout should end before its last round"

    results = experiment.best_of()
    (prompt,) = results["prompts"]
    assert prompt["winner"] == 0 and prompt["ranking"][0]["response"] == 0
    assert prompt["responses"][5] == "reply 5"
    assert len(prompt["matches"]) == 7
    pairs = experiment.dataset("trl")
    assert sum(1 for row in pairs if row["prompt"] == "Say hello.") == 7
    with pytest.raises(plumbline.InputError):
        experiment.dataframe("best_of")
