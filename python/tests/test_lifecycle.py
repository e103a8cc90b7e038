"""A whole experiment on the test clock: a DataFrame of pairs with gold, funded and opened,
six programmatic labelers (one leaving its reveal with the server, one revealing from the
encrypted backup on a fresh client), the commit deadline passed by moving the clock, reveals,
settlement, and every result: the settlement DataFrame, stats, the exports as datasets and
DataFrames, the record and its audit by the CLI."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest

import plumbline

from .conftest import FAUCET, Server, plumbline_bin

STAKE = 100
POOL = 6_000


def pairs() -> pd.DataFrame:
    """Twelve regular pairs and four gold ones; "chosen" is right."""
    rows: list[dict[str, Any]] = [{"id": f"q{i}", "prompt": f"What is {i} times 3?", "chosen": str(3 * i), "rejected": str(3 * i + 1)} for i in range(12)]
    gold: list[dict[str, Any]] = [{"id": f"g{i}", "prompt": f"What is {i} plus 100?", "chosen": str(i + 100), "rejected": str(i + 99), "gold": -2} for i in range(4)]
    frame: pd.DataFrame = pd.DataFrame(rows + gold)
    return frame


@pytest.fixture(scope="module")
def settled(server: Server) -> dict[str, Any]:
    """Runs the experiment once; the tests below read its results."""
    creator = server.client()
    data = pairs()
    best = dict(zip(data.prompt, data.chosen))
    start = server.now
    experiment = creator.create_experiment(
        title="Which product is right?",
        kind="pairwise",
        strength_max=2,
        allow_tie=True,
        instructions="Pick the **correct** answer.",
        block_size=6,
        overlap=3,
        gold_per_batch=2,
        stake_per_batch=STAKE,
        reward_pool=POOL,
        commit_deadline=start + 3600,
        reveal_deadline=start + 7200,
    )
    assert experiment.import_tasks(data, shuffle=True) == {"tasks": 16, "regular": 12, "gold": 4}
    assert experiment.progress() == plumbline.Progress("draft", 0, 0, 0, start + 3600, start + 7200)
    experiment.fund()
    assert experiment.info["funded"] is True
    assert creator.balance().available == FAUCET - POOL
    experiment.open()
    assert experiment.phase == "open" and experiment.info["seed_hash"].startswith("0x")

    def careful(task: plumbline.Task) -> int:
        return task.prefer(best[task.prompt], 2)

    labelers = [server.labeler() for _ in range(6)]
    batches = {}
    for i, labeler in enumerate(labelers[:4]):
        rng = random.Random(i)
        # Mostly right, now and then a weak preference for the wrong answer.
        fn = careful if i < 2 else (lambda task, rng=rng: careful(task) if rng.random() < 0.9 else -careful(task) // 2)
        (batches[i],) = labeler.label(experiment, fn)
    # The fifth leaves its reveal with the server and never comes back.
    (batches[4],) = labelers[4].label(experiment, careful, seal=True)
    # The sixth labels now and commits later, its labels by position.
    (batches[5],) = labelers[5].label(experiment, careful, commit=False)
    assert batches[5].commitment is None and batches[5].labels is not None
    server.advance(120)
    return {
        "server": server,
        "creator": creator,
        "experiment": experiment,
        "labelers": labelers,
        "batches": batches,
        "best": best,
        "start": start,
    }


def test_batches_show_tasks_in_the_labelers_order(settled: dict[str, Any]) -> None:
    batch = settled["batches"][0]
    assert len(batch.tasks) == 6 + 2 and [t.position for t in batch.tasks] == list(range(8))
    assert batch.commitment and batch.commitment.startswith("0x")
    for task in batch.tasks:
        assert task.kind == "pairwise" and task.instructions == "Pick the **correct** answer."
        assert sorted(task.response_order) == [0, 1] and len(task.responses) == 2
        assert task.messages == [{"role": "user", "content": task.prompt}]
    # Reading it again gives the same batch; another labeler may not read it before settlement.
    labeler = settled["labelers"][0]
    again = labeler.batch(settled["experiment"], batch.batch_id)
    assert [t.responses for t in again.tasks] == [t.responses for t in batch.tasks]
    with pytest.raises(plumbline.Forbidden):
        settled["labelers"][1].batch(settled["experiment"], batch.batch_id)
    assert [b.batch_id for b in labeler.batches(settled["experiment"].id)] == [batch.batch_id]
    odds = labeler.odds(settled["experiment"])
    assert odds and 0 <= odds[0]["rewarded"] <= 1


def test_bad_labels_are_refused_before_anything_is_sent(settled: dict[str, Any]) -> None:
    labeler, batch, experiment = settled["labelers"][5], settled["batches"][5], settled["experiment"]
    with pytest.raises(plumbline.InputError, match="has 8 tasks, got 2 labels"):
        labeler.commit(experiment, batch, [1, 2])
    with pytest.raises(plumbline.InputError, match="task 3: pairwise label 5 is outside -2..2"):
        labeler.commit(experiment, batch, [1, 1, 1, 5, 1, 1, 1, 1])
    with pytest.raises(plumbline.InputError, match="no label for tasks \\[7\\]"):
        labeler.commit(experiment, batch, {p: 1 for p in range(7)})
    with pytest.raises(plumbline.InputError, match="no task at positions \\[9\\]"):
        labeler.commit(experiment, batch, {**{p: 1 for p in range(8)}, 9: 1})
    with pytest.raises(plumbline.InputError, match="must be an integer"):
        labeler.commit(experiment, batch, ["left"] * 8)
    assert labeler.work(experiment)["batches"][0]["committed_at"] is None


def test_commit_then_reveal_after_the_deadline(settled: dict[str, Any]) -> None:
    server, experiment = settled["server"], settled["experiment"]
    labelers, batches = settled["labelers"], settled["batches"]
    # The sixth commits now, its labels as a mapping from position (numpy integers are fine).
    labels = dict(zip([t.position for t in batches[5].tasks], batches[5].labels))
    commitment = labelers[5].commit(experiment, batches[5].batch_id, labels)
    assert labelers[5].work(experiment)["batches"][0]["commitment"] == commitment
    # Committing the same labels again is harmless.
    assert labelers[5].commit(experiment, batches[5].batch_id, labels) == commitment
    progress = experiment.progress()
    assert (progress.phase, progress.joined, progress.committed, progress.revealed) == ("open", 6, 6, 0)
    with pytest.raises(plumbline.Conflict) as early:
        labelers[0].reveal(experiment)
    assert early.value.code in ("wrong_phase", "deadline")
    with pytest.raises(plumbline.WaitTimeout, match="is open after"):
        experiment.wait("revealing", timeout=0.2, interval=0.05, progress=False)

    server.set_clock(settled["start"] + 3601)
    assert experiment.refresh().phase == "revealing"
    answers = labelers[0].reveal(experiment)
    assert [a["batch_id"] for a in answers] == [batches[0].batch_id] and answers[0]["repeat"] is False
    assert labelers[0].reveal(experiment, batches[0])[0]["repeat"] is True
    # A fresh client holding only the key reveals from the encrypted backup.
    fresh = plumbline.Labeler(server.url, labelers[1]._key())
    assert fresh.reveal(experiment)[0]["batch_id"] == batches[1].batch_id
    for labeler in (labelers[2], labelers[3], labelers[5]):
        assert len(labeler.reveal(experiment)) == 1
    # Nothing is left to reveal; the sealed reveal is the server's to make.
    assert labelers[0].reveal(experiment) == []
    experiment.wait(timeout=30, interval=0.2, progress=False)
    assert experiment.phase == "settled"
    work = labelers[4].work(experiment)["batches"][0]
    assert work["revealed_at"] is not None


def test_the_settlement_as_a_dataframe(settled: dict[str, Any]) -> None:
    experiment, labelers = settled["experiment"], settled["labelers"]
    frame = experiment.settlement()
    assert len(frame) == 6
    assert {"labeler", "tier", "score", "stake", "reward", "payout", "tally.peer_n", "tally.gold_n"} <= set(frame.columns)
    assert sorted(frame.labeler.str.lower()) == sorted(l.address.lower() for l in labelers)
    assert set(frame.tier) <= {"rewarded", "even", "slashed"}
    assert frame.stake.tolist() == [STAKE] * 6 and all(isinstance(v, int) for v in frame.payout)
    totals = frame.attrs["totals"]
    assert totals["reward_pool"] == POOL and totals["stakes"] == 6 * STAKE
    assert totals["reward_pool"] + totals["stakes"] == (
        totals["rewards"] + totals["stakes_returned"] + totals["refund"] + totals["burned"]
    )
    assert frame.attrs["payout_root"].startswith("0x") and frame.attrs["gold_dropped"] == []
    assert experiment.settle() == experiment.settlement_json()
    # Careful labelers are paid (at eight items each, not every one of them), and balances show
    # every payout. Four of the six always prefer the right answer strongly.
    by_address = {row.labeler.lower(): row for row in frame.itertuples()}
    careful = [by_address[labelers[i].address.lower()] for i in (0, 1, 4, 5)]
    assert any(row.tier == "rewarded" and row.reward > 0 for row in careful)
    assert all(row.tier != "slashed" for row in careful)
    for labeler in labelers:
        assert labeler.balance().available == FAUCET - STAKE + by_address[labeler.address.lower()].payout


def test_stats(settled: dict[str, Any]) -> None:
    stats = settled["experiment"].stats()
    assert stats["phase"] == "settled"
    assert stats["batches"] == {"joined": 6, "committed": 6, "revealed": 6}
    assert stats["agreement"] is not None and len(stats["score_histogram"]) == 20
    assert sum(stats["tiers"].values()) == 6


def test_the_export_as_a_trl_dataset(settled: dict[str, Any]) -> None:
    experiment, best = settled["experiment"], settled["best"]
    dpo = experiment.dataset("trl")
    assert isinstance(dpo, datasets.Dataset)
    assert {"prompt", "chosen", "rejected", "margin", "confidence", "gold"} <= set(dpo.column_names)
    assert dpo.num_rows >= 12
    for row in dpo:
        assert row["chosen"] == best[row["prompt"]] and row["rejected"] != row["chosen"]
        assert 0.7 <= row["confidence"] <= 1
    assert sum(dpo["gold"]) == 4
    without_gold = experiment.dataset("trl", gold=False)
    assert without_gold.num_rows == dpo.num_rows - 4 and not any(without_gold["gold"])
    implicit = experiment.dataset("trl", prompt="implicit")
    assert "prompt" not in implicit.column_names
    # The prompt stands in front of both responses.
    assert sorted(row["chosen"] for row in implicit) == sorted(p + best[p] for p in dpo["prompt"])
    strict = experiment.export("trl", min_confidence=1.0, gold=False)
    assert strict.filename == f"{experiment.id}.trl.jsonl"
    # Gold left out counts among the tasks left out.
    assert len(strict.rows()) + strict.left_out == 16
    with pytest.raises(plumbline.InputError, match="unknown export option"):
        experiment.dataset("trl", min_conf=0.9)
    with pytest.raises(plumbline.InputError, match="options of the trl format"):
        experiment.dataframe("csv", gold=False)
    with pytest.raises(plumbline.BadRequest, match="min_confidence"):
        experiment.dataset("trl", min_confidence=2)


def test_the_export_as_dataframes_and_other_datasets(settled: dict[str, Any]) -> None:
    experiment = settled["experiment"]
    tasks = experiment.dataframe()
    assert len(tasks) == 16 and {"id", "prompt", "responses", "consensus", "confidence", "labels"} <= set(tasks.columns)
    assert all(len(labels) == 3 for labels in tasks.labels)
    raw = experiment.dataframe("raw")
    assert list(raw.columns) == ["task", "worker", "label"] and len(raw) == 48
    assert raw.worker.str.match(r"^w[0-9a-f]{8}$").all()
    table = experiment.dataframe("csv")
    assert len(table) == 16 and "labels" in table.columns
    parquet = experiment.dataframe("parquet")
    assert len(parquet) == 16 and parquet.task.tolist() == sorted(parquet.task.tolist())
    assert experiment.dataset("raw").num_rows == 48
    assert experiment.dataset("jsonl").num_rows == 16
    trl = experiment.dataframe("trl")
    assert trl.attrs["left_out"] == 16 - len(trl)
    assert "pretty_name" in experiment.card()


def test_the_saved_folder_loads_with_datasets(settled: dict[str, Any], tmp_path: Path) -> None:
    experiment = settled["experiment"]
    folder = experiment.save(tmp_path / "dataset")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", f"{experiment.id}.jsonl", f"{experiment.id}.trl.jsonl"])
    preferences = datasets.load_dataset(str(folder), "preferences", split="train")
    assert preferences.num_rows == experiment.dataset("trl").num_rows
    assert datasets.load_dataset(str(folder), "tasks", split="train").num_rows == 16


def test_the_record_and_its_audit(settled: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = settled["experiment"]
    record = experiment.record()
    assert record["experiment_id"] == experiment.id and len(record["joins"]) == 6 and len(record["reveals"]) == 6
    assert record["settlement"] == experiment.settlement_json()
    path = experiment.save_record(tmp_path / "record.json")
    assert path.read_text() == plumbline.results.record_text(experiment)
    report = experiment.audit(plumbline_bin())
    assert report["experiment_id"] == experiment.id
    assert (report["joins"], report["commits"], report["reveals"], report["labelers"]) == (6, 6, 6, 6)
    assert report["payout_root"] == experiment.settlement().attrs["payout_root"]
    monkeypatch.setenv("PLUMBLINE_BIN", str(plumbline_bin()))
    assert experiment.audit() == report
    monkeypatch.setenv("PLUMBLINE_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(plumbline.AuditError, match="PLUMBLINE_BIN names"):
        experiment.audit()
    monkeypatch.delenv("PLUMBLINE_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(plumbline.AuditError, match="no plumbline binary"):
        experiment.audit()
    # Any record, from a file or as a dict; one whose payouts were changed is refused by the
    # real binary, naming the field, with its exit code.
    assert plumbline.audit_record(path, plumbline_bin()) == report
    tampered = experiment.record()
    tampered["settlement"]["labelers"][0]["reward"] = str(int(tampered["settlement"]["labelers"][0]["reward"]) + 1)
    with pytest.raises(plumbline.AuditError, match="settlement") as failed:
        plumbline.audit_record(tampered, plumbline_bin())
    assert failed.value.returncode == 1
    with pytest.raises(plumbline.InputError, match="cannot read the record"):
        plumbline.audit_record(tmp_path / "missing.json", plumbline_bin())


def test_batches_are_public_after_settlement(settled: dict[str, Any]) -> None:
    batch = settled["batches"][2]
    reader = plumbline.Labeler(settled["server"].url, plumbline.new_key())
    assert reader.batch(settled["experiment"], batch.batch_id).labeler.lower() == batch.labeler.lower()
    reader.close()
