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

from onceonly.consolidate.normalise import UNREAD, FieldNormaliser, parse_date
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
    assert "birth_date：必填欄位缺值" in page and "檢查碼不符" in page
    assert "not_nullable" not in page and "id_checksum" not in page
    assert "required value missing" in quality_html(report, "en")
