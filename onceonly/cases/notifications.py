"""Telling the citizen when their case changes state: e-mail over SMTP and SMS.

The service writes each message as a ``pending`` row in the same transaction as the state
change (an outbox), so a message exists exactly when the change does. Delivery happens after
that commit (:func:`deliver_pending`); whatever happens while sending, the state change is
already durable, and the outcome (sent, or failed with the reason) is written to the
``notifications`` row and the case timeline; a message that left is also written to the audit
log with the citizen as subject (``case.notice_sent``, the recipient masked), so the citizen's
page of who handled their data lists where each message about their case went.
:func:`retry_failed_notifications` sends failed ones again. A row is claimed
(``pending``/``failed`` → ``sending``) by a conditional UPDATE before sending, so two workers
never send the same message twice.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import ColumnElement, exists, false, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.tenancy import Scope
from onceonly.audit.log import AuditRecord, append
from onceonly.call_failures import failure_in_words
from onceonly.cases.models import Case, CaseEvent, Notification, SmsOutboxMessage
from onceonly.cases.schemas import NotificationView, SmsOutboxView
from onceonly.config import Settings
from onceonly.db import as_utc, transaction, utcnow
from onceonly.domain.contacts import mask_contact
from onceonly.i18n import t

logger = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10.0
STALE_SENDING = timedelta(minutes=10)
"""A ``sending`` row older than this belongs to a worker that died; retry takes it over."""
EVENTS = (
    "opened",
    "request_received",
    "gathering",
    "relayed",
    "decided",
    "closed",
    "consent_requested",
    "contact_elsewhere",
)
"""What a message can be about; ``contact_elsewhere`` goes to the contact the citizen registered
themselves when the case's messages go elsewhere (:mod:`onceonly.cases.contacts`)."""


@runtime_checkable
class SmsProvider(Protocol):
    """Sends one text message; raises on failure (the reason is recorded)."""

    def send(self, to: str, text: str) -> None: ...


class OutboxSms:
    """The default SMS provider: writes to ``sms_outbox``, which administrators read."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def send(self, to: str, text: str) -> None:
        with transaction(self.sessions) as session:
            session.add(SmsOutboxMessage(to=to, text=text, created_at=utcnow()))


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def enqueue(session: Session, case: Case, event: str, **params: Any) -> list[Notification]:
    """Write the messages for ``event`` of ``case`` as pending, in the caller's transaction.

    ``params`` fill the templates besides ``number``; a citizen who left no contact gets none.
    """
    return enqueue_to(session, case, event, case.contact_email, case.contact_mobile, **params)


def enqueue_to(
    session: Session,
    case: Case,
    event: str,
    email: str | None,
    mobile: str | None,
    **params: Any,
) -> list[Notification]:
    """:func:`enqueue` to the address and number given rather than the case's contacts."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    lang = case.contact_language
    values = {"number": case.number, **params}
    subject = t(f"cases.notify.{event}.subject", lang, **values)
    rows = []
    if email:
        body = "\n\n".join(
            (t(f"cases.notify.{event}.body", lang, **values), t("cases.notify.footer", lang))
        )
        rows.append(_row(case, event, "email", email, subject, body))
    if mobile:
        text = t(f"cases.notify.{event}.sms", lang, **values)
        rows.append(_row(case, event, "sms", mobile, subject, text))
    session.add_all(rows)
    return rows


def _row(case: Case, event: str, channel: str, to: str, subject: str, body: str) -> Notification:
    return Notification(
        case_id=case.id,
        event=event,
        channel=channel,
        recipient=to,
        subject=subject,
        body=body,
        status="pending",
        attempts=0,
        created_at=utcnow(),
    )


