"""Telling the person by SMS and e-mail when a report is done, or when an agency could not be
told, through the channels the counter already uses (:mod:`onceonly.cases.notifications`:
SMTP, and the SMS provider).

Notices are an outbox like the deliveries: written in the transaction that finds the event
done (or a delivery dead), sent after it commits by :func:`send_notices` (the notify worker
calls it after every batch). A row is claimed with a conditional UPDATE before sending, so
two workers never send one twice; a failed send is kept with its reason and tried again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases.notifications import OutboxSms, SmsProvider, send_message
from onceonly.config import Settings
from onceonly.db import transaction, utcnow
from onceonly.i18n import normalise_language, t
from onceonly.notify.contacts import registered_contact
from onceonly.notify.models import EventContact, LifeEvent, Notice

NOTICE_KINDS = ("all_processed", "failed")
MAX_ATTEMPTS = 5
"""A notice that failed this many times stays failed, with its reason, for an administrator."""


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    mobile: str | None = None
    language: str = "zh-TW"

    def __bool__(self) -> bool:
        return bool(self.email or self.mobile)


def remember_contact(session: Session, event_id: str, contact: Contact | None) -> None:
    """Keep whom to tell for ``event_id`` (nothing when no channel is given)."""
    if contact:
        session.merge(
            EventContact(
                event_id=event_id,
                email=contact.email or None,
                mobile=contact.mobile or None,
                language=normalise_language(contact.language),
            )
        )


def contact_of(session: Session, event: LifeEvent) -> Contact | None:
    """The contact given with the event; else the citizen's latest own contact details."""
    row = session.get(EventContact, event.id)
    if row is not None:
        return Contact(row.email, row.mobile, row.language)
    own = registered_contact(session, event.national_id)
    return Contact(own.email, own.mobile) if own else None


def queue_notices(session: Session, event: LifeEvent, kind: str, **params: Any) -> int:
    """Write the ``kind`` notices of ``event`` (one per channel the person gave), in the
    caller's transaction; a notice already written is not written again."""
    contact = contact_of(session, event)
    if not contact:
        return 0
    from onceonly.notify.intake import reference_of

    lang = contact.language
    values = {
        "kind": t(f"notify.kind.{event.kind}", lang),
        "reference": reference_of(event.id),
        **params,
    }
    written = {
        c
        for c in session.scalars(
            select(Notice.channel).where(Notice.event_id == event.id, Notice.kind == kind)
        )
    }
    subject = t(f"notify.notice.{kind}.subject", lang, **values)
    now = utcnow()
    rows = []
    if contact.email and "email" not in written:
        body = t(f"notify.notice.{kind}.body", lang, **values)
        rows.append(("email", contact.email, body))
    if contact.mobile and "sms" not in written:
        rows.append(("sms", contact.mobile, t(f"notify.notice.{kind}.sms", lang, **values)))
    for channel, to, body in rows:
        session.add(
            Notice(
                event_id=event.id,
                kind=kind,
                channel=channel,
                recipient=to,
                subject=subject,
                body=body,
                status="pending",
                attempts=0,
                created_at=now,
            )
        )
    session.flush()
    return len(rows)


@dataclass
class NoticeReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def send_notices(
    sessions: sessionmaker[Session],
    settings: Settings,
    sms: SmsProvider | None = None,
    limit: int = 100,
) -> NoticeReport:
    """Send pending notices and try failed ones again; each outcome is written to its row."""
    provider = sms if sms is not None else OutboxSms(sessions)
    report = NoticeReport()
    with sessions() as session:
        ids = list(
            session.scalars(
                select(Notice.id)
                .where(Notice.status.in_(("pending", "failed")), Notice.attempts < MAX_ATTEMPTS)
                .order_by(Notice.id)
                .limit(limit)
            )
        )
    for notice_id in ids:
        with transaction(sessions) as session:
            claimed = session.execute(
                update(Notice)
                .where(Notice.id == notice_id, Notice.status.in_(("pending", "failed")))
                .values(status="sending", attempts=Notice.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if not getattr(claimed, "rowcount", 0):
                continue
            row = session.get(Notice, notice_id)
            assert row is not None
            channel, to, subject, body = row.channel, row.recipient, row.subject, row.body
        error = send_message(settings, provider, channel, to, subject, body)
        with transaction(sessions) as session:
            session.execute(
                update(Notice)
                .where(Notice.id == notice_id)
                .values(
                    status="failed" if error else "sent",
                    last_error=error,
                    sent_at=None if error else utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
        (report.failed if error else report.sent).append(notice_id)
    return report
