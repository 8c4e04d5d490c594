"""Land-register readers: every spelling of a 地號, an area or a share reaches one form, the
form reads back to itself, and what cannot be read is refused, not guessed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.domain.errors import DomainValueError
from onceonly.domain.land import (
    PING_IN_M2,
    area_in_m2,
    m2_to_ping,
    parse_parcel_no,
    parse_section,
    parse_share,
    ping_to_m2,
)

MOTHER = st.integers(1, 9999)
CHILD = st.integers(0, 9999)
FULL = str.maketrans("0123456789-/.", "０１２３４５６７８９－／．")
PREFIXES = ("臺南縣", "臺南市", "永康市", "永康區", "新化鎮", "新化區")
SECTION_CHARS = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF).filter(
    lambda c: c != "段"
)


@given(MOTHER, CHILD)
def test_every_spelling_of_a_parcel_number_reads_the_same(mother: int, child: int) -> None:
    canonical = f"{mother:04d}-{child:04d}"
    spellings = [
        f"{mother}-{child}",
        f"{mother}之{child}",
        f"{mother:04d}{child:04d}",
        canonical,
        f"{mother}-{child}".translate(FULL),
        f" {mother} - {child} ",
        f"{mother}-{child}地號",
    ]
    if child == 0:
        spellings.append(str(mother))
    assert {parse_parcel_no(s) for s in spellings} == {canonical}
    assert parse_parcel_no(canonical) == canonical


@pytest.mark.parametrize("text", ["", "段", "12-34-5", "abc", "0-12", "12345-1", "大灣段"])
def test_what_is_not_a_parcel_number_is_refused(text: str) -> None:
    with pytest.raises(DomainValueError) as caught:
        parse_parcel_no(text)
    assert caught.value.code.startswith("parcel_no.")
    assert caught.value.field == "parcel_no"


@given(st.decimals(min_value="0.01", max_value="999999.99", places=2))
def test_ping_to_square_metres_and_back_loses_at_most_the_rounding(ping: object) -> None:
    value = float(ping)  # type: ignore[arg-type]
    m2 = ping_to_m2(value)
    assert abs(m2 - value * float(PING_IN_M2)) <= 0.005 + 1e-9
    assert abs(m2_to_ping(m2) - value) <= 0.01 + 1e-9


@given(st.decimals(min_value="0.01", max_value="999999.99", places=2))
def test_an_area_in_ping_is_the_same_written_with_or_without_its_unit(ping: object) -> None:
    text = f"{ping}"
    expected = ping_to_m2(float(text))
    assert area_in_m2(text, unit="坪") == expected
    assert area_in_m2(text + "坪") == expected
    assert area_in_m2(text.translate(FULL) + " 坪") == expected
    assert area_in_m2(f"{float(text) * float(PING_IN_M2):.4f}㎡", unit="坪") == pytest.approx(
        expected, abs=0.011
    )


@given(st.decimals(min_value="0.01", max_value="99999999.99", places=2))
def test_square_metres_read_back_to_themselves(m2: object) -> None:
    value = area_in_m2(str(m2))
    assert value == float(m2)  # type: ignore[arg-type]
    assert area_in_m2(repr(value)) == value
    assert area_in_m2(f"{value:,.2f} 平方公尺") == value


def test_hectares_and_refusals() -> None:
    assert area_in_m2("1.5公頃") == 15_000.0
    assert area_in_m2("1", unit="坪") == 3.31
    for text in ("", "坪", "12 acres", "1.2.3", "-"):
        with pytest.raises(DomainValueError) as caught:
            area_in_m2(text)
        assert caught.value.code == "area.format"


@given(
    st.text(SECTION_CHARS, min_size=1, max_size=4),
    st.lists(st.sampled_from(PREFIXES), max_size=2),
    st.booleans(),
)
def test_a_section_reads_the_same_with_any_place_written_before_it(
    stem: str, prefixes: list[str], suffix: bool
) -> None:
    canonical = parse_section(stem, PREFIXES)
    written = "".join(prefixes) + stem + ("段" if suffix else "")
    assert parse_section(written, PREFIXES) == canonical
    assert parse_section(canonical, PREFIXES) == canonical
    assert canonical.endswith("段")


def test_section_variants_and_refusals() -> None:
    assert parse_section("台南縣 永康市 頂台", PREFIXES) == "頂臺段"
    assert parse_section("永康市段", PREFIXES) == "永康市段"  # a name, not a prefix alone
    for text in ("", "段", "0123-0004", "12段"):
        with pytest.raises(DomainValueError) as caught:
            parse_section(text, PREFIXES)
        assert caught.value.code == "section.format"


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_shares_read_as_numerator_and_denominator(a: int, b: int) -> None:
    numerator, denominator = min(a, b), max(a, b)
    assert parse_share(f"{numerator}/{denominator}") == (numerator, denominator)
    assert parse_share(f"{denominator}分之{numerator}") == (numerator, denominator)
    assert parse_share(f"{numerator}/{denominator}".translate(FULL)) == (numerator, denominator)


def test_whole_shares_and_refusals() -> None:
    assert parse_share("全部") == parse_share("1/1") == (1, 1)
    for text in ("3/2", "0/5", "1/0", "half", ""):
        with pytest.raises(DomainValueError):
            parse_share(text)
