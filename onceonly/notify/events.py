"""Recording life events: the entry points the household-registration side and the citizen
portal call, inside their own transaction.

Each event gets a uuid and the citizen's next sequence number. The number comes from an
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on the citizen's counter row in the same
transaction: a second event about the same citizen waits on that row until the first commits
or rolls back, so numbers are gapless and race-free on PostgreSQL, and SQLite's single writer
gives the same. The outbox rows are written in that transaction too (transactional outbox):
the change, its event and its deliveries commit together or not at all.

On SQLite, call these before reading in a transaction that another process may write to
concurrently (or use ``BEGIN IMMEDIATE``); a write after a stale read fails with "database is
locked" instead of waiting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from onceonly.db import as_utc, utcnow
from onceonly.domain.address import MAX_LENGTH as MAX_ADDRESS_LENGTH
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import validate_national_id, validate_resident_id
from onceonly.domain.roc_date import parse_roc_date, taiwan_today
from onceonly.errors import FieldError, validation_problem
from onceonly.i18n import t
from onceonly.notify.kinds import (
    CITIZEN,
    DATE_FIELDS,
    EVENT_KINDS,
    HOUSEHOLD,
    NATIONAL_ID_FIELDS,
)
from onceonly.notify.models import CitizenSequence, LifeEvent
from onceonly.notify.outbox import upsert_increment, write_outbox


class LifeEventIn(BaseModel):
    """A life event as the household registration office reports it."""

    kind: str = Field(description="address_change, name_change, death, birth or marriage")
    national_id: str = Field(description="The subject: national ID or resident number")
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = Field(default=None, description="Defaults to now")
    jurisdiction: str | None = Field(
        default=None, description="Catalog code of the jurisdiction the subject is registered in"
    )
    event_id: str | None = Field(
        default=None,
        description="The source's own id, so a retried call records the event once",
    )
    recorded_by: str | None = None


@dataclass(frozen=True)
class EventView:
    id: str
    national_id: str
    seq: int
    kind: str
    source: str
    jurisdiction: str | None
    occurred_at: datetime
    recorded_at: datetime
    payload: dict[str, Any]
    deliveries: int
    """Outbox rows written for it (one per approved matching subscription)."""


def event_view(event: LifeEvent, deliveries: int) -> EventView:
    return EventView(
        id=event.id,
        national_id=event.national_id,
        seq=event.seq,
        kind=event.kind,
        source=event.source,
        jurisdiction=event.jurisdiction,
        occurred_at=as_utc(event.occurred_at),
        recorded_at=as_utc(event.recorded_at),
        payload=dict(event.payload),
        deliveries=deliveries,
    )


def subject_of(value: str) -> str:
    """The canonical national ID or resident number; raises :class:`DomainValueError`."""
    return _subject(value)


def _subject(value: str) -> str:
    try:
        return validate_national_id(value)
    except DomainValueError as first:
        try:
            return validate_resident_id(value)
        except DomainValueError:
            raise first from None


def typed_value(name: str, value: Any, today: date | None = None) -> Any:
    """A payload value in its stored form (dates as ISO, IDs canonical); raises
    :class:`DomainValueError` with the reason when it is not one. A date after ``today``
    (Taiwan's, by default) has not happened yet."""
    if name in DATE_FIELDS:
        day = parse_roc_date(str(value))
        if day > (today or taiwan_today()):
            raise DomainValueError(
                "date.future",
                f"日期 {day.isoformat()} 還沒有到",
                f"the date {day.isoformat()} is in the future",
                field=name,
            )
        return day.isoformat()
    if name in NATIONAL_ID_FIELDS:
        return _subject(str(value))
    if name in CONTACT_FIELDS:
        return contact_value(name, str(value))
    return value


CONTACT_FIELDS = frozenset({"phone", "email"})


def contact_value(name: str, value: str) -> str:
    """A mobile number (``09xxxxxxxx``) or e-mail address as the counter's case contacts are
    checked; raises :class:`DomainValueError` naming ``name`` otherwise."""
    from onceonly.cases.service import normalise_email, normalise_mobile
    from onceonly.errors import Problem

    check = normalise_mobile if name in ("phone", "mobile", "contact_mobile") else normalise_email
    try:
        return check(value)
    except Problem:
        reasons = {lang: check_reason(check, value, lang) for lang in ("zh-TW", "en")}
        raise DomainValueError(
            f"contact.{name}", reasons["zh-TW"], reasons["en"], field=name
        ) from None


def check_reason(check: Any, value: str, lang: str) -> str:
    try:
        check(value, lang)
    except Exception as exc:  # the Problem of cases.service, with its one field error
        errors = getattr(exc, "errors", None)
        return str(errors[0].reason) if errors else str(exc)
    return ""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _stored(name: str, value: Any) -> Any:
    return value if _blank(value) else typed_value(name, value)


EARLIEST_EVENT = datetime(1912, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


def _plausible(moment: datetime) -> bool:
    """Whether an event may have happened then: from 1912 until now (give or take a
    sender's clock). ``0001-01-01T00:00+14:00`` is a year before 1 in UTC and
    ``9999-12-31T23:59-12:00`` one after 9999: PostgreSQL stores both, and every later read
    of the citizen's events (the portal, the counter, each agency's feed) failed."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        return EARLIEST_EVENT <= aware.astimezone(UTC) <= utcnow() + CLOCK_SKEW
    except OverflowError:
        return False


MAX_PAYLOAD_TEXT = MAX_ADDRESS_LENGTH
"""Longest value of one field (a name, an address, a date): every agency told stores it, and
an address is read again for every statistics request."""


def check_event(event: LifeEventIn, source: str, lang: str | None = None) -> list[FieldError]:
    """Every problem with ``event`` as an event of ``source``, each naming its field."""
    errors: list[FieldError] = []
    try:
        _subject(event.national_id)
    except DomainValueError as exc:
        message = exc.message_en if lang == "en" else exc.message_zh
        errors.append(FieldError("national_id", message, exc.code))
    kind = EVENT_KINDS.get(event.kind)
    if kind is None or kind.source != source:
        known = ", ".join(k for k, v in EVENT_KINDS.items() if v.source == source)
        errors.append(
            FieldError(
                "kind",
                t("notify.error.unknown_kind", lang, kinds=event.kind, known=known),
                "unknown",
            )
        )
        return errors
    for name in kind.required:
        if _blank(event.payload.get(name)):
            errors.append(FieldError(f"payload.{name}", t("field.missing", lang), "missing"))
    if not kind.required and not any(event.payload.get(f) for f in kind.fields):
        errors.append(
            FieldError(
                "payload",
                t("notify.error.empty_payload", lang, fields=", ".join(kind.fields)),
                "missing",
            )
        )
    for name in sorted(set(event.payload) & set(kind.fields)):
        value = event.payload[name]
        if _blank(value):
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            errors.append(FieldError(f"payload.{name}", t("notify.error.not_text", lang), "type"))
            continue
        if len(str(value)) > MAX_PAYLOAD_TEXT:
            reason = t("notify.error.too_long", lang, max=MAX_PAYLOAD_TEXT)
            errors.append(FieldError(f"payload.{name}", reason, "too_long"))
            continue
        try:
            typed_value(name, value)
        except DomainValueError as exc:
            errors.append(FieldError(f"payload.{name}", exc.message(lang or "zh-TW"), exc.code))
    for name in sorted(set(event.payload) - set(kind.fields)):
        errors.append(
            FieldError(
                f"payload.{name}", t("notify.error.unknown_field", lang, fields=name), "unknown"
            )
        )
    if event.occurred_at is not None and not _plausible(event.occurred_at):
        errors.append(
            FieldError(
                "occurred_at",
                t("notify.error.occurred_at", lang, earliest=EARLIEST_EVENT.date().isoformat()),
                "invalid",
            )
        )
    if event.event_id is not None:
        try:
            uuid.UUID(event.event_id)
        except ValueError:
            errors.append(FieldError("event_id", t("notify.error.event_id", lang), "invalid"))
    return errors


def lock_subject(session: Session, national_id: str) -> None:
    """Hold the subject's sequence row until the transaction ends, before anything is read:
    a second report about the same person (a second death sent at the same moment) waits here
    and then sees the first one, instead of both passing the checks. The row is made with
    ``last_seq`` 0 when missing, so numbering stays gapless (a refusal rolls it back)."""
    table = CitizenSequence.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(
        insert(table)  # type: ignore[arg-type]
        .values(national_id=national_id, last_seq=0)
        .on_conflict_do_update(index_elements=["national_id"], set_={"last_seq": table.c.last_seq})
    )


def _record(session: Session, event: LifeEventIn, source: str, lang: str | None) -> EventView:
    errors = check_event(event, source, lang)
    if errors:
        raise validation_problem(errors, lang)
    if event.event_id is not None:
        existing = session.get(LifeEvent, str(uuid.UUID(event.event_id)))
        if existing is not None:
            return event_view(existing, 0)
    subject = _subject(event.national_id)
    seq = upsert_increment(session, CitizenSequence, "national_id", subject, "last_seq")
    now = utcnow()
    row = LifeEvent(
        id=str(uuid.UUID(event.event_id)) if event.event_id else str(uuid.uuid4()),
        national_id=subject,
        seq=seq,
        kind=event.kind,
        source=source,
        jurisdiction=event.jurisdiction,
        occurred_at=event.occurred_at or now,  # the column stores UTC (db.UTCDateTime)
        recorded_at=now,
        recorded_by=event.recorded_by,
        payload={name: _stored(name, value) for name, value in event.payload.items()},
    )
    session.add(row)
    session.flush()
    deliveries = write_outbox(session, row)
    return event_view(row, deliveries)


def record_life_event(session: Session, event: LifeEventIn, lang: str | None = None) -> EventView:
    """Record a household-registration event and its outbox rows in ``session``'s transaction
    (the caller commits, together with the registration change itself)."""
    return _record(session, event, HOUSEHOLD, lang)


def report_change(
    session: Session,
    citizen_national_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    jurisdiction: str | None = None,
    occurred_at: datetime | None = None,
    lang: str | None = None,
) -> EventView:
    """A citizen's own report (``mailing_address`` or ``contact_details``), told once and
    delivered like a registration event."""
    event = LifeEventIn(
        kind=kind,
        national_id=citizen_national_id,
        payload=payload,
        jurisdiction=jurisdiction,
        occurred_at=occurred_at,
        recorded_by="citizen",
    )
    return _record(session, event, CITIZEN, lang)


REFERENCE_PREFIX = "TUO"


def reference_of(event_id: str) -> str:
    """The reference number a person reads out: ``TUO-`` and the first 12 hex digits of the
    event's id in three groups (48 bits: unique among any realistic number of events, and
    :func:`find_by_reference` refuses an ambiguous one)."""
    digits = event_id.replace("-", "")[:12].upper()
    return f"{REFERENCE_PREFIX}-{digits[:4]}-{digits[4:8]}-{digits[8:12]}"
