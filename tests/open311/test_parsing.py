"""Property tests of the GeoReport parsers: W3C datetimes, comma lists, attribute[...] keys."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.domain.roc_date import TAIWAN
from onceonly.open311.parsing import (
    ParseError,
    collect_attributes,
    format_datetime,
    parse_attribute_key,
    parse_list,
    parse_w3c_datetime,
)
from onceonly.open311.service import MAX_WINDOW

moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 4, max_value=14 * 4).map(
    lambda quarters: timezone(timedelta(minutes=15 * quarters))
)
codes = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)


@given(moments, offsets)
def test_a_datetime_with_any_offset_reads_back_as_the_same_instant(
    moment: datetime, zone: timezone
) -> None:
    moment = moment.replace(microsecond=0)
    text = moment.astimezone(zone).isoformat()
    assert parse_w3c_datetime(text) == moment
    assert parse_w3c_datetime(text.replace("+00:00", "Z")) == moment


@given(moments)
def test_what_we_write_we_read(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    written = format_datetime(moment)
    assert written.endswith("+08:00")
    assert parse_w3c_datetime(written) == moment


@given(st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2090, 1, 1).date()))
def test_a_bare_date_is_taiwan_midnight(day: object) -> None:
    parsed = parse_w3c_datetime(str(day))
    assert parsed.astimezone(TAIWAN).date() == day
    assert parsed.astimezone(TAIWAN).hour == 0


@pytest.mark.parametrize(
    "text",
    ["", "2026-13-01", "2026-02-30", "2026-01-01T10:00:00", "2026-01-01T25:00Z", "yesterday",
     "2026-01-01T10:00:00+24:00", "2026-1-1"],
)  # fmt: skip
def test_malformed_datetimes_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        parse_w3c_datetime(text)


@given(st.text(max_size=60))
def test_datetime_parser_only_raises_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_w3c_datetime(text)


@given(
    st.integers(min_value=0, max_value=9999),
    st.sampled_from(["", "-01", "-01-01", "-12-31", "-01-01T00:00:00+14:00",
                     "-12-31T23:59:59-12:00", "-06-15T12:00Z"]),
)  # fmt: skip
def test_any_year_parses_to_a_moment_the_window_can_move_or_is_refused(
    year: int, rest: str
) -> None:
    """Year 0001 or 9999 near the offset's edge overflowed into a 500 (#21 review)."""
    try:
        moment = parse_w3c_datetime(f"{year:04d}{rest}")
    except ParseError:
        return
    assert moment.tzinfo is not None
    assert moment - MAX_WINDOW < moment + MAX_WINDOW
    format_datetime(moment)


@given(st.lists(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True), max_size=12))
def test_comma_lists_keep_order_and_drop_blanks_and_repeats(items: list[str]) -> None:
    text = " , ".join(items) + ",,"
    assert parse_list(text) == list(dict.fromkeys(items))


@given(codes, st.booleans())
def test_attribute_keys(code: str, multi: bool) -> None:
    key = f"attribute[{code}]" + ("[]" if multi else "")
    assert parse_attribute_key(key) == (code, multi)
    assert parse_attribute_key(key + "x") is None
    assert parse_attribute_key(key.replace("attribute", "attributes")) is None


@given(st.lists(st.tuples(codes, st.text(max_size=10)), max_size=10))
def test_collect_keeps_every_value_in_order(answers: list[tuple[str, str]]) -> None:
    pairs = [(f"attribute[{c}][]", v) for c, v in answers] + [("description", "x")]
    collected = collect_attributes(pairs)
    for code in {c for c, _ in answers}:
        assert collected[code] == [v for c, v in answers if c == code]
    assert "description" not in collected
