"""Results of a settled experiment: the settlement as a DataFrame, live stats, the exported
dataset (``GET /experiments/{id}/export``) as bytes, a ``datasets.Dataset`` or a DataFrame,
the public record, and its audit by the ``plumbline`` CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .errors import AuditError, InputError

if TYPE_CHECKING:
    import datasets
    import pandas

    from .experiment import Experiment

FORMATS = ("trl", "jsonl", "csv", "parquet", "raw", "card", "best_of")

#: The TRL export's options (``docs/http-api.md``, Export).
TRL_OPTIONS = ("gold", "min_confidence", "min_margin", "cohort", "bridging", "prompt")

#: The settlement's money fields (decimal strings of base units in the API).
_AMOUNT_COLUMNS = ("stake", "stake_returned", "reward", "payout", "slash", "non_reveal_penalty", "chance_fee", "copy_fee")
#: The columns a reader looks at first.
_FIRST_COLUMNS = ("labeler", "tier", "score", "stake", "reward", "payout")


@dataclass(frozen=True)
class Export:
    """One export: its bytes, its file name, its media type, and how many tasks the TRL
    options left out (ties, pairs below the thresholds, gold left out)."""

    data: bytes
    filename: str
    content_type: str
    left_out: int

    def rows(self) -> list[dict[str, Any]]:
        """The rows of a JSON-lines export (trl, jsonl)."""
        return [json.loads(line) for line in self.data.decode("utf-8").splitlines() if line.strip()]


def stats(experiment: "Experiment") -> dict[str, Any]:
    """``GET /experiments/{id}/stats``."""
    result: dict[str, Any] = experiment.client._http.get(f"/experiments/{experiment.id}/stats")
    return result


def settlement_json(experiment: "Experiment") -> dict[str, Any]:
    """``GET /experiments/{id}/settlement`` (:class:`~plumbline.NotFound` before settlement)."""
    result: dict[str, Any] = experiment.client._http.get(f"/experiments/{experiment.id}/settlement")
    return result


def settlement_frame(settlement: dict[str, Any]) -> "pandas.DataFrame":
    """The settlement with one row per labeler: its address, tier and score first, its money
    (stake, stake returned, reward, payout, slash, penalties and fees: Python integers of base
    units, exact at any size) and the rest of its entry, nested objects flattened with dots
    (``tally.peer_n``). ``attrs`` holds ``totals`` (integers), ``payout_root`` and
    ``gold_dropped``."""
    import pandas

    rows = list(settlement.get("labelers", []))
    frame: pandas.DataFrame = pandas.json_normalize(rows, sep=".") if rows else pandas.DataFrame(columns=list(_FIRST_COLUMNS))
    for column in frame.columns:
        if column in _AMOUNT_COLUMNS:
            frame[column] = frame[column].map(_amount).astype(object)
    first = [c for c in _FIRST_COLUMNS if c in frame.columns]
    frame = frame.reindex(columns=first + [c for c in frame.columns if c not in first])
    frame.attrs["totals"] = {k: _amount(v) for k, v in settlement.get("totals", {}).items()}
    frame.attrs["payout_root"] = settlement.get("payout_root")
    frame.attrs["gold_dropped"] = list(settlement.get("gold_dropped", []))
    return frame


def _amount(value: Any) -> Any:
    """Decimal strings of base units as Python integers (exact, whatever their size)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _options(format: str, options: dict[str, Any]) -> dict[str, Any]:
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}: use {', '.join(FORMATS)}")
    unknown = sorted(set(options) - set(TRL_OPTIONS))
    if unknown:
        raise InputError(f"unknown export option {', '.join(unknown)}: the TRL options are {', '.join(TRL_OPTIONS)}")
    if options and format != "trl":
        raise InputError(f"{', '.join(sorted(options))}: options of the trl format, not of {format}")
    return {k: v for k, v in options.items() if v is not None}


def export(experiment: "Experiment", format: str = "trl", **options: Any) -> Export:
    """The export in ``format``; the TRL format takes ``gold`` (bool), ``min_confidence``
    (0.5 to 1), ``min_margin`` (0 or more), ``cohort`` (a name) or ``bridging`` (bool), and
    ``prompt`` (``"explicit"`` or ``"implicit"``)."""
    params = {"format": format, **_options(format, options)}
    response = experiment.client._http.request("GET", f"/experiments/{experiment.id}/export", params=params, timeout=300.0)
    disposition = response.headers.get("content-disposition", "")
    filename = disposition.split("filename=", 1)[1].strip('"') if "filename=" in disposition else f"{experiment.id}.{format}"
    return Export(
        data=response.content,
        filename=filename,
        content_type=response.headers.get("content-type", ""),
        left_out=int(response.headers.get("x-plumbline-left-out", "0")),
    )


def dataframe(experiment: "Experiment", format: str = "jsonl", **options: Any) -> "pandas.DataFrame":
    """The export as a pandas DataFrame: ``jsonl`` and ``trl`` rows as they are (nested
    values as Python lists and dicts), ``csv``, ``raw`` and ``parquet`` as their tables.
    ``attrs["left_out"]`` counts the tasks the TRL options left out."""
    import pandas

    _refuse_documents(format)
    got = export(experiment, format, **options)
    if format in ("trl", "jsonl"):
        rows = got.rows()
        frame: pandas.DataFrame = pandas.DataFrame(rows, columns=_columns(experiment, format, rows))
    elif format == "parquet":
        frame = pandas.read_parquet(io.BytesIO(got.data))
    else:
        frame = pandas.read_csv(io.BytesIO(got.data), dtype=str, keep_default_na=False)
    frame.attrs["left_out"] = got.left_out
    return frame


