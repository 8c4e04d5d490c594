"""ROC-era dates: every accepted spelling, precise errors, and lossless round trips."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.domain.errors import DomainValueError
from onceonly.domain.roc_date import format_roc_date, parse_roc_date, roc_year, to_iso

FULL_WIDTH = str.maketrans("0123456789/.-", "０１２３４５６７８９／．－")
roc_dates = st.dates(min_value=date(1912, 1, 1), max_value=date(2111, 12, 31))
styles = st.sampled_from(["long", "slash", "compact"])


@pytest.mark.parametrize(
    "text",
    [
        "民國89年3月5日",
        "89年3月5日",
        "民國089年03月05日",
        "89/03/05",
        "89/3/5",
        "89.3.5",
        "89-3-5",
        "0890305",
        "890305",
        "2000-03-05",
        "2000/03/05",
        "20000305",
        "西元2000年3月5日",
        "８９／０３／０５",
        "  民國 89 年 3 月 5 日\n",
    ],
)
def test_every_accepted_spelling_of_the_same_day(text: str) -> None:
    assert parse_roc_date(text) == date(2000, 3, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("民國元年1月1日", date(1912, 1, 1)),
        ("1/1/1", date(1912, 1, 1)),
        ("民國前1年12月31日", date(1911, 12, 31)),
        ("民國前1911年1月1日", date(1, 1, 1)),
        ("100/01/01", date(2011, 1, 1)),  # 民國百年: three-digit years
        ("1000101", date(2011, 1, 1)),
        ("89/02/29", date(2000, 2, 29)),  # 2000 was a leap year
    ],
)
def test_edges_of_the_era(text: str, expected: date) -> None:
    assert parse_roc_date(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "roc_date.empty"),
        ("   ", "roc_date.empty"),
        ("yesterday", "roc_date.format"),
        ("89/3-5", "roc_date.format"),  # mixed separators
        ("8935", "roc_date.format"),
        ("民國2000年1月1日", "roc_date.format"),  # ROC years have at most 3 digits
        ("89/13/01", "roc_date.month"),
        ("89/00/01", "roc_date.month"),
        ("90/02/29", "roc_date.day"),  # 2001 was not a leap year
        ("89/04/31", "roc_date.day"),
        ("0/1/1", "roc_date.year_zero"),
        ("民國0年1月1日", "roc_date.year_zero"),
        ("0000-01-01", "roc_date.year_zero"),
        ("民國前1912年1月1日", "roc_date.year_range"),
    ],
)
def test_errors_say_what_is_wrong(text: str, code: str) -> None:
    with pytest.raises(DomainValueError) as caught:
        parse_roc_date(text)
    assert caught.value.code == code
    assert caught.value.field == "date"


def test_day_error_tells_how_many_days_the_month_has() -> None:
    with pytest.raises(DomainValueError) as caught:
        parse_roc_date("90/02/29")
    assert "28" in caught.value.message_zh
    assert "28 days" in caught.value.message_en


def test_formats() -> None:
    day = date(2000, 3, 5)
    assert format_roc_date(day) == "民國89年3月5日"
    assert format_roc_date(day, "slash") == "89/03/05"
    assert format_roc_date(day, "compact") == "0890305"
    assert format_roc_date(date(2011, 1, 1), "slash") == "100/01/01"
    assert format_roc_date(date(1911, 12, 31)) == "民國前1年12月31日"


@pytest.mark.parametrize("style", ["slash", "compact"])
def test_short_styles_refuse_dates_before_the_era(style: str) -> None:
    with pytest.raises(DomainValueError) as caught:
        format_roc_date(date(1911, 12, 31), style)
    assert caught.value.code == "roc_date.before_roc"


def test_unknown_style_and_far_future_are_refused() -> None:
    with pytest.raises(DomainValueError):
        format_roc_date(date(2000, 1, 1), "iso")
    with pytest.raises(DomainValueError):
        format_roc_date(date(2911, 1, 1))  # ROC 1000 would read back as a Gregorian year


@given(roc_dates, styles)
def test_round_trip_every_style(day: date, style: str) -> None:
    assert parse_roc_date(format_roc_date(day, style)) == day


@given(roc_dates, styles)
def test_full_width_input_reads_the_same(day: date, style: str) -> None:
    text = format_roc_date(day, style)
    assert parse_roc_date(text.translate(FULL_WIDTH)) == day


@given(st.dates(max_value=date(1911, 12, 31)))
def test_long_style_round_trips_before_the_era(day: date) -> None:
    text = format_roc_date(day)
    assert text.startswith("民國前")
    assert parse_roc_date(text) == day


@given(st.integers(min_value=1, max_value=2909))
def test_roc_year_counts_up_and_skips_zero(year: int) -> None:
    this, following = roc_year(date(year, 1, 1)), roc_year(date(year + 1, 1, 1))
    assert this != 0
    assert following - this == (2 if year == 1911 else 1)  # 民國前1年 → 民國1年


@given(st.dates(max_value=date(2910, 12, 31)))
def test_roc_year_agrees_with_the_long_form(day: date) -> None:
    year = roc_year(day)
    era = "民國前" if year < 0 else "民國"
    assert format_roc_date(day).startswith(f"{era}{abs(year)}年")


def test_iso_dates_pass_through_and_to_iso() -> None:
    assert to_iso("民國89年3月5日") == "2000-03-05"
    assert to_iso("2000-03-05") == "2000-03-05"
    assert roc_year(date(1912, 1, 1)) == 1
    assert roc_year(date(1911, 12, 31)) == -1


def test_today_is_pinned_for_tests_and_validity_predicates_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The suite pins "today" (tests/conftest.py) so predicates over the demo's registries
    answer the same next year; a connector's ``default: today`` must honour the pin."""
    from onceonly.connectors.engine import _param_value
    from onceonly.connectors.spec import ParamSpec
    from onceonly.domain.roc_date import TODAY_ENV, taiwan_today

    monkeypatch.setenv(TODAY_ENV, "2031-02-03")
    assert taiwan_today() == date(2031, 2, 3)
    on = ParamSpec(type="date", required=False, default="today", bind=[])
    assert _param_value("on", on, None) == date(2031, 2, 3)
    assert _param_value("on", on, "2020-01-01") == date(2020, 1, 1)
