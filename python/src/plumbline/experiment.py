"""An experiment seen from its creator (or anyone: reads are public): tasks in, money in,
open, close early, cancel, watch its progress and wait for settlement; the results are in
:mod:`plumbline.results`, reached from the same object."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from tqdm.auto import tqdm

from . import results
from .errors import InputError, PlumblineError, WaitTimeout
from .tasks import TaskData, task_lines

if TYPE_CHECKING:
    import os

    import datasets
    import pandas

    from .client import Client

#: Phases in the order an experiment passes them (``cancelled`` ends a draft).
PHASES = ("draft", "open", "revealing", "settled")


@dataclass(frozen=True)
class Progress:
    """Where an experiment stands: its phase, its batches joined, committed and revealed,
    and its deadlines (0 while durations wait for the experiment to open)."""

    phase: str
    joined: int
    committed: int
    revealed: int
    commit_deadline: int
    reveal_deadline: int


class Experiment:
    """One experiment on a server. ``info`` is its ``EXPERIMENT`` as last read
    (:meth:`refresh` reads it again; every action answers the new state)."""

    def __init__(self, client: "Client", info: dict[str, Any]):
        self.client = client
        self.info = info

    def __repr__(self) -> str:
        return f"Experiment({self.id}, {self.title!r}, phase={self.phase!r})"

    @property
    def id(self) -> str:
        return str(self.info["experiment_id"])

    @property
    def title(self) -> str:
        return str(self.info["title"])

    @property
    def phase(self) -> str:
        """The phase as last read: draft, open, revealing, settled or cancelled."""
        return str(self.info["phase"])

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.info["spec"]
        return spec

    @property
    def creator(self) -> str:
        return str(self.info["creator"])

    @property
    def commit_deadline(self) -> int:
        return int(self.info["commit_deadline"])

    @property
    def reveal_deadline(self) -> int:
        return int(self.info["reveal_deadline"])

    @property
    def commits_closed_at(self) -> Optional[int]:
        """When the creator closed commits early (server clock), or None."""
        closed = self.spec.get("commits_closed_at")
        return None if closed is None else int(closed)

    def refresh(self) -> "Experiment":
        """Reads the experiment again."""
        self.info = self.client._http.get(f"/experiments/{self.id}")
        return self

    def _act(self, action: str) -> "Experiment":
        self.info = self.client._http.post(f"/experiments/{self.id}/{action}", auth=True)
        return self

    # -- the creator's steps ---------------------------------------------------------------

    def import_tasks(self, data: TaskData, **mapping: Any) -> dict[str, int]:
        """Imports the draft's tasks, all or nothing, once: a list of dicts, a pandas
        DataFrame, a ``datasets.Dataset`` (with the column mapping of
        :func:`plumbline.tasks.task_rows`: ``id=``, ``prompt=``, ``responses=``, ``gold=``,
        ``meta=``, ``shuffle=``), or the path of a JSONL task file. Answers ``{"tasks",
        "regular", "gold"}``."""
        counts: dict[str, int] = self._upload("tasks", data, mapping)
        return counts

    def import_practice(self, data: TaskData, **mapping: Any) -> int:
        """Imports the draft's practice pool, once: tasks with their answer in ``gold`` and an
        optional ``explanation`` (map it with ``explanation=``), with the same column mapping as
        :meth:`import_tasks`. Answers how many."""
        return int(self._upload("practice", data, mapping)["practice_tasks"])

    def _upload(self, pool: str, data: TaskData, mapping: dict[str, Any]) -> dict[str, Any]:
        """Sends task lines to ``POST /experiments/{id}/{pool}`` and reads the draft again."""
        if mapping.get("shuffle", False) is not False:
            # Shuffling moves gold answers along, which takes the question's kind.
            mapping.setdefault("kind", self.spec["question"]["kind"])
        text = task_lines(data, **mapping)
        response = self.client._http.request(
            "POST", f"/experiments/{self.id}/{pool}", content=text, content_type="application/x-ndjson", auth=True, timeout=300.0
        )
        answer: dict[str, Any] = response.json()
        self.refresh()
        return answer

    def fund(self) -> "Experiment":
        """Moves the reward pool from the creator's credits into escrow."""
        return self._act("fund")

    def open(self) -> "Experiment":
        """Opens the funded draft to labelers (deadlines given as durations are fixed now)."""
        return self._act("open")

    def close(self) -> "Experiment":
        """Closes commits early, once every joined batch is committed (embedded ledger): the
        experiment moves to ``revealing`` and settles as soon as every committed batch is
        revealed. Refused with ``not_all_committed`` while a joined batch is uncommitted and
        ``wrong_phase`` unless open."""
        return self._act("close")

    def cancel(self) -> "Experiment":
        """Cancels a draft and refunds its pool."""
        return self._act("cancel")

    def settle(self) -> dict[str, Any]:
        """Settles now if it is due (the server's scheduler does it too, within a second) and
        answers the settlement as JSON; see :meth:`settlement` for it as a DataFrame."""
        answer: dict[str, Any] = self.client._http.post(f"/experiments/{self.id}/settle")
        self.refresh()
        return answer

    # -- watching --------------------------------------------------------------------------

    def progress(self) -> Progress:
        """The phase and the batches joined, committed and revealed."""
        self.refresh()
        batches = self.stats()["batches"]
        return Progress(
            phase=self.phase,
            joined=int(batches["joined"]),
            committed=int(batches["committed"]),
            revealed=int(batches["revealed"]),
            commit_deadline=self.commit_deadline,
            reveal_deadline=self.reveal_deadline,
        )

    def wait(
        self,
        until: str = "settled",
        *,
        timeout: Optional[float] = None,
        interval: float = 1.0,
        progress: bool = True,
    ) -> "Experiment":
        """Waits until the experiment reaches phase ``until`` (open, revealing or settled),
        showing a tqdm bar of its batches (committed while open, revealed after). Raises
        :class:`~plumbline.WaitTimeout` after ``timeout`` seconds and
        :class:`~plumbline.PlumblineError` if it is cancelled."""
        if until not in PHASES[1:]:
            raise InputError(f"wait until one of {', '.join(PHASES[1:])}, not {until!r}")
        goal = PHASES.index(until)
        started = time.monotonic()
        bar = tqdm(total=0, unit="batch", desc=self.phase, disable=not progress, leave=False)
        try:
            while True:
                state = self.progress()
                if state.phase == "cancelled":
                    raise PlumblineError(f"experiment {self.id} was cancelled")
                if PHASES.index(state.phase) >= goal:
                    return self
                # While commits are open the bar counts commits of the batches joined; after,
                # reveals of the batches committed.
                committing = state.phase in ("draft", "open")
                bar.set_description(f"{state.phase}, {'committed' if committing else 'revealed'}")
                bar.total = state.joined if committing else state.committed
                bar.n = state.committed if committing else state.revealed
                bar.refresh()
                if timeout is not None and time.monotonic() - started > timeout:
                    raise WaitTimeout(
                        f"experiment {self.id} is {state.phase} after {timeout:g} s, not {until} "
                        f"({state.committed} of {state.joined} batches committed, {state.revealed} revealed)",
                        state.phase,
                    )
                time.sleep(interval)
        finally:
            bar.close()

    # -- results (plumbline.results) -------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Live statistics: batches, agreement (Krippendorff's alpha), quality by position, and
        after settlement the score histogram, tiers and labels left out."""
        return results.stats(self)

    def settlement(self) -> "pandas.DataFrame":
        """The settlement, one row per labeler (see :func:`plumbline.results.settlement_frame`)."""
        return results.settlement_frame(results.settlement_json(self))

    def settlement_json(self) -> dict[str, Any]:
        """The settlement as the API answers it."""
        return results.settlement_json(self)

    def export(self, format: str = "trl", **options: Any) -> results.Export:
        """The exported dataset's bytes in ``format`` (trl, jsonl, csv, parquet, raw, card, best_of)."""
        return results.export(self, format, **options)

    def dataset(self, format: str = "trl", **options: Any) -> "datasets.Dataset":
        """The export as a ``datasets.Dataset``: ``trl`` (prompt, chosen, rejected, margin,
        confidence, gold: ready for TRL's DPO and reward trainers), ``jsonl`` (per task), ``raw``
        (one row per label)."""
        return results.dataset(self, format, **options)

    def dataframe(self, format: str = "jsonl", **options: Any) -> "pandas.DataFrame":
        """The export as a pandas DataFrame (``jsonl`` per task by default)."""
        return results.dataframe(self, format, **options)

    def best_of(self) -> dict[str, Any]:
        """A best-of experiment's results (``rule = "best_of"`` in ``[rounds]``): ``{"prompts":
        [{"task", "prompt", "responses", "winner", "winner_confidence", "comparisons",
        "ranking", "matches"}]}``; :class:`~plumbline.Invalid` for any other experiment."""
        return results.best_of(self)

    def card(self) -> str:
        """The dataset card (README.md for the Hugging Face Hub)."""
        return results.export(self, "card").data.decode("utf-8")

    def save(self, folder: Union[str, "os.PathLike[str]"]) -> Path:
        """Writes the dataset card and its files into ``folder``, where
        ``datasets.load_dataset(folder, "preferences")`` (pairwise) or ``"tasks"`` reads them."""
        return results.save(self, folder)

    def record(self) -> dict[str, Any]:
        """The public record (after settlement), what ``plumbline audit`` replays."""
        return results.record(self)

    def save_record(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Writes the public record, byte for byte as served, to ``path``."""
        return results.save_record(self, path)

    def audit(self, binary: Optional[Union[str, "os.PathLike[str]"]] = None) -> dict[str, Any]:
        """Recomputes the settlement from the public record with ``plumbline audit`` (the
        binary from ``binary``, else ``$PLUMBLINE_BIN``, else ``plumbline`` on the PATH) and
        answers its report; raises :class:`~plumbline.AuditError` when it does not verify."""
        return results.audit(self, binary)
