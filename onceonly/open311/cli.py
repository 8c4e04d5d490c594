"""``onceonly open311 keys issue|list|revoke``: API keys for Open311 apps, per city."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.errors import Problem
from onceonly.i18n import t
from onceonly.open311 import keys as key_service

app = typer.Typer(help="Open311 GeoReport v2: API keys for apps, per city.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue, list and revoke Open311 API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _console() -> Console:
    """Made per call: a console reads the terminal's width (``COLUMNS``) when it is made."""
    return Console(soft_wrap=True, highlight=False)


@contextmanager
def _session() -> Iterator[tuple[Session, str]]:
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session, settings.language
    finally:
        engine.dispose()


def _refuse(said: str) -> NoReturn:
    """Input the command cannot use: what and why on standard error, exit code 2."""
    typer.echo(said, err=True)
    raise typer.Exit(2)


ISSUE_OPTIONS = {
    "app_name": "--app",
    "contact": "--contact",
    "daily_writes": "--writes",
    "daily_reads": "--reads",
    "issued_by": "--by",
}
"""``issue``'s options by the field of :func:`~onceonly.open311.keys.issue_key` they give:
a refusal names the option the operator typed."""


@keys_app.command("issue")
def issue(
    jurisdiction: str = typer.Option(..., help="The city or county, e.g. taipei-city."),
    app_name: str = typer.Option(..., "--app", help="The app's name, as people know it."),
    contact: str | None = typer.Option(None, help="Who to reach about the app."),
    writes: int = typer.Option(key_service.DEFAULT_DAILY_WRITES, help="New requests per day."),
    reads: int = typer.Option(key_service.DEFAULT_DAILY_READS, help="Reads per day."),
    issued_by: str = typer.Option("cli", "--by", help="Who issues it (kept with the key)."),
) -> None:
    """Issue a key; it is printed once and only its hash is kept."""
    with _session() as (session, lang):
        if catalog.get_jurisdiction(session, jurisdiction) is None:
            cities = ", ".join(
                j.code
                for j in catalog.list_jurisdictions(session)
                if j.merged_into is None and j.kind != "central"
            )
            said = t("open311.cli.unknown_city", lang, option="--jurisdiction", code=jurisdiction,
                     known=cities or "-")  # fmt: skip
            _refuse(said)
        try:
            view, plain = key_service.issue_key(
                session, jurisdiction=jurisdiction, app_name=app_name, issued_by=issued_by,
                contact=contact, daily_writes=writes, daily_reads=reads, lang=lang,
                names=ISSUE_OPTIONS,
            )  # fmt: skip
        except Problem as problem:
            _refuse(problem.detail or problem.title)
        session.commit()
    _console().print(t("open311.cli.issued", lang, id=view.id, app=view.app_name), markup=False)
    _console().print(plain, markup=False)


@keys_app.command("list")
def list_(
    jurisdiction: str | None = typer.Option(None, help="Only this city's keys."),
) -> None:
    """Keys with their quotas and today's use; revoked ones say when."""
    with _session() as (session, lang):
        rows = key_service.list_keys(session, jurisdiction)
    table = Table(
        *(t(f"open311.keys.col.{c}", lang) for c in ("id", "prefix", "app", "city", "quota",
                                                      "today", "issued", "revoked"))
    )  # fmt: skip
    for row in rows:
        table.add_row(
            str(row.id),
            row.prefix,
            row.app_name,
            row.jurisdiction,
            f"{row.daily_writes} / {row.daily_reads}",
            f"{row.writes_today} / {row.reads_today}",
            f"{row.issued_at:%Y-%m-%d} {row.issued_by}",
            f"{row.revoked_at:%Y-%m-%d} {row.revoked_by}" if row.revoked_at else "",
        )
    _console().print(table)


@keys_app.command("revoke")
def revoke(
    key_id: int = typer.Argument(..., help="The key's number (from list)."),
    revoked_by: str = typer.Option("cli", "--by", help="Who revokes it."),
) -> None:
    """Revoke a key: the next call with it is refused (403)."""
    with _session() as (session, lang):
        try:
            view = key_service.revoke_key(session, key_id, revoked_by=revoked_by, lang=lang,
                                          names={"revoked_by": "--by"})  # fmt: skip
        except Problem as problem:  # no such key, or a --by the command cannot use
            _refuse(problem.detail or problem.title)
        session.commit()
    _console().print(t("open311.cli.revoked", lang, id=view.id, app=view.app_name), markup=False)
