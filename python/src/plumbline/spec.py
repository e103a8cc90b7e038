"""Experiment specs (``docs/protocol.md``, "Experiment spec") from a dict, a TOML or JSON file,
or keyword arguments. The server validates every rule and names the field it refuses; this
module only assembles the JSON form and catches what it can name better (an unknown keyword,
an unreadable file)."""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from .errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SCHEMA_VERSION = 1

#: A spec as :func:`resolve_spec` takes it: a dict, or the path of a TOML (``.toml``, or any
#: name not ending in ``.json``) or JSON file.
SpecLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]

#: A length of time: ``"90m"``, ``"3d"``, ``"1d12h"``; a ``timedelta``; or whole seconds.
DurationLike = Union[str, int, datetime.timedelta]

#: The spec's top-level fields (``crates/core/src/spec.rs``).
SPEC_FIELDS = frozenset(
    {
        "schema_version",
        "title",
        "question",
        "subjective",
        "block_size",
        "overlap",
        "gold_per_batch",
        "stake_per_batch",
        "reward_pool",
        "slash_bps",
        "non_reveal_slash_bps",
        "slashed_funds",
        "false_slash_rate",
        "false_reward_rate",
        "peer_weight",
        "commit_deadline",
        "reveal_deadline",
        "commit_within",
        "reveal_within",
        "eligibility",
        "qualification",
        "limits",
        "cohorts",
        "strata",
    }
)

#: Question parameters by kind.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "binary": ("options",),
    "choice": ("options",),
    "rating": ("min", "max"),
    "pairwise": ("strength_max", "allow_tie"),
    "ranking": ("n",),
    "text": ("length_max",),
}

_QUESTION_FIELDS = frozenset({"kind", "instructions", "rationale"} | {f for fs in KIND_FIELDS.values() for f in fs})
_LIMIT_FIELDS = frozenset({"batches_per_labeler_max", "seconds_per_task_min", "batches_per_labeler_per_hour_max"})
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
#: The server's duration grammar: numbers with units, largest unit first, each once.
_DURATION = re.compile(r"(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?")


def duration(value: DurationLike) -> str:
    """A duration as specs write it: a string such as ``"90m"``, ``"3d"`` or ``"1d12h"`` (numbers
    with units s, m, h, d, largest first); ``timedelta`` and whole seconds become the shortest
    form (``5400`` is ``"1h30m"``)."""
    if isinstance(value, str):
        text = value.strip()
        if not _DURATION.fullmatch(text):
            raise InputError(
                f"{value!r} is not a duration: write a number and a unit (s, m, h or d), for example "
                '"90m", "3d" or "1d12h"'
            )
        return text
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise InputError(f"a duration is whole seconds, got {value}")
        value = int(seconds)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"a duration is a string such as \"3d\", a timedelta or whole seconds, got {value!r}")
    if value == 0:
        return "0s"
    parts = []
    for unit, length in _UNITS:
        if value >= length:
            parts.append(f"{value // length}{unit}")
            value %= length
    return "".join(parts)


def _normalize(spec: dict[str, Any]) -> dict[str, Any]:
    # Amounts are u128 base units; JSON numbers beyond 2^64 do not survive every parser, so
    # they travel as decimal strings, as the server writes them.
    for field in ("stake_per_batch", "reward_pool"):
        value = spec.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            spec[field] = str(value)
    for field in ("commit_within", "reveal_within"):
        if field in spec:
            try:
                spec[field] = duration(spec[field])
            except InputError as error:
                raise InputError(f"spec field `{field}`: {error}") from None
    return spec


