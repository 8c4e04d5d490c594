"""Reading a legacy source into a table of text: CSV, Excel, SQLite or any SQLAlchemy URL.

Every value is read as text (or null), whatever the source's own types: a legacy system's
``0890305`` must not become the integer 890305 before the date normaliser sees it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import create_engine, text

from onceonly.consolidate.plan import Plan, SourceSpec

RECORD_ID = "_record_id"
"""Column holding ``<source id>:<legacy record id>``, unique across sources and runs."""


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    result = str(value)
    return result if result.strip() else None


def _frame(columns: list[str], rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    data = {c: [_as_text(r[i]) for r in rows] for i, c in enumerate(columns)}
    return pl.DataFrame(data, schema={c: pl.String for c in columns})


def _read_csv(path: Path, encoding: str) -> pl.DataFrame:
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = [tuple(r) for r in reader]
    return _frame(header, rows)


def _read_excel(path: Path, sheet: str | None) -> pl.DataFrame:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = book[sheet] if sheet else book.worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        return pl.DataFrame()
    header = [str(c) for c in rows[0]]
    return _frame(header, [tuple(r) for r in rows[1:]])


def _read_sql(url: str, table: str | None, query: str | None) -> pl.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execute(text(query or f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            rows = [tuple(r) for r in result]
    finally:
        engine.dispose()
    return _frame(columns, rows)


def read_source(plan: Plan, source: SourceSpec) -> pl.DataFrame:
    """The source's rows as text columns plus :data:`RECORD_ID` (``<id>:<record id>``)."""
    if source.kind == "csv":
        frame = _read_csv(plan.resolve(source.path or ""), source.encoding)
    elif source.kind == "excel":
        frame = _read_excel(plan.resolve(source.path or ""), source.sheet)
    elif source.kind == "sqlite":
        url = f"sqlite:///{plan.resolve(source.path or '')}"
        frame = _read_sql(url, source.table, source.query)
    else:
        frame = _read_sql(source.url or "", source.table, source.query)
    if source.record_id not in frame.columns:
        raise KeyError(f"{source.id}: no column {source.record_id!r} (record_id)")
    return frame.with_columns(
        (pl.lit(f"{source.id}:") + pl.col(source.record_id).fill_null("?")).alias(RECORD_ID)
    )
