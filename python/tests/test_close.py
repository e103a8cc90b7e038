"""Closing commits early (``POST /experiments/{id}/close``), settlement as soon as every
committed batch is revealed, and cancelling a draft."""

from __future__ import annotations

from typing import Any

import pytest

import plumbline

from .conftest import FAUCET, Server, plumbline_bin


def binary_experiment(creator: plumbline.Client, **fields: Any) -> plumbline.Experiment:
    spec: dict[str, Any] = dict(
        title="Is it spam?",
        kind="binary",
        options=["ham", "spam"],
        block_size=5,
        overlap=3,
        stake_per_batch=50,
        reward_pool=1_500,
        commit_within="3d",
        reveal_within="1d",
    )
    spec.update(fields)
    experiment = creator.create_experiment(**spec)
    messages = [{"id": f"m{i}", "prompt": f"Buy {i} pills now!!!" if i % 2 else f"Lunch at {i}?", "responses": []} for i in range(5)]
    experiment.import_tasks(messages)
    return experiment


def spam(task: plumbline.Task) -> int:
    return 1 if "pills" in task.prompt_text else 0


def test_close_early_then_settle_when_all_revealed(server: Server, creator: plumbline.Client) -> None:
    experiment = binary_experiment(creator)
    assert experiment.commits_closed_at is None
    with pytest.raises(plumbline.Conflict) as draft:
        experiment.close()
    assert draft.value.code == "wrong_phase"
    experiment.fund().open()
    opened = server.now
    assert experiment.commit_deadline == opened + 3 * 86400 and experiment.reveal_deadline == opened + 4 * 86400
    labelers = [server.labeler() for _ in range(3)]
    labelers[0].label(experiment, spam)
    labelers[1].label(experiment, spam)
    (pending,) = labelers[2].label(experiment, spam, commit=False)
    server.advance(600)  # labeling takes time

    with pytest.raises(plumbline.Conflict) as uncommitted:
        experiment.close()
    assert uncommitted.value.code == "not_all_committed" and "not committed" in uncommitted.value.message
    with pytest.raises(plumbline.Forbidden):
        labelers[0].experiment(experiment.id).close()
    labelers[2].commit(experiment, pending)
    server.advance(60)

    experiment.close()
    assert experiment.phase == "revealing"
    assert experiment.commits_closed_at == server.now
    # The commit phase ended at the close; the reveal deadline stays.
    assert experiment.commit_deadline == server.now and experiment.reveal_deadline == opened + 4 * 86400
    with pytest.raises(plumbline.Conflict) as again:
        experiment.close()
    assert again.value.code == "wrong_phase"
    # Nobody can join or commit once commits are closed.
    late = server.labeler()
    with pytest.raises(plumbline.Conflict):
        late.join(experiment)

    for labeler in labelers[:2]:
        labeler.reveal(experiment)
    assert experiment.progress().revealed == 2
    labelers[2].reveal(experiment)
    # The scheduler settles as soon as every committed batch is revealed, long before the
    # reveal deadline, without the clock moving.
    experiment.wait(timeout=30, interval=0.2, progress=False)
    assert experiment.phase == "settled"
    assert experiment.record()["settled_at"] == server.now < experiment.reveal_deadline
    assert experiment.audit(plumbline_bin())["reveals"] == 3
    # Three identical careful labelers on five items: paid or even (the reward test is a
    # permutation test drawn from the experiment's seed), never slashed.
    assert set(experiment.settlement().tier) <= {"rewarded", "even"}


def test_a_record_closed_in_the_second_it_opened_audits(server: Server, creator: plumbline.Client) -> None:
    """Programmatic labelers can join, commit and be closed within one second of opening, and
    the record must still replay."""
    experiment = binary_experiment(creator).fund().open()
    labelers = [server.labeler() for _ in range(3)]
    for labeler in labelers:
        labeler.label(experiment, spam, seal=True)
    experiment.close().wait(timeout=30, interval=0.2, progress=False)
    assert experiment.audit(plumbline_bin())["reveals"] == 3


def test_a_wrong_label_stops_labeling_at_its_task(server: Server, creator: plumbline.Client) -> None:
    """A callable answering the wrong kind of label is stopped at the first such task, before
    anything is committed; the joined batch is found again and committed."""
    experiment = binary_experiment(creator).fund().open()
    labeler = server.labeler()
    asked: list[int] = []

    def confused(task: plumbline.Task) -> str:
        asked.append(task.position)
        return "spam"

    with pytest.raises(plumbline.InputError, match=r"batch \d+, task 0: a binary label must be an integer, got 'spam'"):
        labeler.label(experiment, confused)
    assert asked == [0]
    (batch,) = labeler.batches(experiment)
    assert labeler.work(experiment)["batches"][0]["committed_at"] is None
    labeler.commit(experiment, batch, [spam(task) for task in batch.tasks])
    assert labeler.work(experiment)["batches"][0]["committed_at"] is not None


def test_cancel_refunds_the_pool(server: Server, creator: plumbline.Client) -> None:
    experiment = binary_experiment(creator, reward_pool=2_500).fund()
    assert creator.balance().available == FAUCET - 2_500
    experiment.cancel()
    assert experiment.phase == "cancelled"
    assert creator.balance().available == FAUCET
    with pytest.raises(plumbline.Conflict):
        experiment.open()
    with pytest.raises(plumbline.PlumblineError, match="was cancelled"):
        experiment.wait(timeout=5, progress=False)
    with pytest.raises(plumbline.InputError, match="wait until one of"):
        experiment.wait("cancelled")
    assert [e.id for e in creator.experiments(phase="cancelled", creator=creator.address)] == [experiment.id]
    assert experiment.id in [e.id for e in creator.experiments(phase=["draft", "cancelled"], limit=500)]
