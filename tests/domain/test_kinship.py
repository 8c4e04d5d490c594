"""Degrees of kinship (Civil Code art. 967-971) and the order of heirs (art. 1138-1140)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from onceonly.domain.kinship import (
    Family,
    Heir,
    Kin,
    Marriage,
    blood_degree,
    family_from_records,
    heirs_of,
    kinship,
    within_kinship_degree,
)


@st.composite
def families(draw: st.DrawFn) -> Family:
    """A random family: person i's parents are drawn among earlier people, so no one is
    their own ancestor; some people are married to each other, some of them divorced."""
    size = draw(st.integers(min_value=1, max_value=12))
    family = Family()
    for i in range(size):
        family.add(Kin(f"p{i}"))
        if i:
            parents = draw(st.sets(st.integers(0, i - 1), max_size=2))
            for parent in parents:
                family.add_parent(f"p{i}", f"p{parent}")
    pairs = draw(
        st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1), st.booleans()))
    )
    for one, other, divorced in pairs:
        if one != other:
            family.marry(Marriage(f"p{one}", f"p{other}", divorced=divorced))
    return family


def _pick(family: Family, index: int) -> str:
    keys = sorted(family.people)
    return keys[index % len(keys)]


@given(families(), st.integers(0, 50), st.integers(0, 50))
def test_kinship_is_symmetric(family: Family, i: int, j: int) -> None:
    a, b = _pick(family, i), _pick(family, j)
    assert blood_degree(family, a, b) == blood_degree(family, b, a)
    one, other = kinship(family, a, b), kinship(family, b, a)
    assert (one is None) == (other is None)
    if one is not None and other is not None:
        assert (one.line, one.degree, one.lineal) == (other.line, other.degree, other.lineal)


@given(families(), st.integers(0, 50))
def test_a_parent_is_one_degree_and_a_sibling_two(family: Family, i: int) -> None:
    parent = _pick(family, i)
    for child in ("c1", "c2"):
        family.add(Kin(child))
        family.add_parent(child, parent)
    assert blood_degree(family, parent, "c1") == (1, True)
    assert blood_degree(family, "c1", "c2") == (2, False)
    found = within_kinship_degree(family, "c2", "c1", 2)
    assert found is not None and (found.line, found.degree, found.lineal) == ("blood", 2, False)
    assert within_kinship_degree(family, "c2", "c1", 1) is None
    # a grandchild is two degrees, lineal; a nephew three, collateral
    family.add_parent("g", "c1")
    assert blood_degree(family, parent, "g") == (2, True)
    assert blood_degree(family, "c2", "g") == (3, False)


@given(families(), st.integers(0, 50), st.booleans())
def test_in_laws_count_as_the_blood_tie_they_rest_on(
    family: Family, i: int, divorced: bool
) -> None:
    """Spouse's parent 1, sibling's spouse 2, spouse's sibling's spouse 2; none after divorce."""
    someone = _pick(family, i)
    for child in ("me", "sib"):  # fresh children of someone: siblings
        family.add_parent(child, someone)
    family.marry(Marriage("me", "wife", divorced=divorced))
    family.add_parent("wife", "wife-father")
    family.add_parent("wife-sister", "wife-father")
    family.marry(Marriage("wife-sister", "her-husband"))
    family.marry(Marriage("sib", "sib-wife"))

    sib_spouse = kinship(family, "me", "sib-wife")
    assert sib_spouse is not None
    assert (sib_spouse.line, sib_spouse.degree, sib_spouse.lineal) == ("affinity", 2, False)
    if divorced:  # art. 971: the former wife's relatives are no longer 姻親
        assert kinship(family, "me", "wife") is None
        assert kinship(family, "me", "wife-father") is None
        assert kinship(family, "me", "her-husband") is None
        assert within_kinship_degree(family, "wife-father", "me", 5) is None
    else:
        spouse = kinship(family, "me", "wife")
        assert spouse is not None and spouse.line == "spouse"
        father_in_law = kinship(family, "me", "wife-father")
        assert father_in_law is not None
        assert (father_in_law.line, father_in_law.degree) == ("affinity", 1)
        assert father_in_law.lineal
        co_in_law = kinship(family, "me", "her-husband")
        assert co_in_law is not None
        assert (co_in_law.line, co_in_law.degree, co_in_law.lineal) == ("affinity", 2, False)


def test_a_spouses_death_does_not_end_affinity() -> None:
    family = Family()
    family.add(Kin("wife", death=date(2020, 1, 1)))
    family.marry(Marriage("me", "wife", until=date(2020, 1, 1)))
    family.add_parent("wife", "mother-in-law")
    found = kinship(family, "me", "mother-in-law")
    assert found is not None and (found.line, found.degree) == ("affinity", 1)


def _row(relation: str, key: str, **more: object) -> dict[str, object]:
    return {"relation": relation, "national_id": key, "name": key, **more}


def _estate() -> Family:
    """A man who died in 2026 with a wife, a former wife, a child of each, a son who died
    first leaving a grandchild, a living brother and dead parents."""
    return family_from_records(
        [
            [
                _row("self", "D", death_date="2026-01-20"),
                _row("father", "F", death_date="2001-08-09"),
                _row("mother", "M", death_date="2015-11-11"),
                _row("spouse", "W", married_on="1990-05-20", marriage_ended_on="2026-01-20"),
                _row("former_spouse", "X", married_on="1980-03-01", marriage_ended_on="1987-09-30"),
                _row("child", "C1"),
                _row("child", "C2"),
                _row("child", "C3", death_date="2019-02-02"),
            ],
            [_row("self", "C3", death_date="2019-02-02"), _row("child", "GC")],
            [_row("self", "B"), _row("father", "F"), _row("mother", "M")],
        ]
    )


def test_descendants_inherit_with_the_spouse_and_a_dead_child_is_represented() -> None:
    heirs = heirs_of(_estate(), "D")
    assert set(heirs) == {
        Heir("W", "spouse", None),
        Heir("C1", "descendant", 1),
        Heir("C2", "descendant", 1),
        Heir("GC", "descendant", 1),
    }


def test_without_descendants_parents_then_siblings_then_grandparents() -> None:
    family = _estate()
    for child in ("C1", "C2", "C3"):
        family.parents.pop(child)
    heirs = heirs_of(family, "D")  # parents dead: the brother, with the spouse
    assert {(h.key, h.role) for h in heirs} == {("W", "spouse"), ("B", "sibling")}
    family.people["F"] = Kin("F")  # a living father comes before the brother
    assert {(h.key, h.role) for h in heirs_of(family, "D")} == {("W", "spouse"), ("F", "parent")}


def test_a_former_spouse_and_the_living_are_no_heirs() -> None:
    family = _estate()
    assert "X" not in {h.key for h in heirs_of(family, "D")}
    assert heirs_of(family, "W") == []  # nobody inherits from the living


def test_a_records_own_entry_wins_over_a_relatives_mention() -> None:
    family = family_from_records(
        [
            [_row("self", "A"), _row("father", "P", name="Old name")],
            [_row("self", "P", name="Own name", pre1946_register="臺南州戶口調查簿")],
            [
                _row("self", "B"),
                _row("father", "P", name="Third", sex="M", birth_date="1900-01-01"),
            ],
        ]
    )
    assert family.person("P").name == "Own name"
    assert family.person("P").pre1946_register == "臺南州戶口調查簿"
