"""What the demo's household and land generators share: the former county's townships and
the former city's districts, the faults legacy systems put into values (dates in each
system's spellings, a wrong digit in an ID, IDs typed messily) and writing a legacy table
as CSV or SQLite."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from random import Random

COUNTY_DISTRICTS = (
    "永康市", "新營市", "新化鎮", "善化鎮", "佳里鎮", "麻豆鎮", "歸仁鄉", "仁德鄉",
    "關廟鄉", "安定鄉", "西港鄉", "學甲鎮", "鹽水鎮", "白河鎮", "新市鄉", "官田鄉",
)  # fmt: skip
"""Townships of former 臺南縣 as its systems wrote them (before they became 區)."""
CITY_DISTRICTS = ("東區", "南區", "北區", "安南區", "安平區", "中西區")
"""Districts of former 臺南市 (provincial city)."""
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        out.writerows(rows)


def write_sqlite_table(
    path: Path,
    table: str,
    columns: Sequence[str],
    types: Mapping[str, str],
    rows: Sequence[Sequence[object]],
) -> None:
    """A new SQLite file holding one table (columns are TEXT unless ``types`` says)."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        declared = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in columns)
        connection.execute(f"CREATE TABLE {table} ({declared})")
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        connection.commit()
    finally:
        connection.close()


def roc_text(day: date, rng: Random) -> str:
    year = day.year - 1911
    style = rng.random()
    if style < 0.4:
        return f"民國{year}年{day.month}月{day.day}日"
    if style < 0.7:
        return f"{year}.{day.month}.{day.day}"
    return f"{year:03d}{day.month:02d}{day.day:02d}"


def iso_text(day: date, rng: Random) -> str:
    style = rng.random()
    if style < 0.5:
        return day.isoformat()
    if style < 0.8:
        return day.strftime("%Y%m%d")
    return f"{day.year}/{day.month}/{day.day}"


def id_typo(value: str, rng: Random) -> str:
    i = 2 + int(rng.random() * 8)
    digit = (int(value[i]) + 1 + int(rng.random() * 8)) % 10
    return value[:i] + str(digit) + value[i + 1 :]


def messy_id(value: str, rng: Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return value.lower()
    if roll < 0.10:
        return f"{value[:1]} {value[1:]}"
    if roll < 0.14:
        return value.translate(FULL_WIDTH_DIGITS)
    return value


class LegacyWriter:
    """Collects the rows of a merged municipality's two legacy tables (former county and
    former city) and the ground truth, injecting a fault with probability ``fault_rate``
    times the weight asked for."""

    def __init__(self, rng: Random, fault_rate: float) -> None:
        self.rng = rng
        self.rate = fault_rate
        self.county: list[tuple[object, ...]] = []
        self.city: list[tuple[object, ...]] = []
        self.truth: list[tuple[str, int]] = []

    def fault(self, weight: float = 1.0) -> bool:
        return self.rng.random() < self.rate * weight
