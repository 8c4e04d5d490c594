"""``onceonly cases``: send failed citizen messages again, read the SMS outbox."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from onceonly.cases import notifications
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.i18n import t

app = typer.Typer(
    help="Cases: retry failed citizen e-mails and text messages, read the SMS outbox.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)


@app.command("retry-notifications")
def retry_notifications() -> None:
    """Send every failed (or abandoned) message to citizens again; run it from cron."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        report = notifications.retry_failed_notifications(make_session_factory(engine), settings)
    finally:
        engine.dispose()
    console.print(
        t("cases.cli.retried", settings.language, sent=len(report.sent), failed=len(report.failed))
    )
    if report.failed:
        raise typer.Exit(1)


@app.command("sms-outbox")
def sms_outbox(
    limit: int = typer.Option(20, min=1, max=500, help="How many, newest first."),
) -> None:
    """Show the text messages the default SMS provider wrote instead of sending."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = notifications.list_sms_outbox(session, limit=limit)
    finally:
        engine.dispose()
    lang = settings.language
    table = Table(t("cases.cli.time", lang), t("cases.cli.to", lang), t("cases.cli.text", lang))
    for row in rows:
        table.add_row(row.created_at.isoformat(timespec="seconds"), row.to, row.text)
    console.print(table)
