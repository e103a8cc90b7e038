"""Practice and qualification: a labeler answers its practice draw with a callable before it may
join an experiment whose spec sets a qualification."""

from __future__ import annotations

import pandas as pd
import pytest

import plumbline

from .conftest import Server


def test_practice_qualifies_a_labeler_to_join(server: Server, creator: plumbline.Client) -> None:
    experiment = creator.create_experiment(
        title="Is it spam?", kind="binary", options=["ham", "spam"], block_size=4, overlap=2,
        stake_per_batch=10, reward_pool=100, commit_within="1d", reveal_within="1d",
        qualification={"items": 4, "score_min": 0.4},
    )
    experiment.import_tasks([{"prompt": f"message {i}", "responses": []} for i in range(4)])
    # Three of each class: every draw of four holds both, so answering every one right scores
    # at least 0.5 once chance-corrected (a draw of one class would score 0, as guessing).
    practice = pd.DataFrame(
        {
            "text": [f"WIN {i} FREE PILLS" if i % 2 else f"Meeting moved to {i}pm" for i in range(6)],
            "answer": [i % 2 for i in range(6)],
            "why": ["Shouting and a free offer." if i % 2 else "An ordinary work message." for i in range(6)],
        }
    )
    with pytest.raises(plumbline.InputError, match="the explanation column 'because'"):
        experiment.import_practice(practice, prompt="text", responses=[], gold="answer", explanation="because")
    assert experiment.import_practice(practice, prompt="text", responses=[], gold="answer", explanation="why") == 6
    assert experiment.info["practice_tasks"] == 6
    experiment.fund().open()

    careless, careful = server.labeler(), server.labeler()
    with pytest.raises(plumbline.Forbidden) as refused:
        careful.join(experiment)
    assert refused.value.code == "not_qualified"
    standing = careful.practice(experiment, lambda task: 1 if "PILLS" in task.prompt_text else 0)
    assert standing["qualified"] is True and standing["answered"] == 4 == len(standing["feedback"])
    assert {f["verdict"] for f in standing["feedback"]} == {"right"}
    assert all(f["explanation"] in ("Shouting and a free offer.", "An ordinary work message.") for f in standing["feedback"])
    assert len(careful.join(experiment).tasks) == 4

    failed = careless.practice(experiment, lambda task: 0 if "PILLS" in task.prompt_text else 1)
    assert failed["qualified"] is False
    with pytest.raises(plumbline.Forbidden, match="practice"):
        careless.join(experiment)
