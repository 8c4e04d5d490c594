"""Subjects beyond people: every spelling of a parcel, building or house number reaches one
key, the key reads back to the same subject, a pre-merger address is today's, and what
cannot be read is refused naming its field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.domain import subjects
from onceonly.domain.errors import DomainValueError
from onceonly.domain.merger_renames import rename_table

JURISDICTIONS = st.sampled_from(["taipei-city", "new-taipei-city", "taichung-county"])
SECTION_CHARS = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF).filter(
    lambda c: c != "段"
)
SECTION_NAMES = st.text(SECTION_CHARS, min_size=1, max_size=4)
FULL = str.maketrans("0123456789-", "０１２３４５６７８９－")


@given(JURISDICTIONS, SECTION_NAMES, st.integers(1, 9999), st.integers(0, 9999))
def test_a_parcel_reads_to_one_key_and_back(
    jurisdiction: str, name: str, mother: int, child: int
) -> None:
    spellings = [
        (name, f"{mother}-{child}"),
        (name + "段", f"{mother}之{child}"),
        (f" {name}段 ", f"{mother:04d}{child:04d}".translate(FULL)),
    ]
    keys = {subjects.parcel(jurisdiction, s, n).key for s, n in spellings}
    assert len(keys) == 1
    (key,) = keys
    again = subjects.parse_key(key)
    assert again.key == key and again.kind == "parcel"
    assert again.number == f"{mother:04d}-{child:04d}"
    assert again.binds() == {"section": f"{name}段", "number": f"{mother:04d}{child:04d}"}


@given(JURISDICTIONS, st.integers(1, 9999), st.integers(1, 99999), st.integers(0, 999))
def test_a_building_by_section_code_reads_to_one_key_and_back(
    jurisdiction: str, code: int, mother: int, child: int
) -> None:
    one = subjects.building(jurisdiction, str(code), f"{mother}-{child}")
    two = subjects.building(jurisdiction, f"{code:04d}", f"{mother:05d}{child:03d}")
    assert one == two
    assert one.section == f"{code:04d}" and one.number == f"{mother:05d}-{child:03d}"
    assert subjects.parse_key(one.key) == one
    assert subjects.parse_building_no(one.number or "") == one.number  # idempotent


PAIRS = [(m.from_city, m.to_city, old, new) for m in rename_table().mergers
         for old, new in m.districts.items()]  # fmt: skip


@given(
    st.sampled_from(PAIRS),
    st.sampled_from(["中山路", "文化路一段", "民生街"]),
    st.integers(1, 999),
    st.none() | st.integers(1, 99),
)
def test_a_house_number_before_and_after_the_merger_is_one_subject(
    pair: tuple[str, str, str, str], road: str, number: int, lane: int | None
) -> None:
    before_city, city, before_district, district = pair
    rest = f"{road}{f'{lane}巷' if lane else ''}{number}號"
    today = subjects.house_number(f"{city}{district}{rest}")
    written_before = subjects.house_number(f"{before_city}{before_district}{rest}")
    assert today == written_before
    assert today.value == f"{city}{district}{rest}"
    assert today.binds()["former_address"] == f"{before_city}{before_district}{rest}"
    assert subjects.parse_key(today.key) == today


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: subjects.parcel("taipei-city", "北投段", "12-34-56"), "parcel_no"),
        (lambda: subjects.parcel("taipei-city", "北投段", "0-1"), "parcel_no"),
        (lambda: subjects.parcel("taipei-city", "AB段", "1-1"), "section"),
        (lambda: subjects.parcel("taipei-city", "0", "1-1"), "section"),
        (lambda: subjects.parcel("Taipei City", "北投段", "1-1"), "jurisdiction"),
        (lambda: subjects.building("taipei-city", "北投段", "1-1-1"), "building_no"),
        (lambda: subjects.building("taipei-city", "北投段", "00000-001"), "building_no"),
        (lambda: subjects.house_number("新北市板橋區文化路"), "address"),
        (lambda: subjects.house_number("火星市文化路1號"), "address"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(DomainValueError) as refused:
        make()  # type: ignore[operator]
    assert refused.value.field == field
    assert refused.value.message_zh and refused.value.message_en


def test_a_person_key_is_the_national_id_itself() -> None:
    assert subjects.parse_key("A123456789") == subjects.Subject("person", "A123456789")
    assert subjects.shown("A123456789") == "A12345****"
    assert subjects.shown(subjects.parcel("taipei-city", "北投段", "1-1").key) == (
        "北投段 0001-0001 地號"
    )