def send_email(settings: Settings, to: str, subject: str, body: str) -> None:
    """Hand one message to the SMTP server of ``settings``; raises OSError/SMTPException."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        smtp.send_message(message)


def send_message(
    settings: Settings, sms: SmsProvider, channel: str, to: str, subject: str, body: str
) -> str | None:
    """Send one message by e-mail or SMS: ``None``, or why it failed (for the row's
    ``last_error`` and a retry; any provider failure is recorded, never lost)."""
    try:
        if channel == "email":
            send_email(settings, to, subject, body)
        else:
            sms.send(to, body)
    except Exception as exc:
        return failure_in_words(exc)[:1000]
    return None


def _claim(session: Session, notification_id: int, statuses: Sequence[str], now: datetime) -> bool:
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status.in_(statuses))
        .values(status="sending", attempts=Notification.attempts + 1, last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _deliver_one(
    sessions: sessionmaker[Session],
    settings: Settings,
    sms: SmsProvider,
    notification_id: int,
    statuses: Sequence[str],
) -> bool | None:
    """Send one claimed message; ``None`` when someone else claimed it first."""
    now = utcnow()
    with transaction(sessions) as session:
        if not _claim(session, notification_id, statuses, now):
            return None
        row = session.get(Notification, notification_id)
        assert row is not None
        channel, to, subject, body = row.channel, row.recipient, row.subject, row.body
    error = send_message(settings, sms, channel, to, subject, body)
    if error:  # people read a plain sentence; the reason is here and on /admin/notify
        logger.warning("case message %d (%s) not sent: %s", notification_id, channel, error)
    with transaction(sessions) as session:
        row = session.get(Notification, notification_id)
        assert row is not None
        row.status = "failed" if error else "sent"
        row.last_error = error
        if not error:
            row.sent_at = utcnow()
        session.add(
            CaseEvent(
                case_id=row.case_id,
                at=utcnow(),
                kind="notification_failed" if error else "notification_sent",
                actor="system",
                agency=None,
                details={
                    "notification_id": row.id,
                    "event": row.event,
                    "channel": channel,
                    "recipient": to,
                    "attempt": row.attempts,
                    **({"error": error} if error else {}),
                },
            )
        )
        if not error:
            _audit_sent(session, row)
    return error is None


def _audit_sent(session: Session, row: Notification) -> None:
    """The citizen's record of a message about their case that left: which one, by which
    channel, to whom (masked), in the same transaction as its ``sent`` status. A case about
    no one (an Open311 report) has no subject to write it for."""
    case = session.get(Case, row.case_id)
    if case is None or not case.subject:
        return
    recipient = mask_contact(row.channel, row.recipient)

    def words(lang: str) -> str:
        return t(
            "cases.audit.notice_sent",
            lang,
            number=case.number,
            notice=t(f"cases.notice_name.{row.event}", lang),
            channel=t(f"counter.channel.{row.channel}", lang),
            recipient=recipient,
        )

    append(
        session,
        AuditRecord(
            event="case.notice_sent",
            actor_username="system",
            actor_agency=case.agency,
            application_item=case.application_item,
            case_id=case.number,
            subject=case.subject,
            reason_zh=words("zh-TW"),
            reason_en=words("en"),
            details={
                "notification_id": row.id,
                "notice": row.event,
                "channel": row.channel,
                "recipient": recipient,
                "attempt": row.attempts,
            },
        ),
    )


def _deliver(
    sessions: sessionmaker[Session],
    settings: Settings,
    sms: SmsProvider | None,
    ids: Sequence[int],
    statuses: Sequence[str],
) -> DeliveryReport:
    provider = sms if sms is not None else OutboxSms(sessions)
    report = DeliveryReport()
    for notification_id in ids:
        outcome = _deliver_one(sessions, settings, provider, notification_id, statuses)
        if outcome is True:
            report.sent.append(notification_id)
        elif outcome is False:
            report.failed.append(notification_id)
    return report


def deliver_pending(
    sessions: sessionmaker[Session],
    settings: Settings,
    sms: SmsProvider | None = None,
    *,
    case_number: str | None = None,
) -> DeliveryReport:
    """Send every pending message (of one case, when given), after the change committed."""
    with sessions() as session:
        query = select(Notification.id).where(Notification.status == "pending")
        if case_number is not None:
            query = query.join(Case, Case.id == Notification.case_id).where(
                Case.number == case_number
            )
        ids = list(session.scalars(query.order_by(Notification.id)))
    return _deliver(sessions, settings, sms, ids, ("pending",))


def retry_failed_notifications(
    sessions: sessionmaker[Session],
    settings: Settings,
    sms: SmsProvider | None = None,
    *,
    now: datetime | None = None,
) -> DeliveryReport:
    """Send again every failed message, and any left pending or half-sent by a dead worker."""
    stale = (now or utcnow()) - STALE_SENDING
    with sessions() as session:
        ids = list(
            session.scalars(
                select(Notification.id)
                .where(
                    or_(
                        Notification.status.in_(("failed", "pending")),
                        (Notification.status == "sending") & (Notification.last_attempt_at < stale),
                    )
                )
                .order_by(Notification.id)
            )
        )
    report = _deliver(sessions, settings, sms, ids, ("failed", "pending"))
    stale_ids = [i for i in ids if i not in report.sent and i not in report.failed]
    if stale_ids:
        with transaction(sessions) as session:
            session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(stale_ids),
                    Notification.status == "sending",
                    Notification.last_attempt_at < stale,
                )
                .values(status="failed", last_error="abandoned while sending")
                .execution_options(synchronize_session=False)
            )
        more = _deliver(sessions, settings, sms, stale_ids, ("failed",))
        report.sent += more.sent
        report.failed += more.failed
    return report


def list_notifications(
    session: Session, *, status: str | None = None, limit: int = 100, scope: Scope | None = None
) -> list[NotificationView]:
    """Messages to citizens, newest first, for administrators (e.g. to see what failed); with
    ``scope``, only those about cases now in that tenant's agencies."""
    query = select(Notification, Case.number).join(Case, Case.id == Notification.case_id)
    if scope is not None:
        query = query.where(scope.agency_condition(Case.agency))
    if status is not None:
        query = query.where(Notification.status == status)
    rows = session.execute(query.order_by(Notification.id.desc()).limit(limit)).all()
    return [
        NotificationView.model_validate(
            {
                **{c.key: getattr(row, c.key) for c in Notification.__table__.columns},
                "case_number": number,
                "created_at": as_utc(row.created_at),
                "sent_at": as_utc(row.sent_at) if row.sent_at else None,
            }
        )
        for row, number in rows
    ]


