"""``onceonly connector ...``: check an owner's connector file against its real source."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from onceonly.config import Settings
from onceonly.connectors import provider_for, read_connector
from onceonly.connectors.check import DatasetReport, check_connector
from onceonly.i18n import t

app = typer.Typer(
    help="Connectors: check that an owner's connector file answers the common standard.",
    no_args_is_help=True,
)


def _console() -> Console:
    return Console(highlight=False, width=140)


def _table(owner: str, report: DatasetReport, lang: str) -> Table:
    table = Table(
        title=t("connectors.check.title", lang, owner=owner, dataset=report.dataset,
                count=report.subjects),
    )  # fmt: skip
    for key in ("field", "required", "mapped", "completeness", "invalid", "reasons"):
        table.add_column(t(f"connectors.check.{key}", lang))
    for f in report.fields:
        reasons = dict(f.reasons)
        if f.required and not f.mapped:
            reasons[t("connectors.check.not_mapped_required", lang)] = 1
        style = "red" if f.errors else ("dim" if not f.mapped else "")
        table.add_row(
            f.name,
            "✓" if f.required else "",
            "✓" if f.mapped else "—",
            f"{f.completeness:.0%}" if f.mapped else "",
            str(f.invalid) if f.mapped else "",
            ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in reasons.items()),
            style=style,
        )
    return table


def _param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; a number stays a number (the connector checks the declared type)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        said = t("connectors.cli.param_form", Settings().language, text=text)
        raise typer.BadParameter(said, param_hint="--param")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    if value in ("true", "false"):
        return name, value == "true"
    return name, value


@app.command()
def check(
    file: Path = typer.Argument(..., help="The connector file (*.connector.yaml)."),
    subject: list[str] = typer.Option(
        [], "--subject", "-s", help="Check these national IDs instead of the sample query."
    ),
    limit: int = typer.Option(50, min=1, max=10_000, help="Subjects sampled per dataset."),
    on: str = typer.Option("", help="Judge dates against this day (ISO), default today."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="A predicate parameter, NAME=VALUE (e.g. threshold=20379)."
    ),
) -> None:
    """Connect, read a sample, validate it against each dataset's standard and report
    coverage and errors field by field; exit 1 on any error."""
    lang = Settings().language
    console = _console()
    connector, errors = read_connector(file)
    if connector is None:
        for error in errors:
            console.print(f"{error.file}: {error.path}: {error.reason_zh} / {error.reason}",
                          markup=False)  # fmt: skip
        console.print(t("connectors.check.invalid_file", lang, count=len(errors)),
                      style="red", markup=False)  # fmt: skip
        raise typer.Exit(1)
    try:
        today = date.fromisoformat(on) if on else None
    except ValueError:
        said = t("connectors.cli.bad_day", lang, text=on)
        raise typer.BadParameter(said, param_hint="--on") from None
    params = dict(_param(text) for text in param)
    provider = provider_for(connector)
    try:
        reports = check_connector(connector, provider, subject, limit, today, params)
    finally:
        provider.close()
    total = 0
    for report in reports:
        console.print(_table(connector.owner, report, lang))
        for problem in report.problems:
            console.print(f"  ✗ {problem}", style="red", markup=False)
        for name, asked in report.predicates.items():
            if asked is None:
                console.print(t("connectors.check.predicate_skipped", lang, name=name),
                              style="dim", markup=False)  # fmt: skip
            else:
                console.print(t("connectors.check.predicate", lang, name=name, asked=asked[0],
                                yes=asked[1]), markup=False)  # fmt: skip
        for label, count in sorted(report.warnings.items()):
            console.print(f"  ! {label} ×{count}", style="yellow", markup=False)
        total += report.errors
    if total:
        console.print(t("connectors.check.failed", lang, owner=connector.owner, count=total),
                      style="red", markup=False)  # fmt: skip
        raise typer.Exit(1)
    rows = sum(r.rows for r in reports)
    console.print(
        t("connectors.check.ok", lang, owner=connector.owner, datasets=len(reports), rows=rows),
        style="green",
        markup=False,
    )
