"""A rule's first and last days are days in Taiwan, as the owner who approved them reads them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from onceonly.policy.service import taipei_day


def test_a_day_is_the_taipei_day() -> None:
    assert taipei_day(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert taipei_day(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)
    assert taipei_day(datetime(2026, 12, 31, 16, 0)) == date(2027, 1, 1)  # naive: UTC
