"""National ID and resident certificate numbers: what a clerk typing them would notice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import (
    AREA_CODES,
    area_of,
    is_valid_national_id,
    is_valid_resident_id,
    make_national_id,
    mask_national_id,
    sex_of,
    validate_national_id,
    validate_resident_id,
)

letters = st.sampled_from(sorted(AREA_CODES))
serials = st.integers(min_value=0, max_value=9_999_999)
sexes = st.sampled_from([1, 2])


def test_known_valid_numbers() -> None:
    assert validate_national_id("A123456789") == "A123456789"
    assert validate_national_id("F131104093") == "F131104093"
    assert validate_resident_id("AC01234567") == "AC01234567"  # old format
    assert validate_resident_id("A800000014") == "A800000014"  # new format (2021+)


def test_checksum_error_names_the_right_digit() -> None:
    with pytest.raises(DomainValueError) as caught:
        validate_national_id("A123456788")
    error = caught.value
    assert error.code == "national_id.checksum"
    assert error.field == "national_id"
    assert error.message_zh == "檢查碼錯誤：最後一碼應為 9"
    assert error.message_en == "checksum digit should be 9"
    assert str(error) == "checksum digit should be 9"
    assert error.message("en") == error.message_en
    assert error.message("zh-TW") == error.message_zh


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "national_id.empty"),
        ("   ", "national_id.empty"),
        ("A12345678", "national_id.length"),
        ("A1234567890", "national_id.length"),
        ("1123456789", "national_id.area_letter"),
        ("A323456789", "national_id.sex_digit"),
        ("A800000014", "national_id.sex_digit"),  # a resident number, not a national ID
        ("A12345678X", "national_id.digits"),
        ("A123456788", "national_id.checksum"),
    ],
)
def test_each_broken_rule_has_its_own_code(value: str, code: str) -> None:
    with pytest.raises(DomainValueError) as caught:
        validate_national_id(value)
    assert caught.value.code == code
    assert caught.value.message_zh and caught.value.message_en
    assert not is_valid_national_id(value)


@pytest.mark.parametrize(
    "value", ["a123456789", "Ａ１２３４５６７８９", " A123 456 789\t", "ａ123456789"]
)
def test_lower_case_full_width_and_spaces_normalise(value: str) -> None:
    assert validate_national_id(value) == "A123456789"


def test_make_national_id_is_deterministic_and_matches_a_known_id() -> None:
    assert make_national_id("A", 1, 2_345_678) == "A123456789"
    assert make_national_id("a", 1, 2_345_678) == "A123456789"
    assert make_national_id("B", 2, 0) == make_national_id("B", 2, 0)


@pytest.mark.parametrize(
    ("letter", "sex", "serial"), [("1", 1, 0), ("A", 3, 0), ("A", 1, -1), ("A", 1, 10_000_000)]
)
def test_make_national_id_refuses_bad_parts(letter: str, sex: int, serial: int) -> None:
    with pytest.raises(DomainValueError):
        make_national_id(letter, sex, serial)


@settings(max_examples=300)
@given(letters, sexes, serials)
def test_made_ids_are_valid_and_carry_their_parts(letter: str, sex: int, serial: int) -> None:
    national_id = make_national_id(letter, sex, serial)
    assert validate_national_id(national_id) == national_id
    assert national_id[:2] == f"{letter}{sex}"
    assert int(national_id[2:9]) == serial
    assert sex_of(national_id) == ("M" if sex == 1 else "F")
    assert mask_national_id(national_id) == national_id[:6] + "****"


@given(letters, sexes, serials, st.sampled_from([2, 6, 8, 9]), st.integers(1, 9))
def test_single_digit_typos_are_caught(
    letter: str, sex: int, serial: int, position: int, delta: int
) -> None:
    """Positions weighted 7, 3, 1, 1 catch every single-digit typo (weights 2-8 even or 5
    miss some, which is a property of the official scheme, not of this code)."""
    national_id = make_national_id(letter, sex, serial)
    typo = str((int(national_id[position]) + delta) % 10)
    mistyped = national_id[:position] + typo + national_id[position + 1 :]
    with pytest.raises(DomainValueError) as caught:
        validate_national_id(mistyped)
    assert caught.value.code == "national_id.checksum"
    if position == 9:  # a typo in the check digit itself: the message gives the right one
        assert caught.value.message_en == f"checksum digit should be {national_id[-1]}"


@given(letters, st.sampled_from("89ABCD"), st.integers(0, 9_999_999))
def test_every_resident_prefix_has_exactly_one_check_digit(
    letter: str, second: str, serial: int
) -> None:
    prefix = f"{letter}{second}{serial:07d}"
    valid = [d for d in "0123456789" if is_valid_resident_id(prefix + d)]
    assert len(valid) == 1


def test_old_resident_numbers_use_the_second_letters_code() -> None:
    # C counts as 2 (C = 12), D as 3: the same digits need a different check digit.
    assert is_valid_resident_id("AC01234567")
    assert not is_valid_resident_id("AD01234567")
    assert is_valid_resident_id("AD01234569")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("A123456789", "resident_id.second_char"),
        ("AE01234567", "resident_id.second_char"),
        ("A80000001", "resident_id.length"),
        ("A800000015", "resident_id.checksum"),
        ("AC0123456X", "resident_id.digits"),
    ],
)
def test_resident_number_errors(value: str, code: str) -> None:
    with pytest.raises(DomainValueError) as caught:
        validate_resident_id(value)
    assert caught.value.code == code
    assert caught.value.field == "resident_id"


def test_area_and_sex() -> None:
    assert area_of("A123456789") == "臺北市"
    assert area_of(make_national_id("I", 1, 1)) == "嘉義市"
    assert area_of(make_national_id("O", 1, 1)) == "新竹市"
    assert area_of(make_national_id("W", 2, 1)) == "金門縣"
    assert area_of(make_national_id("Z", 2, 1)) == "連江縣"
    assert sex_of("A123456789") == "M"
    assert sex_of(make_national_id("A", 2, 1)) == "F"
    assert sex_of("A800000014") == "M"
    assert sex_of("AC01234567") == "M"
    assert sex_of("AD01234569") == "F"
    with pytest.raises(DomainValueError):
        area_of("A123456788")


def test_masking_hides_the_last_four_and_never_fails() -> None:
    assert mask_national_id("A123456789") == "A12345****"
    assert mask_national_id(" ａ１２３４５６７８９ ") == "A12345****"
    assert mask_national_id("A1234") == "*****"
    assert mask_national_id("") == ""