def read_spec_file(path: Union[str, "os.PathLike[str]"]) -> dict[str, Any]:
    """A spec file as a dict: JSON when the name ends in ``.json``, TOML otherwise."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read the spec file {file}: {error.strerror or error}") from None
    try:
        if file.name.lower().endswith(".json"):
            document = json.loads(text)
        else:
            document = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"{file} does not parse: {error}") from None
    if not isinstance(document, dict):
        raise InputError(f"{file} does not hold a spec (a table of fields)")
    return document


def build_spec(**fields: Any) -> dict[str, Any]:
    """A spec from keyword arguments. Top-level fields go as they are (``title``,
    ``block_size``, ``overlap``, ``stake_per_batch``, ``reward_pool``, ``commit_within`` ...);
    the question may be given whole (``question={...}``) or by its parts (``kind``,
    ``instructions``, ``rationale`` and the kind's parameters: ``options``, ``min``/``max``,
    ``strength_max``/``allow_tie``, ``n``, ``length_max``); per-labeler limits by their names
    (``batches_per_labeler_max`` ...). ``schema_version`` defaults to 1, a pairwise question's
    ``allow_tie`` to False. Durations may be strings, ``timedelta`` or seconds."""
    spec, question, limits = _split(fields)
    if question:
        if "question" in spec:
            raise InputError(f"give the question whole (question=) or by its parts ({', '.join(sorted(question))}), not both")
        spec["question"] = _check_question(question)
    if limits:
        spec["limits"] = {**dict(spec.get("limits") or {}), **limits}
    return _normalize({"schema_version": SCHEMA_VERSION, **spec})


def _split(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Keyword arguments as top-level fields, question parts and limits."""
    spec: dict[str, Any] = {}
    question: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in _QUESTION_FIELDS:
            question[name] = value
        elif name in _LIMIT_FIELDS:
            limits[name] = value
        elif name in SPEC_FIELDS:
            spec[name] = value
        else:
            known = sorted(SPEC_FIELDS | _QUESTION_FIELDS | _LIMIT_FIELDS)
            raise InputError(f"unknown spec field {name!r}; the fields are {', '.join(known)}")
    return spec, question, limits


def _check_question(question: dict[str, Any]) -> dict[str, Any]:
    kind = question.get("kind")
    if kind not in KIND_FIELDS:
        raise InputError(f"the question needs kind= one of {', '.join(KIND_FIELDS)}, got {kind!r}")
    stray = [f for f in question if f not in ("kind", "instructions", "rationale") + KIND_FIELDS[kind]]
    if stray:
        raise InputError(f"a {kind} question has no {', '.join(stray)} (it takes {', '.join(KIND_FIELDS[kind])})")
    if kind == "pairwise":
        question.setdefault("allow_tie", False)
    return question


def resolve_spec(spec: Optional[SpecLike] = None, **fields: Any) -> dict[str, Any]:
    """The spec's JSON form from a dict, a file path or keyword arguments; keyword arguments
    given beside a dict or file override its fields (``title=``, ``instructions=``,
    ``commit_within=`` ...)."""
    if spec is None:
        return build_spec(**fields)
    if isinstance(spec, Mapping):
        base = dict(spec)
    elif isinstance(spec, (str, os.PathLike)):
        base = read_spec_file(spec)
    else:
        raise InputError(f"a spec is a dict or the path of a TOML or JSON file, got {type(spec).__name__}")
    top, question, limits = _split(fields)
    if question:
        if "question" in top:
            raise InputError(f"give the question whole (question=) or by its parts ({', '.join(sorted(question))}), not both")
        merged = dict(base.get("question") or {})
        if "kind" in question and question["kind"] != merged.get("kind"):
            merged = {k: v for k, v in merged.items() if k in ("instructions", "rationale")}
        top["question"] = _check_question({**merged, **question})
    if limits:
        top["limits"] = {**dict(base.get("limits") or {}), **limits}
    if top.keys() & {"commit_within", "reveal_within"}:
        # Durations given here replace the file's absolute deadlines.
        for field in ("commit_deadline", "reveal_deadline"):
            if field not in top:
                base.pop(field, None)
    base.update(top)
    base.setdefault("schema_version", SCHEMA_VERSION)
    return _normalize(base)
