"""The kinship predicates computed at a household office (onceonly.providers.computed): the
office reads the records it holds outwards from the subject's, answers with codes and
numbers only, and says when a relative's record is kept elsewhere (complete: false)."""

from __future__ import annotations

from typing import Any

import pytest

from onceonly.providers.base import InvalidPredicateParams, SourceRecord
from onceonly.providers.computed import evaluate

HERE = "taipei-city"


def _row(relation: str, key: str, held_by: str = HERE, **more: Any) -> dict[str, Any]:
    return {
        "relation": relation,
        "national_id": key,
        "name": f"name of {key}",
        "held_by": held_by,
        **more,
    }


def _reader(records: dict[str, list[dict[str, Any]]]) -> Any:
    asked: list[str] = []

    def read(key: str) -> SourceRecord | None:
        asked.append(key)
        rows = records.get(key)
        return None if rows is None else SourceRecord("kinship", key, {"relatives": rows})

    read.asked = asked  # type: ignore[attr-defined]
    return read


# A (died 2026), his wife W and their son S; A's father F (died 2001), A's brother B and B's
# wife BW - all registered here.
FAMILY = {
    "A": [
        _row("self", "A", death_date="2026-01-20"),
        _row("father", "F", death_date="2001-08-09"),
        _row("spouse", "W", married_on="1990-05-20"),
        _row("child", "S"),
    ],
    "F": [_row("self", "F", death_date="2001-08-09"), _row("child", "A"), _row("child", "B")],
    "B": [_row("self", "B"), _row("father", "F"), _row("spouse", "BW")],
    "BW": [_row("self", "BW"), _row("spouse", "B")],
    "W": [_row("self", "W"), _row("spouse", "A"), _row("child", "S")],  # undated marriage
    "S": [_row("self", "S"), _row("father", "A"), _row("mother", "W")],
}


def _ask(records: dict[str, list[dict[str, Any]]], predicate: str, **params: Any) -> Any:
    return evaluate("kinship", predicate, "A", params, read=_reader(records), here=HERE, as_of="")


def test_a_brother_s_wife_is_collateral_affinity_of_the_second_degree() -> None:
    answer = _ask(FAMILY, "within_kinship_degree", other="BW", degree=2)
    assert answer.value is True
    assert dict(answer.detail) == {
        "line": "affinity",
        "lineal": False,
        "degree": 2,
        "complete": True,
    }
    beyond = _ask(FAMILY, "within_kinship_degree", other="BW", degree=1)
    assert beyond.value is False and dict(beyond.detail) == {"complete": True}


def test_a_record_kept_elsewhere_makes_the_answer_incomplete_and_is_not_read() -> None:
    elsewhere = {**FAMILY, "A": [*FAMILY["A"][:3], _row("child", "S", held_by="keelung-city")]}
    read = _reader(elsewhere)
    answer = evaluate(
        "kinship", "within_kinship_degree", "A", {"other": "S", "degree": 1},
        read=read, here=HERE, as_of="",
    )  # fmt: skip
    assert answer.value is True and answer.detail["complete"] is False
    assert "S" not in read.asked  # no fetch of another office's record from here


def test_heirs_are_relationships_and_orders_never_names() -> None:
    answer = _ask(FAMILY, "heirs_of")
    assert answer.value is True
    assert answer.detail["heirs"] == [
        {"relationship": "spouse", "order": None},
        {"relationship": "descendant", "order": 1},
    ]
    assert "name" not in repr(answer.detail) and "S" not in repr(answer.detail["heirs"])


def test_without_children_the_parents_order_then_siblings_inherit() -> None:
    childless = {**FAMILY, "A": FAMILY["A"][:3], "W": FAMILY["W"][:2]}
    del childless["S"]
    answer = _ask(childless, "heirs_of")  # father died before: brother B is order 3
    assert [(h["relationship"], h["order"]) for h in answer.detail["heirs"]] == [
        ("spouse", None),
        ("sibling", 3),
    ]


@pytest.mark.parametrize("params", [{"other": "B"}, {"other": "B", "degree": 0}, {"degree": 2}])
def test_a_missing_or_bad_parameter_is_refused(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidPredicateParams):
        _ask(FAMILY, "within_kinship_degree", **params)
