"""``onceonly notify``: run the delivery worker, a reference receiver, inspect and replay the
dead-letter queue."""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import Problem
from onceonly.i18n import t
from onceonly.notify import outbox
from onceonly.notify.worker import NotifySettings, run_worker

app = typer.Typer(help="Tell-us-once (通報): delivery worker, reference receiver, dead letters.")


@app.command()
def worker(
    batch: int = typer.Option(
        None, help="Deliveries claimed per batch (ONCEONLY_NOTIFY_BATCH_SIZE)."
    ),
) -> None:
    """Deliver pushed events until stopped (Ctrl-C or SIGTERM finish the current batch)."""
    settings = Settings()
    tuning = NotifySettings()
    if batch is not None:
        if batch < 1:
            said = t("cli.at_least", settings.language, least=1)
            raise typer.BadParameter(said, param_hint="--batch")
        tuning = tuning.model_copy(update={"batch_size": batch})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    where = settings.resolved_database_url.split("@")[-1]
    Console(stderr=True).print(
        f"[green]{t('notify.cli.worker_started', settings.language, where=where)}"
    )
    run_worker(settings.resolved_database_url, tuning, stop)


@app.command()
def receiver(
    secret: str = typer.Option(
        ..., envvar="ONCEONLY_RECEIVER_SECRET", help="HMAC secret(s), comma-separated."
    ),
    db: Path = typer.Option(Path("receiver.sqlite"), help="The receiver's own SQLite file."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8801),
    ack: str = typer.Option("inline", help="inline: answer processed; none: answer received."),
    accept_v1: bool = typer.Option(
        False,
        envvar="ONCEONLY_RECEIVER_ACCEPT_V1",
        help="Also accept pushes signed only with the deprecated v1 scheme (during a move).",
    ),
) -> None:
    """Run the reference receiver (an agency endpoint that verifies, deduplicates and acks)."""
    import uvicorn

    from onceonly.notify.receiver import ACKS, UnusableStore, create_receiver_app, parse_secrets

    lang = Settings().language
    secrets = parse_secrets(secret)
    if secrets is None:
        raise typer.BadParameter(t("notify.cli.empty_secret", lang), param_hint="--secret")
    if ack not in ACKS:
        said = t("notify.cli.bad_ack", lang, ack=ack, allowed=", ".join(ACKS))
        raise typer.BadParameter(said, param_hint="--ack")
    try:
        # opens --db: before serving
        receiver_app = create_receiver_app(secrets, db, ack=ack, accept_v1=accept_v1)
    except UnusableStore as unusable:
        typer.echo(unusable.words("--db", lang), err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        receiver_app,
        host=host,
        port=port,
        log_level="warning",
    )


@app.command()
def dlq(lang: str = typer.Option(None, help="zh-TW or en")) -> None:
    """List deliveries that failed every attempt and wait for a replay."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        rows = outbox.list_dead_letters(session)
    engine.dispose()
    table = Table(title=t("notify.admin.dlq", lang))
    for column in (
        "#",
        "notify.col.agency",
        "notify.col.kind",
        "notify.col.subject",
        "notify.col.attempts",
        "notify.col.error",
    ):
        table.add_column(column if column == "#" else t(column, lang))
    for d in rows:
        table.add_row(
            str(d.id),
            d.agency_code,
            t(f"notify.kind.{d.kind}", lang),
            f"{mask_national_id(d.national_id)} #{d.seq}",
            str(d.attempts),
            f"{d.last_status_code or ''} {(d.last_error or '')[:60]}",
        )
    Console().print(table)


@app.command()
def replay(
    dead_letter_id: int, by: str = typer.Option("cli", help="Who replays (recorded).")
) -> None:
    """Queue a dead delivery again with fresh attempts."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        done = outbox.replay_dead_letter(session, dead_letter_id, by)
    engine.dispose()
    if not done:
        Console(stderr=True).print(
            f"[red]{t('notify.error.no_dead_letter', None, id=dead_letter_id)}"
        )
        raise typer.Exit(1)
    Console().print(f"[green]{t('notify.cli.replayed', Settings().language, id=dead_letter_id)}")


