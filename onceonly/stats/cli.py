"""``onceonly stats export DIR``: the aggregates as open data (CSV and a Frictionless data
package descriptor), small cells suppressed, so a city can publish them."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from onceonly.accounts.tenancy import NODE_WIDE
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.i18n import t
from onceonly.stats import service as stats

app = typer.Typer(help="成效統計 effectiveness statistics: export open data.", no_args_is_help=True)

RESOURCE = "cases-by-week"


def descriptor(rows: int) -> dict[str, Any]:
    """The data package descriptor (Frictionless Data Package v1) of the export."""
    field_types = {"week": "date", "cases": "integer", "online": "integer", "paper": "integer"}
    descriptions = {
        "way": (
            "workplace (the clerk's agency), registration (the citizen's 戶籍地) or residence"
            " (the city of the mailing address the citizen last reported, 居住地)"
        ),
        "jurisdiction": "catalog jurisdiction code, or unknown",
        "week": "Monday of the week the case was opened, Asia/Taipei",
        "online": "required evidence fetched online: paper transcripts avoided",
        "paper": "required evidence still on paper",
    }
    return {
        "name": "onceonly-effectiveness",
        "title": "免書證免謄本 effectiveness: cases per week, item and agency",
        "description": (
            f"Cells with fewer than {stats.MIN_CELL} cases are left out ({rows} rows published)."
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


def export(settings: Settings, directory: Path, filters: stats.Filters) -> tuple[int, int]:
    """Write the CSV and ``datapackage.json``; returns (rows written, rows withheld). The
    period is widened to whole weeks, as the public view's is: a week cut short at a
    chosen day, beside the whole week published there, gave the days cut off away."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            found = stats.rows(db, stats.whole_weeks(filters), NODE_WIDE)
    finally:
        engine.dispose()
    published = stats.suppressed(found)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{RESOURCE}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=stats.FIELDS)
        writer.writeheader()
        writer.writerows(row.as_dict() for row in published)
    (directory / "datapackage.json").write_text(
        json.dumps(descriptor(len(published)), ensure_ascii=False, indent=2) + "\n", "utf-8"
    )
    return len(published), len(found) - len(published)


@app.command("export")
def export_command(
    directory: Path,
    since: Annotated[str, typer.Option(help="first day, YYYY-MM-DD (Taipei)")] = "",
    until: Annotated[str, typer.Option(help="last day, YYYY-MM-DD (Taipei)")] = "",
    lang: Annotated[str, typer.Option(help="zh-TW or en")] = "zh-TW",
) -> None:
    """Write the aggregates as CSV with a Frictionless data package descriptor."""
    try:
        end = date.fromisoformat(until) if until else date.today()
        start = date.fromisoformat(since) if since else end - timedelta(days=365)
    except ValueError as error:
        typer.echo(f"--since/--until: {t('stats.error.date', lang)}", err=True)
        raise typer.Exit(2) from error
    for problem in stats.period_errors(start, end, lang):
        typer.echo(f"--{problem.field}: {problem.reason}", err=True)
        raise typer.Exit(2)
    written, hidden = export(Settings(), directory, stats.Filters(start, end))
    typer.echo(
        t(
            "stats.cli.written",
            lang,
            rows=written,
            hidden=hidden,
            min=stats.MIN_CELL,
            path=directory,
        )
    )
