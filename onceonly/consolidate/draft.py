"""``onceonly consolidate draft FILE...``: profile legacy files and draft a plan to edit.

Each column is profiled (how full, how many distinct values, what its values look like) and
matched to a field of the household-registration standard by its header and its values:
national IDs by their shape, dates by the formats that read them (ROC, ISO, US, day
first), sexes and other short code lists by a value table, names, addresses and districts
by their characters. Every guess is written with its reason as a YAML comment; nothing is
run. The draft maps only what linkage uses plus what it recognised: a plan that only links
need not map the register-only fields (see docs/consolidation.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from onceonly.domain.variants import clean_national_id

_ID = re.compile(r"^[A-Z][0-9A-D][0-9]{8}$")
DATE_FORMATS = ("roc", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y")
"""The formats a draft tries; ``roc`` also reads ISO and compact Gregorian dates."""
_HEADERS: dict[str, tuple[str, ...]] = {
    "national_id": ("身分證", "統一編號", "idno", "id_no", "national", "pid_no", "ssn"),
    "name": ("姓名", "name", "名"),
    "sex": ("性別", "sex", "gender"),
    "birth_date": ("出生", "生日", "birth", "dob"),
    "address": ("地址", "住址", "addr"),
    "district": ("鄉鎮", "區", "town", "district"),
    "village": ("村里", "里", "vill"),
    "moved_in_on": ("遷入", "movein", "moved"),
    "household_id": ("戶號", "hh"),
}
_SEX = {"男": "M", "女": "F", "M": "M", "F": "F", "1": "M", "2": "F", "MALE": "M", "FEMALE": "F"}


@dataclass
class Column:
    """What one legacy column holds."""

    name: str
    rows: int
    filled: int
    distinct: int
    samples: list[str]
    guess: str | None = None
    reason: str = ""
    date_formats: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def fullness(self) -> float:
        return self.filled / self.rows if self.rows else 0.0


class UnreadableSource(ValueError):
    """A file given to ``draft`` that is not a CSV, Excel or SQLite register (its reason is the
    reader's own words, for the operator)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_any(path: Path) -> pl.DataFrame:
    """A legacy file as text columns: CSV, Excel or the first table of a SQLite file; a file
    that reads as none of these raises :class:`UnreadableSource`."""
    import sqlite3

    try:
        return _read_any(path)
    except (pl.exceptions.PolarsError, sqlite3.Error, UnicodeDecodeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnreadableSource(path, reason) from error


def _read_any(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        return pl.read_excel(path).cast(pl.String)
    if suffix in (".sqlite", ".db", ".sqlite3"):
        import sqlite3

        with sqlite3.connect(path) as connection:
            first = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 1"
            ).fetchone()
            if first is None:
                raise UnreadableSource(path, "no table")
            table = first[0]
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return pl.DataFrame(
            [[None if v is None else str(v) for v in row] for row in rows],
            schema=dict.fromkeys(names, pl.String),
            orient="row",
        )
    return pl.read_csv(path, infer_schema=False)


def _share(values: Sequence[str], test: Callable[[str], bool]) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if test(v)) / len(values)


def _date_formats(values: Sequence[str]) -> list[str]:
    """The formats that read at least a tenth of ``values``, the most reading first (each
    format read strictly: no day-month swap here)."""
    from datetime import datetime

    from onceonly.domain.roc_date import parse_roc_date

    def strict(value: str, *, pattern: str) -> bool:
        try:
            if pattern == "roc":
                parse_roc_date(value)
            else:
                datetime.strptime(value.strip(), pattern)
        except ValueError:
            return False
        return True

    shares = {p: _share(values, functools.partial(strict, pattern=p)) for p in DATE_FORMATS}
    return [p for p, s in sorted(shares.items(), key=lambda i: -i[1]) if s >= 0.1]


def profile(frame: pl.DataFrame, sample: int = 2_000) -> list[Column]:
    """Every column of ``frame`` profiled and, where it can be, matched to a field."""
    columns = []
    for name in frame.columns:
        series = frame.get_column(name).cast(pl.String)
        present = series.drop_nulls().filter(series.drop_nulls().str.strip_chars() != "")
        values = present.head(sample).to_list()
        column = Column(
            name=name,
            rows=frame.height,
            filled=present.len(),
            distinct=present.n_unique(),
            samples=present.unique(maintain_order=True).head(3).to_list(),
        )
        _guess(column, values)
        columns.append(column)
    taken: set[str] = set()
    for column in sorted(columns, key=lambda c: -c.fullness):  # one column per field
        if column.guess in taken:
            column.guess, column.reason = None, ""
        elif column.guess:
            taken.add(column.guess)
    return columns


def _header(name: str) -> str | None:
    lowered = name.lower()
    for target, words in _HEADERS.items():
        if any(w in lowered for w in words):
            return target
    return None


def _guess(column: Column, values: list[str]) -> None:
    header = _header(column.name)
    ids = _share(values, lambda v: bool(_ID.match(clean_national_id(v))))
    if ids >= 0.5:
        column.guess, column.reason = "national_id", f"{ids:.0%} look like national IDs"
        return
    formats = _date_formats(values) if values else []
    if formats and header in (None, "birth_date", "moved_in_on"):
        column.guess = header if header in ("birth_date", "moved_in_on") else "birth_date"
        column.date_formats = formats
        column.reason = f"dates in {', '.join(formats)}"
        return
    upper = {v.strip().upper() for v in values}
    if header == "sex" or (0 < len(upper) <= 3 and upper <= set(_SEX)):
        column.guess, column.reason = "sex", f"{len(upper)} codes"
        column.values = {v: _SEX.get(v.upper(), "?") for v in sorted({x.strip() for x in values})}
        return
    if _share(values, lambda v: "號" in v) >= 0.5:
        column.guess, column.reason = "address", "values hold a house number (號)"
        return
    if (
        header == "district"
        or _share(values, lambda v: bool(re.fullmatch(r".{1,3}[區鄉鎮市]", v))) >= 0.8
    ):
        column.guess, column.reason = "district", "names ending in 區鄉鎮市"
        return
    if header not in (None, "name"):
        column.guess, column.reason = header, "header"
    elif (
        header == "name"
        or _share(values, lambda v: bool(re.fullmatch(r"[\u3400-\u9fff]{2,4}", v))) >= 0.8
    ):
        column.guess, column.reason = "name", "name header or 2-4 CJK characters"
    if 0 < column.distinct <= 12 and column.guess not in (None, "name", "address"):
        column.values = {v: v for v in sorted({x.strip() for x in values})}


_NORMALISERS = {
    "national_id": ["national_id"],
    "name": ["name"],
    "birth_date": ["date"],
    "moved_in_on": ["date"],
    "address": ["address"],
    "district": ["district"],
    "village": ["village"],
    "household_id": ["strip"],
}


def _yaml_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def draft_plan(paths: Sequence[Path]) -> str:
    """A plan for ``paths`` (one source each) as commented YAML, for the user to edit."""
    lines = [
        "# Drafted by `onceonly consolidate draft`: check every guess (the comments say why),",
        "# fill in record_id, trust and the values tables, then `onceonly consolidate run`.",
        "# The format is described in docs/consolidation.md.",
        "name: draft",
        "target:",
        "  dataset: household_registration",
        "  jurisdiction: CHANGE-ME",
        "run_dir: run",
        "sources:",
    ]
    for index, path in enumerate(paths):
        frame = read_any(path)
        columns = profile(frame)
        source_id = re.sub(r"[^a-z0-9_-]", "-", path.stem.lower()).strip("-") or f"s{index}"
        key = next((c.name for c in columns if c.distinct == c.rows and c.rows), columns[0].name)
        kind = {".xlsx": "excel", ".xls": "excel", ".sqlite": "sqlite", ".db": "sqlite"}.get(
            path.suffix.lower(), "csv"
        )
        lines += [
            f"  - id: {source_id[:40]}",
            f"    kind: {kind}",
            f"    path: {_yaml_text(str(path))}",
            f"    record_id: {_yaml_text(key)}  # the first column whose values are all distinct",
            "    trust: 1",
            "    fields:",
        ]
        for column in columns:
            profile_note = (
                f"{column.fullness:.0%} filled, {column.distinct} distinct, "
                f"e.g. {', '.join(column.samples)}"
            )
            if column.guess is None:
                lines.append(f"      # {column.name}: not matched ({profile_note})")
                continue
            lines.append(
                f"      # {column.guess} <- {column.name}: {column.reason}; {profile_note}"
            )
            lines.append(f"      {column.guess}:")
            lines.append(f"        column: {_yaml_text(column.name)}")
            normalise = _NORMALISERS.get(column.guess)
            if normalise:
                lines.append(f"        normalise: [{', '.join(normalise)}]")
            if column.date_formats:
                formats = ", ".join(_yaml_text(f) for f in column.date_formats)
                lines.append(f"        date_formats: [{formats}]")
                lines.append("        unreadable: missing  # or quarantine")
            if column.values:
                lines.append("        values:")
                for raw, standard in column.values.items():
                    lines.append(f"          {_yaml_text(raw)}: {_yaml_text(standard)}")
    lines += [
        "linkage:",
        "  entity: person",
        "  threshold: 0.9",
        "  review_band: [0.1, 0.97]",
    ]
    return "\n".join(lines) + "\n"