@app.command()
def queues() -> None:
    """Deliveries per agency by state, with the lag of the oldest undelivered one."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        stats = outbox.queue_stats(session)
    engine.dispose()
    table = Table()
    for column in (
        "agency",
        "mode",
        "pending",
        "retrying",
        "delivered",
        "processed",
        "dead",
        "lag s",
    ):
        table.add_column(column)
    for q in stats:
        table.add_row(
            q.agency_code,
            q.mode,
            *(str(v) for v in (q.pending, q.retrying, q.delivered, q.processed, q.dead)),
            f"{q.lag_seconds():.0f}",
        )
    Console().print(table)


@app.command("record-death")
def record_death(
    national_id: str = typer.Argument(..., help="The deceased person's national ID."),
    death_date: str = typer.Option("", help="ISO date of death (default: today in Taiwan)."),
    jurisdiction: str = typer.Option("taipei-city", help="Where the death is registered."),
) -> None:
    """Register a death as the household registration office does; every subscribed agency
    is told (the tell-us-once demo)."""
    from onceonly.domain.errors import DomainValueError
    from onceonly.domain.national_id import validate_national_id
    from onceonly.domain.roc_date import taiwan_today
    from onceonly.notify.events import LifeEventIn
    from onceonly.notify.intake import report_event
    from onceonly.notify.register import REGISTER_DATASET, Unconnected, household_register
    from onceonly.providers.registry import load_providers

    try:
        subject = validate_national_id(national_id)
    except DomainValueError as exc:
        Console(stderr=True).print(f"[red]national_id: {exc.message_zh} / {exc.message_en}")
        raise typer.Exit(2) from exc
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        providers = load_providers(settings.registries_dir)
    except FileNotFoundError:
        providers = None  # no register here: a valid event is refused as "cannot check"
    try:
        with transaction(make_session_factory(engine)) as session:
            register = (
                household_register(session, providers)
                if providers is not None
                else Unconnected(REGISTER_DATASET)
            )
            try:
                accepted = report_event(
                    session,
                    LifeEventIn(
                        kind="death",
                        national_id=subject,
                        payload={"death_date": death_date or taiwan_today().isoformat()},
                        recorded_by="cli:household_office",
                    ),
                    register,
                    f"{jurisdiction}.household_office",
                    lang=settings.language,
                )
            except Problem as problem:
                if problem.kind != "not-a-reporting-office":
                    problem.errors = [  # named as the operator gave them
                        replace(error, field=RECORD_DEATH_OPTIONS.get(error.field, error.field))
                        for error in problem.errors
                    ]
                    raise
                # no office of that name: the option given is what is wrong, not a permission
                said = _no_household_office(session, jurisdiction, settings.language)
                typer.echo(said, err=True)
                raise typer.Exit(2) from None
            event = accepted.event
    finally:
        engine.dispose()
        if providers is not None:
            providers.close()
    Console().print(
        "[green]"
        + t(
            "notify.cli.death_recorded",
            settings.language,
            subject=mask_national_id(subject),
            event=event.id,
            seq=event.seq,
            agencies=event.deliveries,
            national_id=subject,
        )
    )
    Console().print(t("notify.reference", settings.language, reference=accepted.reference))
    for recipient in accepted.recipients:
        Console().print(f"  - {recipient.name(settings.language)}")


RECORD_DEATH_OPTIONS = {"payload.death_date": "--death-date", "national_id": "NATIONAL_ID"}
"""The event's fields by the option or argument of ``record-death`` that gives them."""

KNOWN_LISTED = 30
"""At most this many known jurisdictions are listed in a message (the catalog has 22)."""


def _no_household_office(session: Session, code: str, lang: str | None) -> str:
    """Why ``--jurisdiction code`` names no household registration office: the catalog does
    not know it, it was merged into another, or it has none (``central``); with the ones
    that have one."""
    from onceonly.catalog import service as catalog

    offices = catalog.list_agencies(session, kind="household_office")
    known = list(dict.fromkeys(office.jurisdiction for office in offices))
    listed = ", ".join(known[:KNOWN_LISTED]) + (", …" if len(known) > KNOWN_LISTED else "")
    said = {"option": "--jurisdiction", "code": code}
    said["known"] = listed or t("notify.cli.no_office_known", lang)
    place = catalog.get_jurisdiction(session, code)
    if place is None:
        return t("notify.cli.unknown_jurisdiction", lang, **said)
    if place.merged_into is not None:
        successor = catalog.successor_of(session, code)
        return t("notify.cli.merged_jurisdiction", lang, successor=successor, **said)
    return t("notify.cli.no_household_office", lang, **said)


if __name__ == "__main__":
    app()
