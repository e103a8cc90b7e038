"""A programmatic labeler: joins experiments, labels each task of its batch with a Python
callable (a model, a heuristic, a person's answers read from a file), commits and reveals with
the signatures the web interface makes (``web/src/flows.js``):

- join: a signed EIP-712 ``Join`` with the stake and the next nonce;
- commit: the salt from the signed ``Salt`` message, the labels root, the commitment, a signed
  ``Commit``, the labels encrypted into the backup stored beside the commit (readable by this
  key only, from any machine or the browser), and optionally the signed reveal sealed to the
  server, which then reveals at the commit deadline if the labeler does not;
- reveal: the same salt again, the labels kept in memory or opened from the backup, and a
  signed ``Reveal``.

The callable sees a :class:`Task` with the responses **in the order shown to this labeler**
(the server shuffles pairwise and ranking responses per labeler, so that a position habit
scores as chance) and answers in that order; the client maps labels back to canonical order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

from tqdm.auto import tqdm

from . import protocol
from .auth import KeyLike
from .client import Client, Environment, ExperimentRef
from .errors import InputError, PlumblineError
from .protocol import Domain, Label, to_hex
from .seal import open_backup, seal_backup, seal_reveal

if TYPE_CHECKING:
    from .experiment import Experiment


@dataclass(frozen=True)
class Task:
    """One task of a batch as its labeler sees it."""

    #: Its position in the batch (labels are committed and revealed by it).
    position: int
    #: The prompt: text, or chat messages ``[{"role", "content"}]``.
    prompt: Union[str, list[dict[str, str]]]
    #: The responses in the order shown to this labeler.
    responses: list[str]
    #: ``response_order[p]`` is the canonical index of shown response ``p``.
    response_order: list[int]
    #: The experiment's question (``kind``, its parameters and ``instructions``).
    question: dict[str, Any]

    @staticmethod
    def of(position: int, view: Mapping[str, Any], question: Mapping[str, Any]) -> "Task":
        """A task from the API's view of it (a batch's or a practice draw's)."""
        return Task(
            position=position,
            prompt=view["prompt"],
            responses=list(view["responses"]),
            response_order=[int(i) for i in view["response_order"]],
            question=dict(question),
        )

    @property
    def kind(self) -> str:
        """The question's kind: binary, choice, rating, pairwise, ranking or text."""
        return str(self.question["kind"])

    @property
    def instructions(self) -> str:
        return str(self.question.get("instructions", ""))

    @property
    def messages(self) -> list[dict[str, str]]:
        """The prompt as chat messages (a text prompt is one user message), for a chat
        model."""
        if isinstance(self.prompt, list):
            return [dict(m) for m in self.prompt]
        return [{"role": "user", "content": self.prompt}] if self.prompt else []

    @property
    def prompt_text(self) -> str:
        """The prompt as one string: the text, or the messages as ``role: content`` lines."""
        if isinstance(self.prompt, list):
            return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.prompt)
        return self.prompt

    def prefer(self, response: Union[str, int], strength: int = 1) -> int:
        """A pairwise label (in shown order) preferring ``response``, given by its text or its
        shown index (0 for A, 1 for B), with ``strength`` from 1 to the question's
        ``strength_max``: ``-strength`` for A, ``+strength`` for B."""
        if self.kind != "pairwise":
            raise InputError(f"prefer() is for pairwise questions; this one is {self.kind}")
        if isinstance(response, str):
            if response not in self.responses:
                raise InputError(f"task {self.position}: {response[:60]!r} is not one of its responses")
            index = self.responses.index(response)
        else:
            index = int(response)
            if index not in (0, 1):
                raise InputError(f"a pairwise response is 0 (A) or 1 (B), got {index}")
        if strength < 1:
            raise InputError(f"strength is 1 or more, got {strength}")
        return strength if index == 1 else -strength


@dataclass
class Batch:
    """A joined batch: its tasks in the labeler's order and, once labeled, their labels (in
    shown order, as the callable gave them)."""

    experiment_id: str
    batch_id: int
    labeler: str
    tasks: list[Task]
    assigned_at: int
    commit_deadline: int
    work_secs_min: int
    cohort: Optional[str] = None
    labels: Optional[list[Label]] = None
    commitment: Optional[str] = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def of(experiment_id: str, view: Mapping[str, Any], question: Mapping[str, Any]) -> "Batch":
        """A batch from the API's ``BATCH``."""
        tasks = [Task.of(int(t["task"]), t, question) for t in view["tasks"]]
        return Batch(
            experiment_id=experiment_id,
            batch_id=int(view["batch_id"]),
            labeler=str(view["labeler"]),
            tasks=tasks,
            assigned_at=int(view["assigned_at"]),
            commit_deadline=int(view["commit_deadline"]),
            work_secs_min=int(view["work_secs_min"]),
            cohort=view.get("cohort"),
            raw=dict(view),
        )


