"""Dates in the formats a plan names for a source (US, day-first, ROC); a day and month
swapped is read as a candidate the comparison scores; unreadable dates may become missing
with their raw value kept. And districts taken out of whole addresses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.consolidate.normalise import (
    UNREAD,
    FieldNormaliser,
    candidates_column,
    date_candidates,
    parse_date,
)
from onceonly.consolidate.plan import FieldMap, TargetField
from onceonly.domain.errors import DomainValueError
from onceonly.domain.roc_date import format_roc_date

DAYS = st.dates(min_value=date(1912, 1, 1), max_value=date(2099, 12, 31))


@given(DAYS)
def test_us_dates_read_as_named(day: date) -> None:
    assert parse_date(day.strftime("%m/%d/%Y"), ["%m/%d/%Y"]) == day


@given(DAYS)
def test_a_source_with_two_formats_reads_both(day: date) -> None:
    formats = ["roc", "%d.%m.%Y"]
    assert parse_date(format_roc_date(day), formats) == day
    assert parse_date(day.strftime("%d.%m.%Y"), formats) == day


@given(DAYS.filter(lambda d: d.day > 12))
def test_day_and_month_swapped_is_read_as_the_swapped_candidate(day: date) -> None:
    us_written_day_first = day.strftime("%d/%m/%Y")  # unreadable as US: month > 12
    assert parse_date(us_written_day_first, ["%m/%d/%Y"]) == day
    roc = f"{day.year - 1911:03d}{day.day:02d}{day.month:02d}"
    assert parse_date(roc, ["roc"]) == day


def _written(day: date, pattern: str, style: int) -> str:
    if pattern != "roc":
        return day.strftime(pattern)
    year = day.year - 1911
    return (
        f"民國{year}年{day.month}月{day.day}日",
        f"{year}.{day.month}.{day.day}",
        f"{year:03d}{day.month:02d}{day.day:02d}",
    )[style]


@given(
    DAYS,
    st.sampled_from(["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%m/%d/%Y", "roc"]),
    st.integers(0, 2),
    st.integers(0, 20),
    st.booleans(),
)
def test_a_digit_lost_or_doubled_reads_or_gives_the_day_as_a_candidate(
    day: date, pattern: str, style: int, at: int, doubled: bool
) -> None:
    text = _written(day, pattern, style)
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    i = digits[at % len(digits)]
    slipped = text[: i + 1] + text[i:] if doubled else text[:i] + text[i + 1 :]
    candidates = date_candidates(slipped, [pattern])
    try:
        parse_date(slipped, [pattern])
    except ValueError:
        assert day in candidates, (text, slipped, candidates)
    else:  # it reads as another day (2000-03-15 -> 2000-03-5): no slip to undo
        assert candidates == []
    assert date_candidates(text, [pattern]) == []


def test_date_candidates_of_the_usual_slips() -> None:
    iso = ["%Y-%m-%d"]
    assert date_candidates("1985-03-112", iso) == [date(1985, 3, 12)]  # a digit doubled
    assert date_candidates("1985-0312", iso) == [date(1985, 3, 12)]  # a separator lost
    assert date(2000, 3, 5) in date_candidates("089035")  # 0890305 lost a digit
    assert date(2000, 3, 5) in date_candidates("民國89年3月日")  # a digit lost
    assert all(1800 <= d.year <= 2199 for d in date_candidates("198-03-12", iso))
    assert date_candidates("no date at all", iso) == []


def test_an_unreadable_date_keeps_its_raw_value_and_gets_candidates() -> None:
    field = _field(date_formats=["%Y-%m-%d"])
    raw = pl.Series("dob", ["1985-03-12", "1985-03-112", None, "unknown"])
    typed, failed = field.column(raw)
    assert typed.to_list() == [date(1985, 3, 12), None, None, None]
    assert json.loads(failed[1])["value"] == "1985-03-112"  # the raw value, for review
    candidates = field.candidates(raw, typed)
    assert candidates.name == candidates_column("birth_date")
    assert candidates.to_list() == [[], [date(1985, 3, 12)], [], []]


def test_unreadable_dates_fail_with_the_reason() -> None:
    with pytest.raises(DomainValueError):
        parse_date("089023", ["roc"])
    with pytest.raises(ValueError):
        parse_date("02/30/2001", ["%m/%d/%Y"])


def _field(**mapping: object) -> FieldNormaliser:
    target = TargetField("birth_date", "date", True, None)
    return FieldNormaliser.of(target, FieldMap(column="dob", normalise=["date"], **mapping))


def test_plan_date_formats_reach_the_normaliser() -> None:
    value, problem = _field(date_formats=["%m/%d/%Y"]).one("03/05/2000")
    assert problem is None and value == date(2000, 3, 5)
    value, problem = _field().one("03/05/2000")  # ROC reading by default: another day
    assert value != date(2000, 3, 5)


def test_unreadable_missing_keeps_the_raw_value_out_of_the_errors() -> None:
    from onceonly.consolidate.normalise import normalise_source
    from onceonly.consolidate.plan import PlanModel

    model = PlanModel.model_validate(
        {
            "name": "dates",
            "target": {"dataset": "household_register", "jurisdiction": "tainan-city"},
            "sources": [
                {
                    "id": "us",
                    "kind": "csv",
                    "path": "x.csv",
                    "record_id": "id",
                    "fields": {
                        "birth_date": {
                            "column": "dob",
                            "normalise": ["date"],
                            "date_formats": ["%m/%d/%Y"],
                            "unreadable": "missing",
                        }
                    },
                }
            ],
        }
    )
    from onceonly.consolidate.plan import Plan

    plan = Plan(model, Path("plan.yaml"), (_field().target,), {})
    frame = pl.DataFrame({"dob": ["03/05/2000", "99/99/2000"], "_record_id": ["us:1", "us:2"]})
    out = normalise_source(plan, model.sources[0], frame)
    assert out["birth_date"].to_list() == [date(2000, 3, 5), None]
    assert out["_errors"].to_list() == [None, None]
    unread = out[UNREAD].to_list()
    assert unread[0] is None and json.loads(unread[1])[0]["value"] == "99/99/2000"


def test_the_district_normaliser_takes_the_district_from_an_address() -> None:
    from onceonly.consolidate.normalise import NormaliseError, normalise_district

    assert normalise_district("臺南縣永康市中正路1號") == "永康區"
    assert normalise_district("台南市 東區 民族路 5號") == "東區"
    assert normalise_district("永康市") == "永康區"
    assert normalise_district("永康區") == "永康區"
    with pytest.raises(NormaliseError):
        normalise_district("臺南市123號")


def test_the_quality_report_words_its_reasons_in_the_readers_language() -> None:
    from onceonly.consolidate.validate import quality_html

    report = {
        "plan": "p",
        "dataset": "household_registration",
        "jurisdiction": "tainan-city",
        "table_schema": {"fields": []},
        "labels": {"birth_date": {"zh-TW": "出生日期", "en": "Date of birth"}},
        "sources": [
            {
                "source": "county",
                "rows": 2,
                "kept": 1,
                "quarantined": 1,
                "fields": {},
                "checks": {"id_checksum": 1},
                "reasons": {"birth_date:not_nullable": 1, "birth_date:roc_date.format": 1},
            }
        ],
    }
    page = quality_html(report, "zh-TW")
    assert "出生日期：必填欄位缺值" in page and "檢查碼不符" in page
    assert "not_nullable" not in page and "id_checksum" not in page and "birth_date" not in page
    english = quality_html(report, "en")
    assert "Date of birth: required value missing" in english and "not_nullable" not in english
