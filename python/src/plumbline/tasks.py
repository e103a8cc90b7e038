"""Task files from Python data: a list of dicts, a pandas ``DataFrame`` or a Hugging Face
``datasets.Dataset``, with a column mapping, written as the JSONL the server imports
(``{"id", "prompt", "responses", "gold"?, "meta"?}``, ``docs/protocol.md``, "Tasks").

A prompt may be text or a conversation (a list of ``{"role", "content"}`` messages, as chat
datasets hold it); a response may be text or an assistant turn in TRL's conversational form
(``[{"role": "assistant", "content": ...}]``), which becomes its text.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import random
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

from .errors import InputError

#: Task data as :func:`task_lines` takes it: rows as dicts, a DataFrame, a ``datasets.Dataset``,
#: or the path of a JSONL file of task lines (sent as it is).
TaskData = Union[Iterable[Mapping[str, Any]], "os.PathLike[str]", str, Any]

_ROLES = ("system", "user", "assistant")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:  # pandas.NA, numpy.nan, NaT
        import pandas

        return bool(pandas.api.types.is_scalar(value) and pandas.isna(value))
    except (ImportError, TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """numpy and pandas values as plain JSON values."""
    if _is_missing(value):
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if hasattr(value, "item") and not isinstance(value, (str, bytes, list, dict)):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _rows(data: Any) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """The column names and the rows (as dicts) of a DataFrame, a Dataset or a list of dicts."""
    module = type(data).__module__
    if module.startswith("pandas") and hasattr(data, "to_dict") and hasattr(data, "columns"):
        columns = [str(c) for c in data.columns]
        if len(set(columns)) != len(columns):
            raise InputError(f"the DataFrame has repeated column names: {columns}")
        records = data.to_dict(orient="records")
        return columns, (dict(zip(columns, r.values())) for r in records)
    if module.startswith("datasets") and hasattr(data, "column_names"):
        if not hasattr(data, "__len__"):
            raise InputError("a streaming (iterable) dataset cannot be imported: load it whole first")
        return list(data.column_names), (dict(row) for row in data)
    if isinstance(data, Mapping):
        raise InputError("tasks are a list of dicts (rows), a pandas DataFrame or a datasets.Dataset, not one dict")
    rows = []
    seen: dict[str, None] = {}
    for i, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise InputError(f"row {i}: a task row is a dict, got {type(row).__name__}")
        rows.append(dict(row))
        for key in row:
            seen.setdefault(str(key), None)
    names = list(seen)
    # A key a row lacks is an empty cell, as in a table.
    return names, ({name: row.get(name) for name in names} for row in rows)


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if not value:
        raise InputError(f"{where}: a conversation needs at least one message")
    messages = []
    for j, message in enumerate(value):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise InputError(f"{where}: message {j} is not a {{\"role\", \"content\"}} message")
        role, content = message["role"], message["content"]
        if role not in _ROLES:
            raise InputError(f"{where}: message {j} has role {role!r}; roles are {', '.join(_ROLES)}")
        if not isinstance(content, str):
            raise InputError(f"{where}: message {j}'s content is not text")
        messages.append({"role": role, "content": content})
    return messages


def _prompt(value: Any, where: str) -> Union[str, list[dict[str, str]]]:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _messages(value, where)
    raise InputError(f"{where}: a prompt is text or a list of {{\"role\", \"content\"}} messages, got {type(value).__name__}")


def _response(value: Any, where: str) -> str:
    value = _plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # TRL's conversational form: the response is the assistant's turn.
        messages = _messages(value, where)
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            raise InputError(f"{where}: a response given as messages must be one assistant turn, got {len(messages)} messages")
        return messages[0]["content"]
    if value is None:
        raise InputError(f"{where}: the response is missing")
    raise InputError(f"{where}: a response is text, got {type(value).__name__}")


def _need(columns: Sequence[str], name: str, role: str) -> None:
    if name not in columns:
        raise InputError(f"{role} column {name!r} is not in the data; its columns are {', '.join(columns) or '(none)'}")


def task_rows(
    data: Any,
    *,
    id: Optional[str] = None,
    prompt: Optional[str] = "prompt",
    responses: Union[str, Sequence[str], None] = None,
    gold: Optional[str] = None,
    meta: Union[str, Sequence[str], None] = None,
    explanation: Optional[str] = None,
    shuffle: Union[bool, int] = False,
    kind: Optional[str] = None,
) -> list[dict[str, Any]]:
    """Task lines (dicts) from rows, mapping columns:

    - ``id``: the column of task ids (any values, made text); by default ``id`` when the data
      has it, else the row number;
    - ``prompt``: the prompt column (text or messages); ``None`` for tasks without a prompt;
    - ``responses``: one column holding a list of responses, or several columns each holding
      one (``["chosen", "rejected"]``: canonical order is the order named), or ``[]`` for
      tasks that are a prompt alone (binary, choice, rating); by default ``responses`` when
      the data has it, else ``chosen`` and ``rejected``;
    - ``gold``: a column of gold answers (canonical labels); empty cells (None, NaN) are
      regular tasks; by default ``gold`` when the data has it;
    - ``meta``: columns kept in each task's ``meta`` (what ``strata`` may name), or one column
      holding a dict; by default ``meta`` when the data has it;
    - ``explanation``: for practice tasks, the column explaining each answer; by default
      ``explanation`` when the data has it;
    - ``shuffle``: put each task's responses in a random order, the same for the same task id
      and seed (``True`` is seed 0, an integer another seed), with gold answers of pairwise
      (``kind="pairwise"``) and ranking questions moved along. Data with the preferred response
      always in one column (``chosen``, ``rejected``) needs it: labelers see their own shuffled
      order anyway, but with the better response always first the labels would not vary from
      task to task, and peer scoring, which compares labels across tasks, could not tell a
      careful labeler from one who always answers "first";
    - ``kind``: the question's kind, which the shuffle needs to move gold answers along
      (``import_tasks`` and ``import_practice`` fill it in from the spec).
    """
    columns, rows = _rows(data)
    id_column = id if id is not None else ("id" if "id" in columns else None)
    if id is not None:
        _need(columns, id, "the id")
    if prompt is not None:
        _need(columns, prompt, "the prompt")
    if responses is None:
        if "responses" in columns:
            responses = "responses"
        elif "chosen" in columns and "rejected" in columns:
            responses = ["chosen", "rejected"]
        else:
            raise InputError(
                "name the response columns: responses='responses' (one list column) or "
                f"responses=['a', 'b'] (one column each); the data's columns are {', '.join(columns)}"
            )
    response_columns = [responses] if isinstance(responses, str) else list(responses)
    for name in response_columns:
        _need(columns, name, "the response")
    if gold is not None:
        _need(columns, gold, "the gold")
    elif "gold" in columns:
        gold = "gold"
    if explanation is not None:
        _need(columns, explanation, "the explanation")
    elif "explanation" in columns:
        explanation = "explanation"
    if meta is None and "meta" in columns:
        meta = "meta"
    meta_columns = [meta] if isinstance(meta, str) else list(meta or ())
    for name in meta_columns:
        _need(columns, name, "the meta")

    tasks = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        where = f"row {i}"
        task_id = str(_plain(row[id_column])) if id_column is not None else str(i)
        if id_column is not None and _is_missing(row[id_column]):
            raise InputError(f"{where}: the id column {id_column!r} is empty")
        if task_id in seen:
            raise InputError(f"{where}: task id {task_id!r} is already row {seen[task_id]}'s")
        seen[task_id] = i
        task: dict[str, Any] = {"id": task_id}
        task["prompt"] = _prompt(row[prompt], f"{where}, column {prompt!r}") if prompt is not None else ""
        if isinstance(responses, str):
            value = _plain(row[responses])
            if not isinstance(value, list):
                raise InputError(f"{where}: column {responses!r} must hold a list of responses, got {type(value).__name__}")
            task["responses"] = [_response(v, f"{where}, column {responses!r}, response {j}") for j, v in enumerate(value)]
        else:
            task["responses"] = [_response(row[name], f"{where}, column {name!r}") for name in response_columns]
        if gold is not None and not _is_missing(row[gold]):
            task["gold"] = _plain(row[gold])
            if isinstance(task["gold"], float) and task["gold"].is_integer():
                task["gold"] = int(task["gold"])
        if shuffle is not False:
            _shuffle(task, 0 if shuffle is True else int(shuffle), kind, where)
        if isinstance(meta, str):
            value = _plain(row[meta])
            if value is not None:
                if not isinstance(value, dict):
                    raise InputError(f"{where}: column {meta!r} must hold a dict of meta values, got {type(value).__name__}")
                task["meta"] = value
        elif meta_columns:
            task["meta"] = {name: _plain(row[name]) for name in meta_columns}
        if explanation is not None and not _is_missing(row[explanation]):
            task["explanation"] = str(row[explanation])
        tasks.append(task)
    if not tasks:
        raise InputError("there are no tasks to import")
    return tasks


def _shuffle(task: dict[str, Any], seed: int, kind: Optional[str], where: str) -> None:
    """Reorders a task's responses by a permutation drawn from the seed and its id, moving a
    pairwise or ranking gold answer along (a pairwise label's sign names a response)."""
    responses = task["responses"]
    order = list(range(len(responses)))
    random.Random(f"plumbline-shuffle/{seed}/{task['id']}").shuffle(order)
    task["responses"] = [responses[i] for i in order]
    if "gold" not in task:
        return
    if kind is None:
        raise InputError(f"{where}: shuffling a task with a gold answer needs the question's kind")
    gold = task["gold"]
    if kind == "pairwise" and isinstance(gold, int) and order == [1, 0]:
        task["gold"] = -gold
    elif kind == "ranking":
        if not isinstance(gold, list) or sorted(gold) != sorted(order):
            raise InputError(f"{where}: a ranking's gold answer lists every response index once, got {gold!r}")
        task["gold"] = [order.index(i) for i in gold]


#: The keyword arguments of :func:`task_rows`, which ``import_tasks`` passes on.
MAPPINGS = tuple(name for name in inspect.signature(task_rows).parameters if name != "data")


def task_lines(data: TaskData, **mapping: Any) -> str:
    """The JSONL text of tasks: from a file path as it is, otherwise :func:`task_rows` of the
    data and mapping."""
    unknown = sorted(set(mapping) - set(MAPPINGS))
    if unknown:
        # Named like a spec field or an export option, rather than Python's TypeError.
        raise InputError(f"unknown column mapping {', '.join(unknown)}; the mappings are {', '.join(MAPPINGS)}")
    if isinstance(data, (str, os.PathLike)):
        if mapping:
            raise InputError("a JSONL file is sent as it is: map columns only for rows, DataFrames and Datasets")
        path = Path(data).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot read the task file {path}: {error.strerror or error}") from None
    rows = task_rows(data, **mapping)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
