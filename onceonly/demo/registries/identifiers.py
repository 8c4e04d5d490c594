"""Registry numbers of the demo data, unique by construction and valid by each format's rule.

Every function maps a sequence number (unique within its register) through a fixed affine
permutation, so numbers look scattered, never collide, and depend on the seed.
"""

from __future__ import annotations

from onceonly.domain.national_id import AREA_CODES

_TEN_MILLION = 10_000_000
_BUSINESS_WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)


def _scatter(seq: int, modulus: int, multiplier: int, seed: int) -> int:
    """A permutation of ``range(modulus)``: ``multiplier`` is coprime with ``modulus``."""
    return (seq * multiplier + seed * 7_777) % modulus


def person_serial(seq: int, seed: int) -> int:
    """The 7-digit serial of the ``seq``-th person's national ID (unique for < 10 million)."""
    if seq >= _TEN_MILLION:
        raise OverflowError("the demo generator makes at most 9,999,999 people")
    return _scatter(seq, _TEN_MILLION, 7_654_321, seed)


def _weighted_digits(value: int, width: int, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(f"{value:0{width}d}", weights, strict=True))


_LETTER_SUM = {letter: code // 10 + code % 10 * 9 for letter, code in AREA_CODES.items()}
_HIGH_SUM = [_weighted_digits(v, 4, (7, 6, 5, 4)) for v in range(10_000)]
_LOW_SUM = [_weighted_digits(v, 3, (3, 2, 1)) for v in range(1_000)]


def national_id(letter: str, sex: int, serial: int) -> str:
    """The same ID as :func:`onceonly.domain.national_id.make_national_id` (a test holds them
    equal), from lookup tables: the generator makes millions and the general function, which
    validates its input, would be a quarter of the whole run."""
    high, low = divmod(serial, 1_000)
    total = _LETTER_SUM[letter] + 8 * sex + _HIGH_SUM[high] + _LOW_SUM[low]
    return f"{letter}{sex}{serial:07d}{-total % 10}"


def household_no(letter: str, seq: int, seed: int) -> str:
    """戶號: the area letter and 7 digits, e.g. ``A1234567``."""
    return f"{letter}{_scatter(seq, _TEN_MILLION, 3_021_377, seed):07d}"


def parcel_no(seq: int) -> str:
    """地號 ``母號-子號``, e.g. ``0123-0004``; unique for each ``seq`` < 99,990,000."""
    child, mother = divmod(seq, 9_999)
    return f"{mother * 7_919 % 9_999 + 1:04d}-{child:04d}"


def building_no(seq: int) -> str:
    """建號 ``5 digits-3 digits``, e.g. ``01234-000``."""
    child, mother = divmod(seq, 99_999)
    return f"{mother * 7_919 % 99_999 + 1:05d}-{child:03d}"


def business_checksum_ok(ban: str) -> bool:
    """The 統一編號 rule: each digit times 1,2,1,2,1,2,4,1, the digits of each product
    summed; the total must be divisible by 10 (or total + 1 when the 7th digit is 7).

    Since 2023 the Ministry of Finance accepts divisibility by 5 as well; numbers made here
    pass the older, stricter rule, so any checker accepts them.
    """
    if len(ban) != 8 or not ban.isdigit():
        return False
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(ban, _BUSINESS_WEIGHTS, strict=True))
    return total % 10 == 0 or (ban[6] == "7" and (total + 1) % 10 == 0)


def business_id(seq: int, seed: int) -> str:
    """統一編號: 7 scattered digits and the check digit that satisfies the rule."""
    body = f"{_scatter(seq, _TEN_MILLION, 3_141_593, seed):07d}"
    partial = sum(
        sum(divmod(int(d) * w, 10)) for d, w in zip(body, _BUSINESS_WEIGHTS[:7], strict=True)
    )
    return body + str(-partial % 10)


def factory_no(prefix: str, seq: int) -> str:
    """工廠登記編號: the jurisdiction's two digits and six more, e.g. ``63001234``."""
    if seq >= 1_000_000:
        raise OverflowError("factory numbers of one jurisdiction are exhausted")
    return f"{prefix}{seq:06d}"


def veteran_card_no(seq: int, seed: int) -> str:
    """榮民證 number, 7 digits."""
    return f"{_scatter(seq, _TEN_MILLION, 2_718_281, seed):07d}"