def list_sms_outbox(
    session: Session, *, limit: int = 100, scope: Scope | None = None
) -> list[SmsOutboxView]:
    """What the default SMS provider has "sent", newest first; with ``scope``, only texts the
    tenant sent: a case's notification (the case now in one of its agencies) or a
    tell-us-once notice about an event of its jurisdiction, matched by recipient and text."""
    query = select(SmsOutboxMessage)
    if scope is not None:
        sent = tenant_sent(scope, "sms", SmsOutboxMessage.to, SmsOutboxMessage.text, by_body=True)
        query = query.where(sent)
    rows = session.scalars(query.order_by(SmsOutboxMessage.id.desc()).limit(limit))
    return [
        SmsOutboxView(id=r.id, to=r.to, text=r.text, created_at=as_utc(r.created_at)) for r in rows
    ]


def tenant_sent(
    scope: Scope, channel: str, recipient: Any, content: Any, *, by_body: bool
) -> ColumnElement[bool]:
    """SQL: a message on ``channel`` to ``recipient`` with ``content`` (its body, or its
    subject) was written for the tenant of ``scope``: by one of its cases, or as a notice of
    tell-us-once about an event of its jurisdiction. False for a scope of no tenant (the
    platform's operator reads no citizen's messages)."""
    from onceonly.notify.models import LifeEvent, Notice  # notify builds on cases, not back

    if scope.tenant is None:
        return false()
    for_case = exists(
        select(Notification.id)
        .join(Case, Case.id == Notification.case_id)
        .where(
            Notification.channel == channel,
            Notification.recipient == recipient,
            (Notification.body if by_body else Notification.subject) == content,
            scope.agency_condition(Case.agency),
        )
    )
    notice = exists(
        select(Notice.id)
        .join(LifeEvent, LifeEvent.id == Notice.event_id)
        .where(
            Notice.channel == channel,
            Notice.recipient == recipient,
            (Notice.body if by_body else Notice.subject) == content,
            LifeEvent.jurisdiction == scope.tenant,
        )
    )
    return or_(for_case, notice)
