"""``onceonly keys``: the owners' signing keys: list them, rotate one, save the published set."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.exchange.keys import (
    active_key,
    list_keys,
    published_jwks,
    reserved_agency,
    rotate_key,
)
from onceonly.i18n import t

app = typer.Typer(
    help="Signing keys of the owning agencies: list, rotate, save the published JWK Set."
)


@contextmanager
def settings_session(*, writing_keys: bool = False) -> Iterator[tuple[Settings, Session]]:
    """The configured settings and a session on their database, committed on success. Only a
    command that writes a key file makes the data directory's folders: one that reads made an
    empty ``onceonly-data`` wherever it was run."""
    settings = Settings()
    if writing_keys:
        settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield settings, session
    finally:
        engine.dispose()


@app.command()
def rotate(agency: str = typer.Argument(..., help="Agency code, e.g. taipei.household.")) -> None:
    """Give AGENCY a new active key; the old one is retired but stays published."""
    with settings_session(writing_keys=True) as (settings, session):
        lang = settings.language
        _known_agency(session, agency, lang)
        old = active_key(session, settings, agency)
        try:
            new = rotate_key(session, settings, agency)
        except ValueError as error:
            typer.echo(t("keys.cli.bad_agency", lang, agency=agency, error=error), err=True)
            raise typer.Exit(2) from error
    if old is None:
        typer.echo(t("keys.cli.created", lang, agency=agency, kid=new.kid))
    else:
        typer.echo(t("keys.cli.rotated", lang, agency=agency, kid=new.kid, old=old.kid))


def _known_agency(session: Session, agency: str, lang: str) -> None:
    """Refuse an agency the catalog does not list (the platform's own keys aside): rotating
    a mistyped code made a key for nobody, and left the real agency's key, perhaps the one
    that leaked, signing."""
    from onceonly.catalog import service as catalog

    if reserved_agency(agency) or catalog.get_agency(session, agency) is not None:
        return
    said = t("keys.cli.unknown_agency", lang, agency=agency)
    codes = [known.code for known in catalog.list_agencies(session)]
    close = difflib.get_close_matches(agency, codes, n=3, cutoff=0.8)
    if close:
        said += t("keys.cli.meant", lang, codes=", ".join(close))
    typer.echo(said, err=True)
    raise typer.Exit(2)


@app.command("list")
def list_command(
    agency: str | None = typer.Option(None, help="Only this agency's keys."),
) -> None:
    """Every key with its status: active keys sign, retired keys only verify."""
    with settings_session() as (settings, session):
        lang = settings.language
        keys = list_keys(session, settings, agency)
    if not keys:
        typer.echo(t("keys.cli.none", lang))
        return
    table = Table()
    for column in ("agency", "kid", "status", "created", "retired"):
        table.add_column(t(f"keys.col.{column}", lang), no_wrap=column == "kid")
    for key in keys:
        table.add_row(
            key.agency_code,
            key.kid,
            t(f"keys.status.{key.status}", lang),
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.retired_at.strftime("%Y-%m-%d %H:%M") if key.retired_at else "",
        )
    Console().print(table)


@app.command()
def jwks(
    file: Path | None = typer.Argument(None, help="Write here instead of standard output."),
) -> None:
    """The published JWK Set (as /.well-known/jwks.json serves it), for offline verifiers."""
    with settings_session() as (_settings, session):
        document = json.dumps(published_jwks(session), indent=2, ensure_ascii=False)
    if file is None:
        typer.echo(document)
    else:
        file.write_text(document + "\n", encoding="utf-8")
