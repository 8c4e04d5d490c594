"""``onceonly audit``: verify the hash chain (database or export), export it, show the newest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly.audit.log import AuditEntryView, latest
from onceonly.audit.verify import (
    VerifyResult,
    export_log,
    iter_entries,
    recorded_head,
    verify_chain,
    verify_file,
)
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.i18n import t

app = typer.Typer(help="Audit log: verify the hash chain, export it, show the newest entries.")


@contextmanager
def _database(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _parse_anchor(value: str | None, lang: str) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter(t("audit.cli.bad_anchor", lang), param_hint="--anchor")
    return int(seq), digest.lower()


def _report(result: VerifyResult) -> None:
    if result.ok:
        typer.echo(result.reason_zh)
        typer.echo(result.reason_en)
        return
    typer.echo(f"{t('audit.cli.failed', 'zh-TW')} {t('audit.cli.failed', 'en')}", err=True)
    typer.echo(result.reason_zh, err=True)
    typer.echo(result.reason_en, err=True)
    raise typer.Exit(1)


@app.command()
def verify(
    file: Path | None = typer.Option(
        None,
        "--file",
        help="Verify an export (JSON Lines) instead of the database; no server needed.",
    ),
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:HASH of an entry recorded earlier (e.g. a published head); the log must hold it.",
    ),
) -> None:
    """Check every entry's hash and link; exit 1 naming the first entry altered, removed,
    reordered or inserted."""
    settings = Settings()
    known = _parse_anchor(anchor, settings.language)
    if file is not None:
        if not file.is_file():
            typer.echo(t("audit.cli.no_file", settings.language, path=file), err=True)
            raise typer.Exit(2)
        _report(verify_file(file, known))
        return
    with _database(settings) as session:
        _report(verify_chain(iter_entries(session), known or recorded_head(session)))


@app.command()
def export(file: Path = typer.Argument(..., help="Where to write the JSON Lines export.")) -> None:
    """Write the whole log to FILE (JSON Lines) for auditors to verify elsewhere."""
    settings = Settings()
    with _database(settings) as session:
        count = export_log(session, file)
    typer.echo(t("audit.cli.exported", settings.language, count=count, path=file))


def _what(entry: AuditEntryView) -> str:
    if entry.predicate:
        return entry.predicate
    return ", ".join(entry.fields or [])


@app.command()
def tail(count: int = typer.Option(20, "-n", "--count", min=1, help="How many entries.")) -> None:
    """Show the newest entries (subjects masked)."""
    from onceonly.domain.national_id import mask_national_id

    settings = Settings()
    lang = settings.language
    with _database(settings) as session:
        entries = latest(session, count)
    table = Table(title=t("audit.page.title", lang))
    for key in ("seq", "time", "event", "actor", "agency", "subject", "dataset", "fields"):
        table.add_column(t(f"audit.col.{key}", lang))
    table.add_column(t("audit.col.decision", lang))
    table.add_column(t("audit.col.hash", lang), no_wrap=True)
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.event,
            entry.actor_badge or entry.actor_username,
            entry.actor_agency or "",
            mask_national_id(entry.subject) if entry.subject else "",
            entry.dataset or "",
            _what(entry),
            t(f"audit.decision.{entry.decision}", lang),
            entry.entry_hash[:12],
        )
    Console().print(table)