def dataset(experiment: "Experiment", format: str = "trl", **options: Any) -> "datasets.Dataset":
    """The export as a ``datasets.Dataset``. ``trl`` gives TRL's preference columns (prompt,
    chosen, rejected, with margin, confidence and gold beside them; conversational when any
    prompt is a conversation, and without ``prompt`` for ``prompt="implicit"``), ready for
    ``DPOTrainer`` and ``RewardTrainer``; ``jsonl`` one row per task; ``raw``, ``csv`` and
    ``parquet`` their tables."""
    import datasets

    _refuse_documents(format)
    description = f"Plumbline experiment {experiment.id}: {experiment.title}"
    info = datasets.DatasetInfo(description=description)
    if format in ("trl", "jsonl"):
        got = export(experiment, format, **options)
        rows = got.rows()
        if rows:
            return datasets.Dataset.from_list(rows, info=info)
        columns = _columns(experiment, format, rows)
        return datasets.Dataset.from_dict({c: [] for c in columns}, info=info)
    return datasets.Dataset.from_pandas(dataframe(experiment, format, **options), info=info, preserve_index=False)


def _refuse_documents(format: str) -> None:
    """The card and the best-of results are documents, not tables."""
    if format == "card":
        raise InputError("the card is Markdown, not a table: use card()")
    if format == "best_of":
        raise InputError("the best-of results are one JSON document, not a table: use best_of()")


def best_of(experiment: "Experiment") -> dict[str, Any]:
    """A best-of experiment's results (``?format=best_of``): per prompt the winner, a ranking
    and every decided match."""
    result: dict[str, Any] = json.loads(export(experiment, "best_of").data)
    return result


def _columns(experiment: "Experiment", format: str, rows: list[dict[str, Any]]) -> list[str]:
    """The columns of a JSON-lines export, known even when it has no rows."""
    if rows:
        return list(rows[0])
    if format == "jsonl":
        return ["task", "id", "prompt", "responses", "gold", "consensus", "cohort_consensus", "confidence", "agreement", "labels"]
    return ["prompt", "chosen", "rejected", "margin", "confidence", "gold"]


def save(experiment: "Experiment", folder: Union[str, "os.PathLike[str]"]) -> Path:
    """Writes the card (README.md) and the files its configurations name: the per-task table
    (``ID.jsonl``) and, for pairwise questions, the preferences (``ID.trl.jsonl``)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    formats = ["card", "jsonl"] + (["trl"] if experiment.spec["question"]["kind"] == "pairwise" else [])
    for name in formats:
        got = export(experiment, name)
        (target / got.filename).write_bytes(got.data)
    return target


def record_text(experiment: "Experiment") -> str:
    """The public record's JSON text as served (``NotFound`` before settlement)."""
    return experiment.client._http.request("GET", f"/experiments/{experiment.id}/record", timeout=300.0).text


def record(experiment: "Experiment") -> dict[str, Any]:
    """The public record as a dict."""
    result: dict[str, Any] = json.loads(record_text(experiment))
    return result


def save_record(experiment: "Experiment", path: Union[str, "os.PathLike[str]"]) -> Path:
    """Writes the record as served, unchanged: ``plumbline audit`` compares byte for byte."""
    target = Path(path)
    target.write_text(record_text(experiment), encoding="utf-8")
    return target


def find_binary(binary: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
    """The ``plumbline`` binary: ``binary``, else ``$PLUMBLINE_BIN``, else ``plumbline`` on the
    PATH."""
    for candidate, source in ((binary, "the binary argument"), (os.environ.get("PLUMBLINE_BIN"), "PLUMBLINE_BIN")):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file() or not os.access(path, os.X_OK):
                raise AuditError(f"{source} names {str(path)!r}, which is not an executable file")
            return str(path)
    found = shutil.which("plumbline")
    if found is None:
        raise AuditError(
            "no plumbline binary: pass audit(binary=PATH), set PLUMBLINE_BIN, or put plumbline on the PATH"
        )
    return found


def audit(experiment: "Experiment", binary: Optional[Union[str, "os.PathLike[str]"]] = None) -> dict[str, Any]:
    """Runs ``plumbline audit RECORD.json --json`` on the experiment's record: every signature,
    nonce, deadline, assignment, root and commitment is checked again and the settlement
    recomputed. Answers the report (``experiment_id``, ``joins``, ``commits``, ``reveals``,
    ``labelers``, ``payout_root``, ...); raises :class:`~plumbline.AuditError` naming the first
    mismatch when the record does not verify."""
    return _audit_text(record_text(experiment), binary)


def audit_record(
    record: Union[str, "os.PathLike[str]", dict[str, Any]],
    binary: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> dict[str, Any]:
    """The same for any public record: a file (as ``save_record`` writes it or the server
    serves it) or the record itself as a dict, however it was obtained."""
    if isinstance(record, dict):
        return _audit_text(json.dumps(record), binary)
    try:
        text = Path(record).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read the record {record}: {error}") from error
    return _audit_text(text, binary)


def _audit_text(text: str, binary: Optional[Union[str, "os.PathLike[str]"]]) -> dict[str, Any]:
    program = find_binary(binary)
    with tempfile.TemporaryDirectory(prefix="plumbline-audit-") as folder:
        path = Path(folder) / "record.json"
        path.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([program, "audit", str(path), "--json"], capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise AuditError(f"cannot run {program} audit: {error}") from error
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        message = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
        raise AuditError(f"plumbline audit failed: {message}", done.returncode, output)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise AuditError(f"plumbline audit printed no report: {output[:500]}", done.returncode, output) from None
    return report
