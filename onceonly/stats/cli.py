"""``onceonly stats export DIR``: the aggregates as open data (CSV and a Frictionless data
package descriptor), small cells suppressed, so a city can publish them."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, utcnow
from onceonly.i18n import t
from onceonly.stats import publication
from onceonly.stats import service as stats

app = typer.Typer(help="成效統計 effectiveness statistics: export open data.", no_args_is_help=True)

RESOURCE = "cases-by-week"


def descriptor(rows: int, through: date, settle_days: int) -> dict[str, Any]:
    """The data package descriptor (Frictionless Data Package v1) of the export: the same
    whatever was withheld, so it never tells how many cells were."""
    field_types = {"week": "date", "cases": "integer", "online": "integer", "paper": "integer"}
    descriptions = {
        "way": (
            "workplace (the clerk's agency), registration (the citizen's 戶籍地) or residence"
            " (the city of the mailing address the citizen last reported, 居住地)"
        ),
        "jurisdiction": "catalog jurisdiction code, or unknown",
        "week": "Monday of the week the case was opened, Asia/Taipei",
        "online": (
            "required evidence fetched online by the week's cut-off: paper transcripts avoided"
        ),
        "paper": "required evidence not fetched online by the week's cut-off",
    }
    return {
        "name": "onceonly-effectiveness",
        "title": "免書證免謄本 effectiveness: cases per week, item and agency",
        "description": (
            f"{rows} rows. Cells with fewer than {publication.MIN_CELL} cases are not published,"
            " nor any cell from which one of them could be worked out; which ones or how many is"
            f" never said. Weeks up to {through.isoformat()} (Asia/Taipei) only: whole weeks"
            f" that ended at least {settle_days} days before the export, each counted as it"
            f" stood {settle_days} days after its end (its cut-off), so what happened later"
            " changes no week already published."
        ),
        "licenses": [{"name": "OGL-Taiwan-1.0", "title": "政府資料開放授權條款－第1版"}],
        "resources": [
            {
                "name": RESOURCE,
                "path": f"{RESOURCE}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": [
                        {
                            "name": name,
                            "type": field_types.get(name, "string"),
                            **({"description": descriptions[name]} if name in descriptions else {}),
                            **(
                                {"constraints": {"minimum": 0}}
                                if name in field_types and name != "week"
                                else {}
                            ),
                        }
                        for name in stats.FIELDS
                    ],
                    "primaryKey": ["way", "jurisdiction", "week", "application_item", "agency"],
                },
            }
        ],
    }


@dataclass(frozen=True)
class Exported:
    rows: int
    """Rows written (each published)."""
    period: stats.Filters
    """The weeks written: whole weeks, ending no later than :attr:`through`."""
    through: date
    settle_days: int


def export(
    settings: Settings, directory: Path, filters: stats.Filters, *, now: datetime | None = None
) -> Exported:
    """Write the CSV and ``datapackage.json`` of the period's :func:`publication.public_weeks`,
    as of ``now`` (default: the clock), with the public view's rules: whole weeks (a week
    cut short at a chosen day, beside the whole week published there, gave the days cut off
    away), only weeks ended ``settle_days`` ago, each counted as of its cut-off
    (:func:`publication.publication_cutoff`, so a later export writes the same figures for it),
    small cells withheld and never counted."""
    moment = now or utcnow()
    days = max(0, settings.stats_settle_days)
    period = publication.public_weeks(filters, moment, days)
    through = publication.published_through(moment, days)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            published = publication.public_rows(db, period, days)
    finally:
        engine.dispose()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{RESOURCE}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=stats.FIELDS)
        writer.writeheader()
        writer.writerows(row.as_dict() for row in published)
    (directory / "datapackage.json").write_text(
        json.dumps(descriptor(len(published), through, days), ensure_ascii=False, indent=2) + "\n",
        "utf-8",
    )
    return Exported(len(published), period, through, days)


@app.command("export")
def export_command(
    directory: Path,
    since: Annotated[str, typer.Option(help="first day, YYYY-MM-DD (Taipei)")] = "",
    until: Annotated[
        str,
        typer.Option(
            help="last day, YYYY-MM-DD (Taipei); default and latest: the end of the last week "
            "that ended stats_settle_days ago"
        ),
    ] = "",
    lang: Annotated[str, typer.Option(help="zh-TW or en")] = "zh-TW",
) -> None:
    """Write the aggregates as CSV with a Frictionless data package descriptor."""
    settings = Settings()
    latest = publication.published_through(utcnow(), max(0, settings.stats_settle_days))
    try:
        end = date.fromisoformat(until) if until else latest
        start = date.fromisoformat(since) if since else end - timedelta(days=365)
    except ValueError as error:
        typer.echo(f"--since/--until: {t('stats.error.date', lang)}", err=True)
        raise typer.Exit(2) from error
    for problem in stats.period_errors(start, end, lang):
        typer.echo(f"--{problem.field}: {problem.reason}", err=True)
        raise typer.Exit(2)
    done = export(settings, directory, stats.Filters(start, end))
    typer.echo(t("stats.cli.written", lang, rows=done.rows, path=directory))
    typer.echo(t("stats.public.suppression", lang, minimum=publication.MIN_CELL))
    typer.echo(
        t("stats.public.through", lang, through=done.through.isoformat(), days=done.settle_days)
    )
