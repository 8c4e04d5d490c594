"""An owner's rules for one predicate are read together: a value any current rule allows may
be asked, and the values settled are always one rule's (``predicates.settle_among``).

A newer rule listing only 2019 used to hide an older one allowing the statutory year: the
clerk could no longer ask for 2026 although the owner had approved it."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from onceonly.policy.predicates import Choices, settle, settle_among

YEAR = {"year": "integer"}
STATUTE = {"year": 2026}


def test_one_rule_settles_as_settle_does() -> None:
    for asked in ({}, {"year": 2019}, {"year": 2026}, {"year": 2018}):
        for choices in ({}, {"year": [2019]}, {"year": [2019, 2026]}):
            alone = settle(YEAR, STATUTE, choices, asked, "e", "en")
            index, settled, refused = settle_among(YEAR, STATUTE, [choices], asked, "e", "en")
            assert (settled, refused) == alone
            assert index == (None if alone[1] else 0)


def test_the_statutory_value_is_still_the_older_rules() -> None:
    each: list[Choices] = [{"year": [2019]}, {}]  # newest first
    assert settle_among(YEAR, STATUTE, each, {}, "e") == (1, {"year": 2026}, [])
    assert settle_among(YEAR, STATUTE, each, {"year": 2026}, "e") == (1, {"year": 2026}, [])
    assert settle_among(YEAR, STATUTE, each, {"year": 2019}, "e") == (0, {"year": 2019}, [])


def test_among_rules_alike_the_newest_is_cited() -> None:
    each: list[Choices] = [{"year": [2019, 2026]}, {}]
    assert settle_among(YEAR, STATUTE, each, {"year": 2026}, "e")[0] == 0
    assert settle_among(YEAR, STATUTE, each, {}, "e")[0] == 0


def test_a_value_no_rule_allows_names_what_the_rules_allow_between_them() -> None:
    each: list[Choices] = [{"year": [2019]}, {}]
    index, _, [error] = settle_among(YEAR, STATUTE, each, {"year": 2018}, "evidence[2]", "en")
    assert index is None
    assert (error.field, error.code) == ("evidence[2].params.year", "not_allowed")
    assert error.reason == "The owner's current rules allow only these values - 2019, 2026"
    *_, [error] = settle_among(YEAR, STATUTE, each, {"year": 2018}, "evidence[2]", "zh-TW")
    assert error.reason == "資料所屬機關現行的規則只允許下列值：2019, 2026"


def test_values_two_rules_allow_only_apart_are_refused() -> None:
    """One rule allows 2019 for the first degree, another 2026 for the second: asking 2019
    for the second degree rests on no rule, though each value is some rule's."""
    declared = {"year": "integer", "degree": "integer"}
    each: list[Choices] = [{"year": [2019], "degree": [1]}, {"year": [2026], "degree": [2]}]
    asked = {"year": 2019, "degree": 2}
    index, settled, [error] = settle_among(declared, {}, each, asked, "e", "en")
    assert index is None and settled == {}
    assert error.field == "e.params.year" and "year=2019, degree=2" in error.reason
    assert settle_among(declared, {}, each, {"year": 2026, "degree": 2}, "e")[:2] == (
        1,
        {"year": 2026, "degree": 2},
    )


# --- the invariant, for any rules ----------------------------------------------------------

YEARS = st.integers(2017, 2026)
LISTS = st.one_of(st.none(), st.lists(YEARS, min_size=1, max_size=3))
"""A rule's values for one parameter; ``None``: it lists none (the statutory value only)."""


def _allows(values: list[int] | None, statutory: int | None, value: Any) -> bool:
    return value in values if values is not None else statutory is not None and value == statutory


@given(
    rules=st.lists(LISTS, min_size=1, max_size=4),
    statutory=st.one_of(st.none(), YEARS),
    asked=st.one_of(st.none(), YEARS),
)
def test_a_value_stands_iff_some_rule_allows_it_and_that_rule_is_cited(
    rules: list[list[int] | None], statutory: int | None, asked: int | None
) -> None:
    each: list[Choices] = [{} if values is None else {"year": values} for values in rules]
    fixed = {} if statutory is None else {"year": statutory}
    ask = {} if asked is None else {"year": asked}
    index, settled, refused = settle_among(YEAR, fixed, each, ask, "e")
    if asked is not None:
        assert (index is not None) == any(_allows(v, statutory, asked) for v in rules)
    else:
        assert (index is not None) == any(v is not None or statutory is not None for v in rules)
    if index is None:
        assert refused and settled == {}
        return
    assert not refused
    cited = rules[index]
    assert _allows(cited, statutory, settled["year"])  # the rule cited allows what is asked
    if asked is not None:
        assert settled["year"] == asked
        # the newest rule allowing it
        assert not any(_allows(v, statutory, asked) for v in rules[:index])
    elif statutory is not None and any(_allows(v, statutory, statutory) for v in rules):
        assert settled["year"] == statutory  # a rule listing others does not move the default


@given(
    rules=st.lists(
        st.fixed_dictionaries({"year": LISTS, "degree": st.one_of(st.none(), st.just([1, 2]))}),
        min_size=1,
        max_size=4,
    ),
    asked_year=st.one_of(st.none(), YEARS),
    asked_degree=st.one_of(st.none(), st.integers(1, 3)),
)
def test_the_values_settled_are_all_one_rules(
    rules: list[dict[str, Any]], asked_year: int | None, asked_degree: int | None
) -> None:
    declared = {"year": "integer", "degree": "integer"}
    statutory = {"year": 2026, "degree": 1}
    each: list[Choices] = [{k: v for k, v in rule.items() if v is not None} for rule in rules]
    ask = {k: v for k, v in (("year", asked_year), ("degree", asked_degree)) if v is not None}
    index, settled, refused = settle_among(declared, statutory, each, ask, "e")
    one_allows = [not settle(declared, statutory, c, ask, "e")[1] for c in each]
    assert (index is not None) == any(one_allows)
    if index is not None:
        # asked with exactly the values settled, the cited rule alone allows them all
        assert settle(declared, statutory, each[index], settled, "e") == (settled, [])
        assert all(settled[k] == v for k, v in ask.items())
    else:
        assert refused
