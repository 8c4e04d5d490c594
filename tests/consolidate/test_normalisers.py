"""The normalisers are idempotent, reach one canonical form from every spelling legacy
systems used, and round-trip where a round trip exists."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onceonly.consolidate.demo import DemoData
from onceonly.consolidate.normalise import (
    ERRORS,
    FieldNormaliser,
    normalise_date,
    normalise_district,
    normalise_source,
    normalise_village,
)
from onceonly.consolidate.plan import load_plan
from onceonly.consolidate.sources import RECORD_ID, read_source
from onceonly.domain.merger_renames import rename_address, rename_district, rename_table
from onceonly.domain.national_id import make_national_id
from onceonly.domain.roc_date import format_roc_date
from onceonly.domain.variants import (
    clean_national_id,
    fold_variants,
    fold_width,
    has_rare_characters,
    normalise_name,
    variant_table,
)

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
TEXT = st.text(st.one_of(CJK, ASCII, st.sampled_from(" \u3000・．·\ue000台峯")), max_size=20)


def to_full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c for c in text)


@given(TEXT)
def test_width_folding_is_idempotent(text: str) -> None:
    assert fold_width(fold_width(text)) == fold_width(text)


@given(st.text(ASCII, max_size=30))
def test_full_width_ascii_folds_back_exactly(text: str) -> None:
    assert fold_width(to_full_width(text)) == text


@given(TEXT)
def test_variant_folding_is_idempotent_and_leaves_no_variant(text: str) -> None:
    folded = fold_variants(text)
    assert fold_variants(folded) == folded
    assert not set(folded) & set(variant_table())


def test_tai_becomes_the_official_character() -> None:
    assert fold_variants("台南市") == "臺南市"


@given(TEXT)
def test_name_normalising_is_idempotent(text: str) -> None:
    assert normalise_name(normalise_name(text)) == normalise_name(text)


@given(st.text(CJK, min_size=2, max_size=4), st.lists(st.sampled_from([" ", "\u3000", "  "])))
def test_spaces_inside_a_chinese_name_do_not_matter(name: str, gaps: list[str]) -> None:
    spaced = name[0] + "".join(gaps) + name[1:]
    assert normalise_name(spaced) == normalise_name(name) == fold_variants(name)


def test_names_keep_rare_characters_and_unify_dots() -> None:
    assert normalise_name("王\ue000明") == "王\ue000明"
    assert has_rare_characters("王\ue000明")
    assert normalise_name("瓦旦．達利") == normalise_name("瓦旦・達利") == "瓦旦·達利"
    assert normalise_name(" john   smith ") == "JOHN SMITH"


@given(
    st.sampled_from("ABDEFHR"),
    st.sampled_from((1, 2)),
    st.integers(0, 9_999_999),
    st.sampled_from(["lower", "space", "dash", "full", "none"]),
)
def test_national_id_clean_up_recovers_the_id(
    letter: str, sex: int, serial: int, mess: str
) -> None:
    valid = make_national_id(letter, sex, serial)
    messy = {
        "lower": valid.lower(),
        "space": f" {valid[:1]} {valid[1:5]} {valid[5:]} ",
        "dash": f"{valid[:1]}-{valid[1:]}",
        "full": to_full_width(valid),
        "none": valid,
    }[mess]
    assert clean_national_id(messy) == valid
    assert clean_national_id(clean_national_id(messy)) == valid


@given(
    st.dates(date(1912, 1, 1), date(2500, 12, 31)), st.sampled_from(["long", "slash", "compact"])
)
def test_roc_dates_in_every_style_normalise_to_iso(day: date, style: str) -> None:
    assert normalise_date(format_roc_date(day, style)) == day.isoformat()
    assert normalise_date(day.isoformat()) == day.isoformat()
    assert normalise_date(to_full_width(day.strftime("%Y%m%d"))) == day.isoformat()


def test_the_issue_examples() -> None:
    for text in ("民國89年3月5日", "89.3.5", "0890305", "2000-03-05", "２０００/３/５"):
        assert normalise_date(text) == "2000-03-05"


MERGERS = rename_table().mergers


@given(
    st.sampled_from(MERGERS).flatmap(
        lambda m: st.tuples(st.just(m), st.sampled_from(sorted(m.districts)))
    ),
    st.sampled_from(["中興", "福德", "仁愛"]),
    st.integers(1, 30),
    st.sampled_from(["中正路", "中山路", "民生路"]),
    st.integers(1, 999),
    st.booleans(),
    st.booleans(),
)
def test_addresses_before_the_merger_read_as_today(
    pick: tuple,
    village: str,
    neighbourhood: int,
    road: str,
    number: int,  # type: ignore[type-arg]
    tai: bool,
    full: bool,
) -> None:
    merger, district = pick
    city = merger.from_city.replace("臺", "台") if tai else merger.from_city
    house = to_full_width(str(number)) if full else str(number)
    old = f"{city}{district}{village}村{neighbourhood}鄰{road}{house}號"
    new = rename_address(old)
    assert new == (
        f"{merger.to_city}{merger.districts[district]}{village}里{neighbourhood}鄰{road}{number}號"
    )
    assert rename_address(new) == new
    before = rename_address(old, on=date(2009, 1, 1))
    assert before.startswith(merger.from_city + district)


def test_the_issue_rename_example() -> None:
    assert rename_address("臺南縣永康市中興村3鄰中正路12號") == "臺南市永康區中興里3鄰中正路12號"
    assert rename_district("台南縣", "永康市") == ("臺南市", "永康區")
    assert rename_district("臺南市", "東區") == ("臺南市", "東區")
    assert rename_address("桃園縣中壢市中正路1號", on=date(2014, 12, 24)).startswith("桃園縣中壢市")
    assert rename_address("桃園縣中壢市中正路1號", on=date(2014, 12, 25)).startswith("桃園市中壢區")


@given(st.text(CJK, min_size=1, max_size=3), st.sampled_from(["村", "里", ""]))
def test_village_and_district_normalisers_are_idempotent(stem: str, suffix: str) -> None:
    village = normalise_village(stem + suffix)
    assert normalise_village(village) == village
    assert not village.endswith("村")
    district = normalise_district(stem + "鄉")
    assert normalise_district(district) == district


@cache
def _legacy_values(plan_file: Path, source_id: str) -> dict[str, list[str]]:
    """A few real legacy values of every column of one demo source."""
    plan = load_plan(plan_file)
    source = next(s for s in plan.model.sources if s.id == source_id)
    raw = read_source(plan, source).drop(RECORD_ID)
    return {
        c: raw.get_column(c).drop_nulls().unique().sort().head(8).to_list() for c in raw.columns
    }


UNREADABLE = ["0890230", "民國89年2月30日", "abc", "臺南縣永康市", "１２.５", "", " ", "3鄰"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_column_normalised_at_once_equals_value_by_value(
    demo_template: DemoData, data: st.DataObject
) -> None:
    """The batch path (each distinct value once, joined back) gives every row exactly what
    the per-value rule gives, errors included, whatever repeats and blanks the column holds."""
    plan = load_plan(demo_template.plan)
    source = data.draw(st.sampled_from(plan.model.sources))
    legacy = _legacy_values(demo_template.plan, source.id)
    rows = data.draw(st.integers(0, 12))
    frame = pl.DataFrame(
        {
            column: data.draw(
                st.lists(
                    st.one_of(st.none(), st.sampled_from(values + UNREADABLE), TEXT),
                    min_size=rows,
                    max_size=rows,
                )
            )
            for column, values in legacy.items()
        },
        schema={c: pl.String for c in legacy},
    ).with_columns(pl.Series(RECORD_ID, [f"{source.id}:{i}" for i in range(rows)]))
    result = normalise_source(plan, source, frame)

    expected_errors: list[list[dict[str, str]]] = [[] for _ in range(rows)]
    for name, mapping in source.fields.items():
        field = FieldNormaliser.of(plan.field(name), mapping)
        for i, row in enumerate(frame.iter_rows(named=True)):
            if field.constant is not None:
                expected = field.one(field.constant)[0]
            else:
                pieces = [row[c] for c in field.columns if row[c] is not None]
                expected, problem = field.one(field.join.join(pieces)) if pieces else (None, None)
                if problem is not None:
                    raw = field.join.join(pieces)
                    expected_errors[i].append({"field": name, "value": raw, **problem})
            assert result.item(i, name) == expected, (name, row)
    assert result.get_column(ERRORS).to_list() == [
        json.dumps(e, ensure_ascii=False) if e else None for e in expected_errors
    ]
