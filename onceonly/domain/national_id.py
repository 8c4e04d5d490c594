"""Taiwan national ID numbers (身分證統一編號) and resident certificate numbers (居留證統一證號).

Rules implemented:

* National ID: an area letter, a sex digit (1 male, 2 female), 7 serial digits and a check
  digit. The letter becomes its two-digit area code (A=10 … Z=33, with I=34, O=35, W=32,
  X=30, Y=31); the 11 digits are weighted 1,9,8,7,6,5,4,3,2,1,1 and the sum must be a
  multiple of 10.
* Resident number, old format (until 2020): area letter + A-D (A/C male, B/D female) +
  8 digits. The second letter counts as the last digit of its own area code (A→0, B→1, C→2,
  D→3); otherwise the check is the national ID's.
* Resident number, new format (issued from 2021-01-02): area letter + 8 (male) or 9 (female)
  + 8 digits, checked exactly like a national ID.

Input is normalised before checking: whitespace removed, full-width characters folded to
half-width (NFKC), letters upper-cased.
"""

from __future__ import annotations

import unicodedata

from onceonly.domain.errors import DomainValueError

AREA_CODES: dict[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
"""Area letter → the two-digit code the checksum uses."""

AREA_NAMES: dict[str, str] = {
    "A": "臺北市", "B": "臺中市", "C": "基隆市", "D": "臺南市", "E": "高雄市", "F": "新北市",
    "G": "宜蘭縣", "H": "桃園市", "I": "嘉義市", "J": "新竹縣", "K": "苗栗縣", "L": "臺中縣",
    "M": "南投縣", "N": "彰化縣", "O": "新竹市", "P": "雲林縣", "Q": "嘉義縣", "R": "臺南縣",
    "S": "高雄縣", "T": "屏東縣", "U": "花蓮縣", "V": "臺東縣", "W": "金門縣", "X": "澎湖縣",
    "Y": "陽明山", "Z": "連江縣",
}  # fmt: skip
"""Area letter → where the number was first issued (L, R, S, Y are former areas)."""

_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
_OLD_RESIDENT_LETTERS = "ABCD"
_FIELD = "national_id"
_RESIDENT_FIELD = "resident_id"


def _normalise(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def _digits(value: str) -> list[int]:
    """Area code digits followed by the nine remaining digits (the second may be a letter)."""
    code = AREA_CODES[value[0]]
    second = value[1]
    second_digit = AREA_CODES[second] % 10 if second.isalpha() else int(second)
    return [code // 10, code % 10, second_digit, *(int(c) for c in value[2:])]


def _check_digit(value: str) -> int:
    """The last digit that makes ``value``'s weighted sum a multiple of 10."""
    partial = sum(w * d for w, d in zip(_WEIGHTS[:-1], _digits(value)[:-1], strict=True))
    return -partial % 10


def _error(field: str, code: str, zh: str, en: str) -> DomainValueError:
    return DomainValueError(f"{field}.{code}", zh, en, field=field)


def _check_shape(value: str, field: str, label_zh: str, label_en: str) -> None:
    """Reasons shared by both kinds of number: empty, length, area letter."""
    if not value:
        raise _error(field, "empty", f"請輸入{label_zh}", f"{label_en} is empty")
    if len(value) != 10:
        raise _error(
            field,
            "length",
            f"{label_zh}應為 10 碼，目前為 {len(value)} 碼",
            f"{label_en} must have 10 characters, got {len(value)}",
        )
    if value[0] not in AREA_CODES:
        raise _error(
            field,
            "area_letter",
            "第一碼應為英文字母 A-Z",
            "the first character must be a letter A-Z",
        )


def _check_sum(value: str, field: str) -> None:
    if not value[2:].isdecimal() or not value[2:].isascii():
        raise _error(field, "digits", "第三碼起應全為數字", "characters 3-10 must be digits")
    expected = _check_digit(value)
    if int(value[-1]) != expected:
        raise _error(
            field,
            "checksum",
            f"檢查碼錯誤：最後一碼應為 {expected}",
            f"checksum digit should be {expected}",
        )


def validate_national_id(value: str) -> str:
    """The normalised national ID, or DomainValueError naming the first broken rule."""
    normalised = _normalise(value)
    _check_shape(normalised, _FIELD, "身分證統一編號", "national ID")
    if normalised[1] not in "12":
        raise _error(
            _FIELD,
            "sex_digit",
            "第二碼應為 1（男）或 2（女）",
            "the second character must be 1 (male) or 2 (female)",
        )
    _check_sum(normalised, _FIELD)
    return normalised


def validate_resident_id(value: str) -> str:
    """The normalised resident certificate number, old (A-D) or new (8/9) format."""
    normalised = _normalise(value)
    _check_shape(normalised, _RESIDENT_FIELD, "居留證統一證號", "resident certificate number")
    if normalised[1] not in "89" + _OLD_RESIDENT_LETTERS:
        raise _error(
            _RESIDENT_FIELD,
            "second_char",
            "第二碼應為 8、9（新式）或 A-D（舊式）",
            "the second character must be 8 or 9 (new format) or A-D (old format)",
        )
    _check_sum(normalised, _RESIDENT_FIELD)
    return normalised


def is_valid_national_id(value: str) -> bool:
    try:
        validate_national_id(value)
    except DomainValueError:
        return False
    return True


def is_valid_resident_id(value: str) -> bool:
    try:
        validate_resident_id(value)
    except DomainValueError:
        return False
    return True


def make_national_id(area_letter: str, sex: int, serial: int) -> str:
    """A valid ID: ``area_letter`` + ``sex`` (1/2) + ``serial`` as 7 digits + check digit.

    Deterministic (the demo data generator relies on it); ``serial`` is 0..9_999_999.
    """
    letter = _normalise(area_letter)
    if letter not in AREA_CODES:
        raise _error(_FIELD, "area_letter", "地區碼應為英文字母 A-Z", "area letter must be A-Z")
    if sex not in (1, 2):
        raise _error(_FIELD, "sex_digit", "性別碼應為 1 或 2", "sex must be 1 or 2")
    if not 0 <= serial <= 9_999_999:
        raise _error(_FIELD, "serial", "流水號應介於 0 與 9999999", "serial must be 0..9999999")
    body = f"{letter}{sex}{serial:07d}0"
    return body[:-1] + str(_check_digit(body))


def area_of(national_id: str) -> str:
    """Where a national ID was first issued, e.g. ``"臺北市"`` for A (not where one lives now)."""
    return AREA_NAMES[validate_national_id(national_id)[0]]


def sex_of(national_id: str) -> str:
    """``"M"`` or ``"F"`` from a national ID or either format of resident number."""
    if _normalise(national_id)[1:2] in ("1", "2"):
        return "M" if validate_national_id(national_id)[1] == "1" else "F"
    return "M" if validate_resident_id(national_id)[1] in "8AC" else "F"


def mask_national_id(value: str) -> str:
    """For display: keep the first 6 characters and mask the last 4, ``"A12345****"``.

    Never fails, so a page can always render; anything that is not 10 characters after
    normalising is masked entirely, so a malformed number never leaks either.
    """
    normalised = _normalise(value)
    if len(normalised) != 10:
        return "*" * len(normalised)
    return normalised[:6] + "****"
