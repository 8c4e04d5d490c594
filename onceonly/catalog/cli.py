"""``onceonly catalog``: validate, load and export the catalog YAML; show an item's evidence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly import migrations
from onceonly.catalog.coverage import coverage as _coverage
from onceonly.catalog.coverage import read_report_tables
from onceonly.catalog.export import export_catalog
from onceonly.catalog.loader import (
    DATA_DIR,
    CatalogError,
    CatalogInvalid,
    catalog_files,
    load_catalog,
    read_catalog,
)
from onceonly.catalog.loader import validate_catalog as _validate
from onceonly.catalog.service import get_application_item, list_services
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.i18n import t

app = typer.Typer(
    help="Catalog: validate, load and export the YAML files; show an item's required evidence.",
    no_args_is_help=True,
)

DirArgument = typer.Argument(None, help="Catalog directory (default: the packaged catalog).")


def _console() -> Console:
    return Console(soft_wrap=True, highlight=False)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _report(errors: list[CatalogError], lang: str) -> None:
    console = _console()
    for error in errors:
        console.print(
            f"{error.file}: {error.path}: {error.reason_zh} / {error.reason}", markup=False
        )
    console.print(t("catalog.cli.invalid", lang, count=len(errors)), style="red", markup=False)


@app.command()
def validate(directory: Path | None = DirArgument) -> None:
    """Check every file of the catalog and print each error; loads nothing."""
    lang = Settings().language
    directory = directory or DATA_DIR
    errors = _validate(directory)
    if errors:
        _report(errors, lang)
        raise typer.Exit(1)
    _console().print(
        t("catalog.cli.valid", lang, files=len(catalog_files(directory))), markup=False
    )


@app.command()
def load(directory: Path | None = DirArgument) -> None:
    """Validate, then replace the catalog in the configured database (migrating it first)."""
    settings = Settings()
    lang = settings.language
    directory = directory or DATA_DIR
    errors = _validate(directory)
    if errors:
        _report(errors, lang)
        raise typer.Exit(1)
    settings.ensure_dirs()
    migrations.upgrade(settings.resolved_database_url)
    try:
        with _session(settings) as session:
            summary = load_catalog(session, directory)
    except CatalogInvalid as exc:
        _report(exc.errors, lang)
        raise typer.Exit(1) from exc
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    _console().print(
        t("catalog.cli.loaded", lang, sha=summary.sha256[:12], counts=counts), markup=False
    )


@app.command()
def export(
    directory: Path = typer.Argument(..., help="Directory to write the YAML files to."),
) -> None:
    """Write the catalog in the database back to YAML files."""
    settings = Settings()
    with _session(settings) as session:
        written = export_catalog(session, directory)
    _console().print(
        t("catalog.cli.exported", settings.language, count=len(written), directory=directory),
        markup=False,
    )


@app.command()
def show(item_code: str = typer.Argument(..., help="Application item code.")) -> None:
    """Show an application item's required evidence and legal basis as a table."""
    settings = Settings()
    lang = settings.language
    with _session(settings) as session:
        item = get_application_item(session, item_code)
    console = _console()
    if item is None:
        console.print(t("catalog.cli.no_item", lang, code=item_code), style="red", markup=False)
        raise typer.Exit(1)
    en = lang == "en"
    title = f"{item.name_en if en else item.name_zh} ({item.code})"
    table = Table(title=title, show_lines=True)
    for key in (
        "catalog.evidence.dataset",
        "catalog.evidence.asks",
        "catalog.evidence.paper",
        "catalog.evidence.legal_basis",
        "catalog.evidence.purpose",
    ):
        table.add_column(t(key, lang), overflow="fold")
    for e in item.required_evidence:
        if e.predicate:
            params = ", ".join(f"{k}={v}" for k, v in e.predicate_params.items())
            asks = f"{t('catalog.evidence.predicate', lang)}: {e.predicate}" + (
                f" ({params})" if params else ""
            )
        else:
            asks = ", ".join(e.fields)
        table.add_row(
            e.dataset_name_en if en else e.dataset_name_zh,
            asks,
            e.paper_name_en if en else e.paper_name_zh,
            e.legal_basis_citation_en if en else e.legal_basis_citation_zh,
            e.purpose_zh,
        )
    console.print(table)
    if item.time_limit_days is not None:
        demo = t("catalog.cli.demo_value", lang) if item.time_limit_demo else ""
        console.print(
            t("catalog.item.time_limit", lang, days=item.time_limit_days)
            + f"{demo}（{item.time_limit_source}）",
            markup=False,
        )
    if item.form:
        console.print(t("catalog.item.form", lang, form=item.form.get("name_zh", "")), markup=False)


@app.command()
def coverage(directory: Path | None = DirArgument) -> None:
    """Per table of the report, how many of the items it lists the catalog covers; exits 1
    and names each missing item when any is."""
    lang = Settings().language
    catalog, errors = read_catalog(directory or DATA_DIR)
    if catalog is None:
        _report(errors, lang)
        raise typer.Exit(1)
    console = _console()
    rows = _coverage(catalog.items.application_items, read_report_tables())
    en = lang == "en"
    for row in rows:
        console.print(
            t(
                "catalog.coverage.table",
                lang,
                table=row.table,
                title=row.title_en if en else row.title_zh,
                covered=row.covered,
                listed=row.listed,
            ),
            markup=False,
        )
        note = row.note_en if en else row.note_zh
        if note:
            console.print("  " + t("catalog.coverage.note", lang, note=note), markup=False)
        for gap in row.gaps:
            console.print(
                "  "
                + t(
                    "catalog.coverage.gap",
                    lang,
                    agency=gap.agency_zh,
                    report=gap.report,
                    item=gap.item,
                    reason=t(f"catalog.coverage.reason.{gap.reason}", lang),
                ),
                style="red",
                markup=False,
            )
    covered = sum(r.covered for r in rows)
    listed = sum(r.listed for r in rows)
    console.print(t("catalog.coverage.total", lang, covered=covered, listed=listed), markup=False)
    if covered != listed:
        raise typer.Exit(1)


@app.command()
def services(
    jurisdiction: str | None = typer.Option(
        None, help="Only the services offered in this city, with its own attributes."
    ),
) -> None:
    """List the Open311 service types (services.yaml) and who handles each."""
    settings = Settings()
    lang = settings.language
    with _session(settings) as session:
        rows = list_services(session, jurisdiction)
    en = lang == "en"
    table = Table(show_lines=False)
    for key in ("code", "name", "agency_kind", "days", "attributes"):
        table.add_column(t(f"catalog.services.{key}", lang), overflow="fold")
    for s in rows:
        table.add_row(
            s.code,
            s.name_en if en else s.name_zh,
            s.agency_kind,
            str(s.expected_days),
            ", ".join(a.code + ("*" if a.required else "") for a in s.attributes),
        )
    _console().print(table)
