"""Labels: checked against the question as the server checks them, and mapped between the
order a labeler is shown and the canonical order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plumbline
from plumbline.protocol import check_label, to_canonical, to_shown

PAIRWISE = {"kind": "pairwise", "strength_max": 2, "allow_tie": False}


def task(responses: list[str], order: list[int], question: dict[str, object] = PAIRWISE) -> plumbline.Task:
    return plumbline.Task(0, "p", responses, order, dict(question))


def test_labels_are_checked_by_kind() -> None:
    assert check_label({"kind": "binary", "options": ["n", "y"]}, True) == 1
    assert check_label({"kind": "choice", "options": ["a", "b", "c"]}, np.int64(2)) == 2
    assert check_label({"kind": "rating", "min": 1, "max": 5}, 4.0) == 4
    assert check_label(PAIRWISE, -2) == -2
    assert check_label({"kind": "ranking", "n": 3}, np.array([2, 0, 1])) == [2, 0, 1]
    assert check_label({"kind": "text", "length_max": 5}, "short") == "short"
    refusals: list[tuple[dict[str, Any], Any, str]] = [
        ({"kind": "binary", "options": ["n", "y"]}, 2, "not 0 or 1"),
        ({"kind": "choice", "options": ["a", "b"]}, 2, "not an option index 0..1"),
        ({"kind": "rating", "min": 1, "max": 5}, 6, "outside 1..5"),
        ({"kind": "rating", "min": 1, "max": 5}, 4.5, "must be an integer"),
        (PAIRWISE, 0, "ties"),
        (PAIRWISE, 3, "outside -2..2"),
        (PAIRWISE, True, "must be an integer"),
        ({"kind": "ranking", "n": 3}, [0, 0, 1], "not a permutation"),
        ({"kind": "ranking", "n": 3}, "012", "list of response indices"),
        ({"kind": "text", "length_max": 3}, "long", "longer than 3 bytes"),
        ({"kind": "text", "length_max": 3}, 3, "is a string"),
    ]
    for question, value, message in refusals:
        with pytest.raises(plumbline.InputError, match=message):
            check_label(question, value, where="task 7")


def test_shown_and_canonical_orders() -> None:
    assert to_canonical("pairwise", -2, [1, 0]) == 2 and to_canonical("pairwise", -2, [0, 1]) == -2
    assert to_canonical("ranking", [0, 2, 1], [2, 0, 1]) == [2, 1, 0]
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        assert to_shown("ranking", to_canonical("ranking", [1, 0, 2], order), order) == [1, 0, 2]
    assert to_canonical("rating", 3, []) == 3


def test_prefer_names_a_response_in_the_shown_order() -> None:
    swapped = task(["second", "first"], [1, 0])
    assert swapped.prefer("first") == 1 and swapped.prefer("second", 2) == -2
    assert swapped.prefer(0) == -1
    # Preferring the canonical first response is -1 once mapped back.
    assert to_canonical("pairwise", swapped.prefer("first"), swapped.response_order) == -1
    with pytest.raises(plumbline.InputError, match="not one of its responses"):
        swapped.prefer("third")
    with pytest.raises(plumbline.InputError, match="strength"):
        swapped.prefer("first", 0)
    with pytest.raises(plumbline.InputError, match="for pairwise questions"):
        task(["a"], [0], {"kind": "rating", "min": 1, "max": 5}).prefer("a")


def test_chat_prompts_as_messages_and_text() -> None:
    chat = plumbline.Task(0, [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}], ["a", "b"], [0, 1], PAIRWISE)
    assert chat.messages[1] == {"role": "user", "content": "Hi"}
    assert chat.prompt_text == "system: Be kind.\n\nuser: Hi"
    assert plumbline.Task(0, "", ["a", "b"], [0, 1], PAIRWISE).messages == []
