"""Properties of the converters a connector names."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from onceonly.connectors import converters as c
from onceonly.domain.land import PING_IN_M2

days = st.dates(min_value=date(1912, 1, 1), max_value=date(2910, 12, 31))


@given(days)
def test_roc_dates_round_trip(day: date) -> None:
    compact = c.to_roc_date(day)
    assert len(compact) == 7 and compact.isdigit()
    assert c.roc_date(compact) == day.isoformat()
    assert c.roc_date(f"民國{day.year - 1911}年{day.month}月{day.day}日") == day.isoformat()
    assert c.roc_year(int(compact[:3])) == day.year


@given(st.text(alphabet="0123456789", min_size=2, max_size=12), st.integers(1, 6))
def test_dashed_keeps_every_digit_and_is_idempotent(digits: str, head: int) -> None:
    dashed = c.dashed(digits, head)
    assert dashed is not None and dashed.replace("-", "", 1) == digits
    assert dashed.index("-") == min(head, len(digits))
    assert c.dashed(dashed, head) == dashed


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_ping_to_m2_is_monotone_and_close(ping: float) -> None:
    m2 = c.ping_to_m2(ping)
    assert m2 is not None and abs(m2 - ping * float(PING_IN_M2)) <= 0.005 + 1e-9 * m2
    assert c.ping_to_m2(ping + 1) >= m2  # type: ignore[operator]


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.text(max_size=5)), st.text(max_size=3))
def test_code_tables_map_known_codes_and_default_the_rest(
    table: dict[str, str], value: str
) -> None:
    assert c.code(value, table, "other") == table.get(value, "other")
    assert c.code(None, table, "other") == "other"


@given(st.lists(st.one_of(st.none(), st.integers(-(10**9), 10**9)), max_size=6))
def test_sum_counts_missing_as_zero(values: list[int | None]) -> None:
    assert c.total(*values) == sum(v or 0 for v in values)


@given(st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=5))
def test_concat_skips_missing_parts(parts: list[str | None]) -> None:
    joined = c.concat(*parts)
    kept = [p for p in parts if p]
    assert joined == ("".join(kept) if kept else None)


@given(
    st.sampled_from(["臺北市", "新北市"]),
    st.sampled_from(["大安區", "板橋區"]),
    st.integers(1, 30),
    st.integers(1, 999),
    st.one_of(st.none(), st.integers(1, 30).map(str)),
)
def test_tw_address_reads_back_with_the_domain_parser(
    county: str, town: str, neighbour: int, number: int, floor: str | None
) -> None:
    from onceonly.domain.address import parse_address

    text = c.tw_address(county, town, "龍門里", neighbour, "復興南路", "二段", None, None,
                        str(number), floor)  # fmt: skip
    parsed = parse_address(text)
    assert (parsed.city, parsed.district) == (county, town)
    assert str(number) in text and (floor is None or f"{floor}樓" in text)
