"""Parsers for what a GeoReport v2 caller sends: W3C datetimes, comma lists, ``attribute[...]``
form keys. Pure functions (property-tested), so the routes and the hotline share them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from onceonly.domain.roc_date import TAIWAN

_W3C = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2}))?)?)?"
)
_ATTRIBUTE = re.compile(r"attribute\[(?P<code>[^\[\]]+)\](?P<multi>\[\])?")
MAX_IDS = 100
"""At most this many ids in one ``service_request_id`` list."""
YEARS = range(1900, 9999)
"""Years a GeoReport datetime may name: far enough from ``datetime``'s limits that moving it to
UTC or by the 90-day window never overflows (year 0001 was a 500, #21 review)."""
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot carry even escaped: one of them in a stored description made
every ``.xml`` listing of the city unreadable to every app (#21 review)."""


class ParseError(ValueError):
    """The value does not have the expected form; ``key`` names the message."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_w3c_datetime(value: str) -> datetime:
    """A W3C datetime (https://www.w3.org/TR/NOTE-datetime), as GeoReport's ``start_date``
    takes, as an aware UTC datetime. A time needs its offset (``Z`` or ``+08:00``); a bare
    year, month or day is its first moment in Taiwan time."""
    match = _W3C.fullmatch(value.strip())
    if match is None:
        raise ParseError("open311.error.datetime")
    g = match.groupdict()
    if int(g["y"]) not in YEARS:
        raise ParseError("open311.error.datetime_year")
    try:
        if g["h"] is None:
            day = datetime(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1), tzinfo=TAIWAN)
            return day.astimezone(UTC)
        sign = -1 if g["tz"].startswith("-") else 1
        if g["tz"] == "Z":
            zone = UTC
        else:
            hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
            if hours > 23 or minutes > 59:
                raise ParseError("open311.error.datetime")
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = datetime(
            int(g["y"]),
            int(g["mo"]),
            int(g["d"]),
            int(g["h"]),
            int(g["mi"]),
            int(g["s"] or 0),
            int((g["f"] or "0").ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError as exc:  # month 13, hour 25...
        raise ParseError("open311.error.datetime") from exc
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """ISO 8601 with the Taiwan offset, to the second (``2026-12-05T09:30:00+08:00``)."""
    return moment.astimezone(TAIWAN).replace(microsecond=0).isoformat()


def parse_list(value: str) -> list[str]:
    """A comma-separated list: items trimmed, empty ones dropped, repeats kept once."""
    seen: dict[str, None] = {}
    for part in value.split(","):
        item = part.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def parse_attribute_key(key: str) -> tuple[str, bool] | None:
    """``attribute[code]`` -> (code, False); ``attribute[code][]`` -> (code, True); any other
    form field -> ``None``."""
    match = _ATTRIBUTE.fullmatch(key)
    if match is None:
        return None
    return match["code"], match["multi"] is not None


def collect_attributes(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The answers in a form's (key, value) pairs, by attribute code, in the order sent:
    ``attribute[lane][]=fast&attribute[lane][]=slow`` -> ``{"lane": ["fast", "slow"]}``."""
    answers: dict[str, list[str]] = {}
    for key, value in items:
        parsed = parse_attribute_key(key)
        if parsed is not None:
            answers.setdefault(parsed[0], []).append(value)
    return answers
