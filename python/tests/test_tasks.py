"""Task lines from lists of dicts, DataFrames and Datasets, with column mapping, chat
prompts, gold answers, meta and the response shuffle; and clear errors for bad data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pytest

import plumbline
from plumbline.tasks import task_lines

from .conftest import Server

ROWS: list[dict[str, Any]] = [
    {"id": "a", "prompt": "Which is larger?", "chosen": "Two", "rejected": "One", "gold": None, "topic": "math"},
    {"id": "b", "prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon", "gold": -2, "topic": "geo"},
]


def test_lists_dataframes_and_datasets_give_the_same_tasks() -> None:
    from_rows = plumbline.task_rows(ROWS, meta=["topic"])
    assert from_rows == [
        {"id": "a", "prompt": "Which is larger?", "responses": ["Two", "One"], "meta": {"topic": "math"}},
        {"id": "b", "prompt": "Capital of France?", "responses": ["Paris", "Lyon"], "gold": -2, "meta": {"topic": "geo"}},
    ]
    frame = pd.DataFrame(ROWS)
    # pandas holds the gold column as floats with NaN for the regular task.
    assert math.isnan(frame.gold[0])
    assert plumbline.task_rows(frame, meta=["topic"]) == from_rows
    dataset = datasets.Dataset.from_list(ROWS)
    assert plumbline.task_rows(dataset, meta=["topic"]) == from_rows
    lines = task_lines(frame, meta=["topic"]).splitlines()
    assert [json.loads(line) for line in lines] == from_rows


def test_columns_map_to_task_fields() -> None:
    frame = pd.DataFrame(
        {
            "question": ["q1", "q2"],
            "left": ["l1", "l2"],
            "right": ["r1", "r2"],
            "key": [10, 11],
            "answer": [np.int64(1), None],
            "extra": [{"source": "x"}, {"source": "y"}],
        }
    )
    rows = plumbline.task_rows(frame, id="key", prompt="question", responses=["right", "left"], gold="answer", meta="extra")
    assert rows == [
        {"id": "10", "prompt": "q1", "responses": ["r1", "l1"], "gold": 1, "meta": {"source": "x"}},
        {"id": "11", "prompt": "q2", "responses": ["r2", "l2"], "meta": {"source": "y"}},
    ]
    # A list column of responses, no prompt, row numbers as ids.
    listed = plumbline.task_rows([{"responses": ["x", "y", "z"]}, {"responses": ("u", "v", "w")}], prompt=None)
    assert listed == [{"id": "0", "prompt": "", "responses": ["x", "y", "z"]}, {"id": "1", "prompt": "", "responses": ["u", "v", "w"]}]


def test_chat_datasets_keep_their_conversations() -> None:
    """TRL's conversational preference form: the prompt a list of messages, each response one
    assistant turn."""
    data = datasets.Dataset.from_list(
        [
            {
                "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
                "chosen": [{"role": "assistant", "content": "Hello!"}],
                "rejected": [{"role": "assistant", "content": "Go away."}],
            }
        ]
    )
    (row,) = plumbline.task_rows(data)
    assert row["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    assert row["responses"] == ["Hello!", "Go away."]


def test_bad_data_is_named_by_row_and_column() -> None:
    frame = pd.DataFrame(ROWS)
    with pytest.raises(plumbline.InputError, match="the prompt column 'question' is not in the data; its columns are id, prompt"):
        plumbline.task_rows(frame, prompt="question")
    with pytest.raises(plumbline.InputError, match="the response column 'worse' is not in the data"):
        plumbline.task_rows(frame, responses=["chosen", "worse"])
    with pytest.raises(plumbline.InputError, match="the meta column 'lang'"):
        plumbline.task_rows(frame, meta=["lang"])
    with pytest.raises(plumbline.InputError, match="name the response columns"):
        plumbline.task_rows([{"prompt": "p", "a": "x"}])
    with pytest.raises(plumbline.InputError, match="row 1, column 'rejected': the response is missing"):
        plumbline.task_rows([ROWS[0], {**ROWS[1], "rejected": None}])
    with pytest.raises(plumbline.InputError, match="row 1: task id 'a' is already row 0's"):
        plumbline.task_rows([ROWS[0], {**ROWS[1], "id": "a"}])
    with pytest.raises(plumbline.InputError, match="message 0 has role 'robot'"):
        plumbline.task_rows([{"prompt": [{"role": "robot", "content": "x"}], "responses": ["a"]}])
    with pytest.raises(plumbline.InputError, match="one assistant turn"):
        plumbline.task_rows([{"prompt": "p", "responses": [[{"role": "user", "content": "x"}]]}])
    with pytest.raises(plumbline.InputError, match="must hold a list of responses"):
        plumbline.task_rows([{"prompt": "p", "responses": "just one"}])
    with pytest.raises(plumbline.InputError, match="no tasks"):
        plumbline.task_rows(pd.DataFrame({"prompt": [], "responses": []}))
    with pytest.raises(plumbline.InputError, match="not one dict"):
        plumbline.task_rows(ROWS[0])
    with pytest.raises(plumbline.InputError, match="unknown column mapping respones; the mappings are id, prompt"):
        task_lines(frame, respones=["chosen", "rejected"])


def test_the_shuffle_is_seeded_and_moves_gold_along() -> None:
    rows = [{"id": f"t{i}", "prompt": "p", "responses": ["good", "bad"], "gold": -1} for i in range(40)]
    shuffled = plumbline.task_rows(rows, shuffle=True, kind="pairwise")
    assert shuffled == plumbline.task_rows(rows, shuffle=True, kind="pairwise")
    assert shuffled != plumbline.task_rows(rows, shuffle=7, kind="pairwise")
    firsts = [row["responses"][0] for row in shuffled]
    assert 10 < firsts.count("good") < 30
    for row in shuffled:
        # The gold answer still names "good": -1 when it is first, +1 when second.
        assert row["gold"] == (-1 if row["responses"][0] == "good" else 1)
    ranked = plumbline.task_rows([{"id": "r", "responses": ["x", "y", "z"], "gold": [2, 0, 1]}], prompt=None, shuffle=3, kind="ranking")
    (task,) = ranked
    assert [task["responses"][i] for i in task["gold"]] == ["z", "x", "y"]
    with pytest.raises(plumbline.InputError, match="needs the question's kind"):
        plumbline.task_rows(rows, shuffle=True)


def test_the_server_names_a_bad_line(server: Server, creator: plumbline.Client, tmp_path: Path) -> None:
    experiment = creator.create_experiment(
        title="ranks", kind="ranking", n=3, block_size=2, overlap=2, stake_per_batch=1, reward_pool=10,
        commit_within="1h", reveal_within="1h",
    )
    with pytest.raises(plumbline.Invalid) as refused:
        experiment.import_tasks([{"prompt": "p", "responses": ["a", "b", "c"]}, {"prompt": "p", "responses": ["a", "b"]}])
    assert refused.value.code == "invalid_tasks" and "line 2" in refused.value.message
    # A JSONL file goes as it is.
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "prompt": "p", "responses": ["a", "b", "c"]}) + "\n" for i in range(4)))
    assert experiment.import_tasks(path) == {"tasks": 4, "regular": 4, "gold": 0}
    assert experiment.info["tasks"] == {"tasks": 4, "regular": 4, "gold": 0}
    with pytest.raises(plumbline.Conflict):
        experiment.import_tasks(path)


def test_chat_prompts_travel_to_a_conversational_trl_export(server: Server, creator: plumbline.Client) -> None:
    conversations = datasets.Dataset.from_list(
        [
            {
                "prompt": [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": f"Colour of {thing}?"}],
                "chosen": [{"role": "assistant", "content": colour}],
                "rejected": [{"role": "assistant", "content": "Purple"}],
            }
            for thing, colour in [("snow", "White"), ("grass", "Green"), ("the sky", "Blue"), ("coal", "Black")]
        ]
    )
    experiment = creator.create_experiment(
        title="Colours", kind="pairwise", strength_max=1, block_size=4, overlap=2, stake_per_batch=10,
        reward_pool=100, commit_within="1h", reveal_within="1h",
    )
    experiment.import_tasks(conversations, shuffle=True)
    experiment.fund().open()
    labelers = [server.labeler() for _ in range(2)]
    for labeler in labelers:
        (batch,) = labeler.label(experiment, lambda task: task.prefer(0 if task.responses[1] == "Purple" else 1))
        assert all(task.messages[0] == {"role": "system", "content": "Answer in one word."} for task in batch.tasks)
    server.advance(30)
    experiment.close()
    for labeler in labelers:
        labeler.reveal(experiment)
    dpo = experiment.wait(timeout=30, interval=0.2, progress=False).dataset("trl", min_confidence=0.5)
    assert dpo.num_rows == 4
    for row in dpo:
        assert row["prompt"][0] == {"role": "system", "content": "Answer in one word."}
        assert row["chosen"][0]["role"] == "assistant" and row["chosen"][0]["content"] != "Purple"
        assert row["rejected"] == [{"role": "assistant", "content": "Purple"}]