#: What labels a task: a callable from a :class:`Task` to its label in shown order.
LabelFn = Callable[[Task], Any]


class Labeler(Client):
    """A client that labels: ``Labeler(url, key)``, or ``client.labeler(key)``. Everything a
    :class:`Client` does (balance, faucet, experiments) plus joining, labeling, committing,
    revealing and practice."""

    def __init__(
        self, url: Optional[str] = None, key: Union[KeyLike, None, Environment] = Environment.KEY, **options: Any
    ):
        super().__init__(url, key, **options)
        if self._account is None:
            raise InputError(
                "a labeler needs a key (its address holds the stakes and rewards): pass one, or set "
                "PLUMBLINE_KEY or PLUMBLINE_KEY_FILE"
            )
        # Canonical labels committed from this object, by (experiment, batch): the reveal's
        # first source; the encrypted backup on the server is the second.
        self._committed: dict[tuple[str, int], list[dict[str, Any]]] = {}

    # -- joining ---------------------------------------------------------------------------

    def join(self, experiment: ExperimentRef, *, cohort: Optional[str] = None) -> Batch:
        """Joins an open experiment: signs a ``Join`` for its stake and this labeler's next
        nonce, locks the stake and answers the assigned batch."""
        info = self._experiment_info(experiment)
        experiment_id = str(info["experiment_id"])
        stake = int(info["spec"]["stake_per_batch"])
        mine = self._http.get(f"/experiments/{experiment_id}/labelers/{self.address}")
        nonce = int(mine["next_nonce"])
        expires_at = int(mine["now"]) + protocol.JOIN_VALID_SECS
        message = protocol.join_message(experiment_id, self.address, cohort, stake, nonce, expires_at)
        signature = protocol.sign_typed(self._key(), Domain.of(info), "Join", message)
        body: dict[str, Any] = {
            "labeler": self.address,
            "stake": str(stake),
            "nonce": nonce,
            "expires_at": expires_at,
            "signature": to_hex(signature),
        }
        if cohort:
            body["cohort"] = cohort
        view = self._http.post(f"/experiments/{experiment_id}/join", body, auth=True)
        return Batch.of(experiment_id, view, info["spec"]["question"])

    def batch(self, experiment: ExperimentRef, batch_id: int) -> Batch:
        """One of this labeler's batches (anyone's after settlement)."""
        info = self._experiment_info(experiment)
        experiment_id = str(info["experiment_id"])
        view = self._http.get(f"/experiments/{experiment_id}/batches/{int(batch_id)}", auth=True)
        return Batch.of(experiment_id, view, info["spec"]["question"])

    def batches(self, experiment: ExperimentRef) -> list[Batch]:
        """This labeler's batches in an experiment, in the order joined."""
        info = self._experiment_info(experiment)
        experiment_id = str(info["experiment_id"])
        mine = self._http.get(f"/experiments/{experiment_id}/labelers/{self.address}")
        return [self.batch(info, int(b)) for b in mine["batches"]]

    def work(self, experiment: ExperimentRef) -> dict[str, Any]:
        """This labeler's batches with when each was assigned, committed and revealed, and the
        server's clock (``now``)."""
        experiment_id = self._experiment_id(experiment)
        result: dict[str, Any] = self._http.get(f"/experiments/{experiment_id}/labelers/{self.address}/work")
        return result

    def odds(self, experiment: ExperimentRef) -> list[dict[str, Any]]:
        """The server's estimate of this labeler's chance of a reward, by batches taken."""
        experiment_id = self._experiment_id(experiment)
        answer = self._http.get(f"/experiments/{experiment_id}/labelers/{self.address}/odds")
        return list(answer["odds"])

    # -- labeling and committing -----------------------------------------------------------

    def label(
        self,
        experiment: ExperimentRef,
        fn: LabelFn,
        *,
        batches: int = 1,
        cohort: Optional[str] = None,
        commit: bool = True,
        seal: bool = False,
        progress: bool = False,
    ) -> list[Batch]:
        """Joins ``batches`` batches, labels every task with ``fn`` (a :class:`Task` in,
        its label in shown order out) and commits each batch (unless ``commit=False``: then
        call :meth:`commit` later, for instance when the spec sets ``seconds_per_task_min``).
        With ``seal=True`` the signed reveal is left with the server, sealed to its key, to be
        revealed at the commit deadline. Answers the batches with their labels. A label that
        breaks the question raises :class:`~plumbline.InputError` at its task, before anything
        is committed; the batch stays joined (find it with :meth:`batches`)."""
        if batches < 1:
            raise InputError(f"batches is 1 or more, got {batches}")
        info = self._experiment_info(experiment)
        done = []
        for _ in range(batches):
            batch = self.join(info, cohort=cohort)
            tasks = tqdm(batch.tasks, desc=f"batch {batch.batch_id}", unit="task", disable=not progress, leave=False)
            # Each label is checked as it comes, so that a callable answering the wrong kind of
            # label stops at the first task rather than after a whole batch of model calls.
            batch.labels = [
                protocol.check_label(task.question, fn(task), where=f"batch {batch.batch_id}, task {task.position}")
                for task in tasks
            ]
            if commit:
                self.commit(info, batch, batch.labels, seal=seal)
            done.append(batch)
        return done

    def commit(
        self,
        experiment: ExperimentRef,
        batch: Union[Batch, int],
        labels: Union[Sequence[Any], Mapping[int, Any], None] = None,
        *,
        seal: bool = False,
    ) -> str:
        """Commits a batch's labels, given in shown order as a list in the batch's task order
        or a mapping from task position to label (default: the labels :meth:`label` kept on the
        batch). Answers the commitment. Committing the same labels again is harmless."""
        info = self._experiment_info(experiment)
        experiment_id = str(info["experiment_id"])
        if not isinstance(batch, Batch):
            batch = self.batch(info, batch)
        if labels is None:
            labels = batch.labels
        if labels is None:
            raise InputError(f"batch {batch.batch_id} has no labels: pass them, or label it with label()")
        canonical = self._canonical(batch, labels)
        domain = Domain.of(info)
        account = self._key()
        salt_sig = protocol.salt_signature(account, domain, experiment_id, batch.batch_id)
        salt = protocol.salt_from_signature(salt_sig)
        root = protocol.labels_root(canonical)
        commitment = protocol.commitment_of(experiment_id, batch.batch_id, self.address, root, salt)
        message = {"experimentId": protocol.hex32(experiment_id), "batchId": batch.batch_id, "commitment": commitment}
        body: dict[str, Any] = {
            "commitment": to_hex(commitment),
            "signature": to_hex(protocol.sign_typed(account, domain, "Commit", message)),
            "backup": seal_backup(salt_sig, experiment_id, batch.batch_id, self.address, {"labels": canonical}),
        }
        if seal:
            public_key = self.sealing_key()
            if public_key is None:
                raise PlumblineError("this server holds no sealing key (serve --sealing-key): reveal yourself")
            reveal = self._signed_reveal(domain, experiment_id, batch.batch_id, canonical, salt, root)
            body["sealed_reveal"] = seal_reveal(public_key, experiment_id, batch.batch_id, self.address, reveal)
        self._http.post(f"/experiments/{experiment_id}/batches/{batch.batch_id}/commit", body)
        self._committed[(experiment_id, batch.batch_id)] = canonical
        batch.labels = list(labels) if not isinstance(labels, Mapping) else [labels[t.position] for t in batch.tasks]
        batch.commitment = to_hex(commitment)
        return batch.commitment

    def _canonical(self, batch: Batch, labels: Union[Sequence[Any], Mapping[int, Any]]) -> list[dict[str, Any]]:
        """``[{"task", "label"}]`` in canonical response order, each label checked."""
        positions = [t.position for t in batch.tasks]
        if isinstance(labels, Mapping):
            unknown = sorted(set(labels) - set(positions))
            if unknown:
                raise InputError(f"batch {batch.batch_id} has no task at positions {unknown} (its tasks are 0..{len(positions) - 1})")
            missing = [p for p in positions if p not in labels]
            if missing:
                raise InputError(f"batch {batch.batch_id}: no label for tasks {missing}")
            given = [labels[p] for p in positions]
        else:
            given = list(labels)
            if len(given) != len(positions):
                raise InputError(f"batch {batch.batch_id} has {len(positions)} tasks, got {len(given)} labels")
        result = []
        for task, value in zip(batch.tasks, given):
            shown = protocol.check_label(task.question, value, where=f"batch {batch.batch_id}, task {task.position}")
            label = protocol.to_canonical(task.kind, shown, task.response_order)
            result.append({"task": task.position, "label": label})
        return result

    # -- revealing -------------------------------------------------------------------------

    def _signed_reveal(
        self, domain: Domain, experiment_id: str, batch_id: int, canonical: list[dict[str, Any]], salt: bytes, root: bytes
    ) -> dict[str, Any]:
        message = {"experimentId": protocol.hex32(experiment_id), "batchId": batch_id, "labelsRoot": root, "salt": salt}
        signature = protocol.sign_typed(self._key(), domain, "Reveal", message)
        return {"labels": canonical, "salt": to_hex(salt), "signature": to_hex(signature)}

    def reveal(self, experiment: ExperimentRef, batch: Union[Batch, int, None] = None) -> list[dict[str, Any]]:
        """Reveals a committed batch, or every committed batch of this labeler not yet revealed
        (once commits have closed: after the commit deadline, or after the creator closed them
        early). The labels come from this object's memory or, on another machine, from the
        encrypted backup stored with the commit. Answers the server's answers
        (``{"batch_id", "labels_root", "repeat"}``)."""
        info = self._experiment_info(experiment)
        experiment_id = str(info["experiment_id"])
        if batch is None:
            work = self.work(info)
            ids = [int(b["batch_id"]) for b in work["batches"] if b["committed_at"] is not None and b["revealed_at"] is None]
        else:
            ids = [batch.batch_id if isinstance(batch, Batch) else int(batch)]
        domain = Domain.of(info)
        answers = []
        for batch_id in ids:
            salt_sig = protocol.salt_signature(self._key(), domain, experiment_id, batch_id)
            salt = protocol.salt_from_signature(salt_sig)
            canonical = self._committed_labels(experiment_id, batch_id, salt_sig, salt)
            root = protocol.labels_root(canonical)
            reveal = self._signed_reveal(domain, experiment_id, batch_id, canonical, salt, root)
            answers.append(self._http.post(f"/experiments/{experiment_id}/batches/{batch_id}/reveal", reveal))
        return answers

    def _committed_labels(self, experiment_id: str, batch_id: int, salt_sig: bytes, salt: bytes) -> list[dict[str, Any]]:
        stored = self._http.get(f"/experiments/{experiment_id}/batches/{batch_id}/commit")
        commitment = str(stored["commitment"]).lower()

        def matches(labels: list[dict[str, Any]]) -> bool:
            root = protocol.labels_root(labels)
            return to_hex(protocol.commitment_of(experiment_id, batch_id, self.address, root, salt)) == commitment

        local = self._committed.get((experiment_id, batch_id))
        if local is not None and matches(local):
            return local
        if not stored.get("backup"):
            raise PlumblineError(f"batch {batch_id}: no labels in this client and the commit has no backup to reveal from")
        contents = open_backup(salt_sig, experiment_id, batch_id, self.address, str(stored["backup"]))
        labels = contents.get("labels") if isinstance(contents, dict) else None
        if not isinstance(labels, list) or not matches(labels):
            raise PlumblineError(f"batch {batch_id}: the backup does not match the commitment")
        return labels

    # -- practice --------------------------------------------------------------------------

    def practice(self, experiment: ExperimentRef, fn: LabelFn) -> dict[str, Any]:
        """Works through this labeler's practice draw (needed to join when the spec sets a
        ``qualification``), answering each task with ``fn`` in shown order. Answers the final
        standing: ``{"items", "answered", "score", "qualified", ...}``, with the feedback of each
        answer under ``"feedback"``."""
        info = self._experiment_info(experiment)
        experiment_id = str(info["experiment_id"])
        question = info["spec"]["question"]
        progress: dict[str, Any] = self._http.get(f"/experiments/{experiment_id}/practice", auth=True)
        feedback: list[dict[str, Any]] = []
        while progress.get("task"):
            view = progress["task"]
            task = Task.of(len(feedback), view, question)
            label = protocol.check_label(question, fn(task), where=f"practice task {view['id']}")
            answer = self._http.post(
                f"/experiments/{experiment_id}/practice/answers", {"task": view["id"], "label": label}, auth=True
            )
            feedback.append({"task": view["id"], "label": label, **{k: v for k, v in answer.items() if k != "progress"}})
            progress = answer["progress"]
        return {**progress, "feedback": feedback}

    def _experiment_id(self, experiment: ExperimentRef) -> str:
        from .experiment import Experiment

        if isinstance(experiment, Experiment):
            return experiment.id
        if isinstance(experiment, Mapping):
            return str(experiment["experiment_id"])
        return str(experiment)

    def _experiment_info(self, experiment: ExperimentRef) -> dict[str, Any]:
        from .experiment import Experiment

        if isinstance(experiment, Mapping):
            return dict(experiment)
        if isinstance(experiment, Experiment):
            # Phases move; the spec, domain and stake do not, so a cached copy is enough.
            return experiment.info
        info: dict[str, Any] = self._http.get(f"/experiments/{experiment}")
        return info
