"""How much of the report's lists of paper-free application items the catalog covers.

The report (表2-3, 表2-6, 表2-7) names the items its cities stopped asking paper for;
``report_tables.yaml`` lists them as printed, each with the catalog item that covers it. An
item counts as covered only when the catalog holds it, says it comes from that table, and
gives what the report's item lists carry: its time limit (處理時限) and form (申請書表).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from onceonly.catalog.schema import ApplicationItemSpec, Code, Text

REPORT_TABLES_FILE = Path(__file__).parent / "report_tables.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListedItem(_Strict):
    report: Text
    """The item's words as the report prints them."""
    item: Code
    """The catalog item covering it."""


class ListingAgency(_Strict):
    agency_zh: Text
    items: list[ListedItem] = Field(min_length=1)


class ReportTable(_Strict):
    table: Text
    title_zh: Text
    title_en: Text
    note_zh: Text | None = None
    """How the report's list was counted, where splitting it on 、 is not enough."""
    note_en: Text | None = None
    agencies: list[ListingAgency] = Field(min_length=1)


class ReportTables(_Strict):
    tables: list[ReportTable] = Field(min_length=1)


def read_report_tables(path: Path = REPORT_TABLES_FILE) -> ReportTables:
    return ReportTables.model_validate(yaml.safe_load(path.read_text("utf-8")))


@dataclass(frozen=True)
class Gap:
    agency_zh: str
    report: str
    item: str
    reason: str
    """``missing``, ``other_table`` (the item does not name this table as its source),
    ``no_time_limit`` or ``no_form``."""


@dataclass
class TableCoverage:
    table: str
    title_zh: str
    title_en: str
    note_zh: str | None = None
    note_en: str | None = None
    listed: int = 0
    covered: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.covered == self.listed


def _gap(table: str, spec: ApplicationItemSpec | None) -> str | None:
    if spec is None:
        return "missing"
    if table not in spec.source:
        return "other_table"
    if spec.time_limit_days is None:
        return "no_time_limit"
    if spec.form is None:
        return "no_form"
    return None


def coverage(items: list[ApplicationItemSpec], tables: ReportTables) -> list[TableCoverage]:
    """Per table of the report: items listed, items covered, and what is missing and why."""
    by_code = {item.code: item for item in items}
    result = []
    for table in tables.tables:
        row = TableCoverage(
            table.table, table.title_zh, table.title_en, table.note_zh, table.note_en
        )
        for agency in table.agencies:
            for listed in agency.items:
                row.listed += 1
                reason = _gap(table.table, by_code.get(listed.item))
                if reason is None:
                    row.covered += 1
                else:
                    row.gaps.append(Gap(agency.agency_zh, listed.report, listed.item, reason))
        result.append(row)
    return result
