"""Minimisation never lets a field out that the rule does not allow."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from onceonly.exchange.minimise import minimise

names = st.sampled_from(["name", "address", "birth_date", "sex", "parcels", "income"])
sub_names = st.sampled_from(["section", "parcel_no", "area_m2", "announced_value_per_m2"])
scalars = st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none())
parcel = st.dictionaries(sub_names, scalars, max_size=4)
records = st.dictionaries(names, st.one_of(scalars, st.lists(parcel, max_size=3)), max_size=6)
allowances = st.lists(
    st.one_of(names, st.builds(lambda a, b: f"{a}.{b}", st.just("parcels"), sub_names)),
    max_size=6,
)


def _paths(record: dict[str, Any]) -> set[str]:
    paths = set()
    for key, value in record.items():
        paths.add(key)
        if isinstance(value, list):
            for item in value:
                paths.update(f"{key}.{sub}" for sub in item)
    return paths


@given(records, allowances)
def test_nothing_outside_the_allowance_survives(record: dict[str, Any], allowed: list[str]) -> None:
    result = minimise(record, allowed)
    for key in result:
        assert key in allowed or any(a.startswith(f"{key}.") for a in allowed)
    for path in _paths(result):
        head = path.split(".")[0]
        assert path in allowed or head in allowed or path == head


@given(records)
def test_allowing_every_field_keeps_the_record(record: dict[str, Any]) -> None:
    assert minimise(record, list(record)) == record


@given(records, allowances)
def test_minimising_twice_changes_nothing(record: dict[str, Any], allowed: list[str]) -> None:
    once = minimise(record, allowed)
    assert minimise(once, allowed) == once


def test_sub_fields_of_a_list_are_selected() -> None:
    record = {
        "owner_national_id": "A123456789",
        "parcels": [
            {"section": "大安段", "parcel_no": "0123-0004", "announced_value_per_m2": 500000},
            {"section": "信義段", "parcel_no": "0007-0000", "announced_value_per_m2": 800000},
        ],
    }
    assert minimise(record, ["parcels.section", "parcels.parcel_no"]) == {
        "parcels": [
            {"section": "大安段", "parcel_no": "0123-0004"},
            {"section": "信義段", "parcel_no": "0007-0000"},
        ]
    }
