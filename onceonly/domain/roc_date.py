"""ROC-era dates (民國紀年): year 1 is 1912, the year before it is 民國前1年 (1911).

Accepted by :func:`parse_roc_date` (after NFKC folding of full-width characters and removal
of all whitespace):

* ``民國89年3月5日``, ``89年3月5日``, ``民國元年1月1日``, ``民國前1年3月5日`` (before 1912);
* ``89/03/05``, ``89/3/5``, ``89.3.5``, ``89-3-5``: a 1-3 digit year is an ROC year;
* ``2000-03-05``, ``2000/03/05``, ``2000.3.5``, ``西元2000年3月5日``, ``20000305``: a 4-digit
  year is Gregorian, so the two families never collide;
* ``0890305``: 7 digits are YYYMMDD (ROC);
* ``890305``: 6 digits are the legacy YYMMDD of systems written before 民國100 (ROC 1-99).
  Six digits are never read as Gregorian YYMMDD: in this domain they are always ROC.

No silent fixing: a month or day out of range and the non-existent year 0 are errors.
"""

from __future__ import annotations

import calendar
import os
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone

from onceonly.domain.errors import DomainValueError

_ROC_OFFSET = 1911
TAIWAN = timezone(timedelta(hours=8), "Asia/Taipei")
"""Taiwan has kept UTC+8 without daylight saving since 1980; the ROC year turns at its midnight."""
_FIELD = "date"
_STYLES = ("long", "slash", "compact")

_LONG = re.compile(r"(?P<era>民國前|民國|西元)?(?P<y>\d{1,4}|元)年(?P<m>\d{1,2})月(?P<d>\d{1,2})日")
_SEPARATED = re.compile(r"(?P<y>\d{1,4})(?P<sep>[/.\-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})")
_COMPACT = re.compile(r"(?P<y>\d{2,4}?)(?P<m>\d{2})(?P<d>\d{2})")


def _error(code: str, zh: str, en: str) -> DomainValueError:
    return DomainValueError(f"roc_date.{code}", zh, en, field=_FIELD)


def _gregorian_year(year_text: str, era: str | None) -> int:
    """Gregorian year from the written one; 4 digits without an era mean Gregorian."""
    year = 1 if year_text == "元" else int(year_text)
    gregorian = era == "西元" or (era is None and len(year_text) == 4)
    if year == 0:
        if gregorian:
            raise _error("year_zero", "西元沒有 0 年", "there is no year 0")
        raise _error(
            "year_zero",
            "民國沒有 0 年：民國1年的前一年是民國前1年",
            "there is no ROC year 0: the year before ROC 1 is 民國前1年 (1911)",
        )
    if gregorian:
        return year
    if era == "民國前":
        if year > _ROC_OFFSET:
            raise _error("year_range", "民國前最多 1911 年", "at most 1911 years before ROC")
        return _ROC_OFFSET + 1 - year
    if len(year_text) == 4:
        raise _error("format", "民國年份最多 3 位數", "an ROC year has at most 3 digits")
    return _ROC_OFFSET + year


def _build(year: int, month: int, day: int) -> date:
    if not 1 <= month <= 12:
        raise _error("month", f"月份應為 1-12，不是 {month}", f"month must be 1-12, got {month}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise _error(
            "day",
            f"西元{year}年{month}月只有 {last} 天，沒有 {day} 日",
            f"month {month} of {year} has {last} days, got day {day}",
        )
    return date(year, month, day)


def parse_roc_date(text: str) -> date:
    """A date from any of the module's accepted forms, or DomainValueError with the reason."""
    cleaned = "".join(unicodedata.normalize("NFKC", text).split())
    if not cleaned:
        raise _error("empty", "請輸入日期", "the date is empty")
    if match := _LONG.fullmatch(cleaned):
        year = _gregorian_year(match["y"], match["era"])
    elif match := _SEPARATED.fullmatch(cleaned):
        year = _gregorian_year(match["y"], None)
    elif cleaned.isascii() and cleaned.isdigit() and len(cleaned) in (6, 7, 8):
        match = _COMPACT.fullmatch(cleaned)
        assert match is not None  # 6-8 digits always split into year, month, day
        year = _gregorian_year(match["y"], None)
    else:
        raise _error(
            "format",
            f"無法辨識的日期格式：{text.strip()}（例：民國89年3月5日、89/03/05、0890305）",
            f"unrecognised date format: {text.strip()} (e.g. 民國89年3月5日, 89/03/05, 0890305)",
        )
    return _build(year, int(match["m"]), int(match["d"]))


def roc_year(d: date) -> int:
    """The ROC year of ``d``: 1 for 1912, and -N for 民國前N年 (there is no year 0)."""
    return d.year - _ROC_OFFSET if d.year > _ROC_OFFSET else d.year - _ROC_OFFSET - 1


def format_roc_date(d: date, style: str = "long") -> str:
    """``d`` as ``"民國89年3月5日"`` (long), ``"89/03/05"`` (slash) or ``"0890305"`` (compact).

    Only ``long`` can write dates before 1912 (``民國前1年…``). ROC years above 999 are
    refused because a 4-digit year would read back as Gregorian.
    """
    if style not in _STYLES:
        raise _error("style", f"不支援的日期格式：{style}", f"unknown date style: {style}")
    year = roc_year(d)
    if year > 999:
        raise _error("year_range", "民國年份最多 999 年", "ROC years above 999 are not supported")
    if style == "long":
        era = "民國" if year > 0 else "民國前"
        return f"{era}{abs(year)}年{d.month}月{d.day}日"
    if year < 1:
        raise _error(
            "before_roc",
            "民國前的日期只能用「民國前N年」格式",
            "dates before 1912 can only be written in the long style (民國前N年)",
        )
    if style == "slash":
        return f"{year:02d}/{d.month:02d}/{d.day:02d}"
    return f"{year:03d}{d.month:02d}{d.day:02d}"


def to_iso(text: str) -> str:
    """``"民國89年3月5日"`` → ``"2000-03-05"``, for storage and APIs."""
    return parse_roc_date(text).isoformat()


TODAY_ENV = "ONCEONLY_TODAY"
"""Pins "today" (an ISO date) for tests and demos whose data is as of a fixed day; never set
it in production, where validity is judged on the real calendar."""


def taiwan_today() -> date:
    """Today's date in Taiwan, which is what a registration office means by "today" (or the
    day ``ONCEONLY_TODAY`` pins)."""
    pinned = os.environ.get(TODAY_ENV)
    if pinned:
        return date.fromisoformat(pinned)
    return datetime.now(TAIWAN).date()
