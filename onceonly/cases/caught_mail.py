"""Reading the mail sink: the Maildir where a demo's or test deployment's SMTP server keeps
every message instead of delivering it (``Settings.mail_sink_dir``), for the administrators'
page ``/admin/mail``, as ``/admin/sms`` shows the SMS outbox.

Each administrator sees only the messages their tenant sent (matched, by recipient and
subject, to a case notification or a tell-us-once notice of the tenant); the platform's
operator sees none, as with every message to citizens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import Scope
from onceonly.cases.notifications import tenant_sent

MAX_BODY_CHARS = 20_000
"""A longer body is cut on the page (the Maildir keeps it whole)."""


@dataclass(frozen=True)
class CaughtMail:
    key: str
    """The message's name in the Maildir."""
    to: str
    sender: str
    subject: str
    at: datetime
    """When it was sent (its Date header, else when the sink stored it), in UTC."""
    body: str


def _parse(key: str, raw: bytes, stored: float) -> CaughtMail:
    import email

    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    try:
        at = parsedate_to_datetime(str(message["Date"])).astimezone(UTC)
    except (TypeError, ValueError):
        at = datetime.fromtimestamp(stored, UTC)
    part = message.get_body(("plain", "html"))
    body = part.get_content() if part is not None else ""
    return CaughtMail(
        key=key,
        to=str(message.get("To", "")),
        sender=str(message.get("From", "")),
        subject=str(message.get("Subject", "")),
        at=at,
        body=body[:MAX_BODY_CHARS],
    )


def read_mail_sink(directory: Path, limit: int = 100) -> list[CaughtMail]:
    """The newest ``limit`` messages of the Maildir ``directory`` (none if it is missing):
    one file per message in its ``new`` and ``cur`` folders."""
    found = [
        (path.stat().st_mtime, path)
        for folder in ("new", "cur")
        if (Path(directory) / folder).is_dir()
        for path in (Path(directory) / folder).iterdir()
        if path.is_file()
    ]
    found.sort(reverse=True)
    return [_parse(path.name, path.read_bytes(), mtime) for mtime, path in found[:limit]]


def caught_mail(
    session: Session, directory: Path, scope: Scope | None, limit: int = 100
) -> list[CaughtMail]:
    """The caught messages ``scope``'s tenant sent, newest first; all with ``scope`` None
    (the node's own tools)."""
    if scope is not None and scope.tenant is None:
        return []
    messages = read_mail_sink(directory, limit)
    if scope is None:
        return messages
    return [
        m
        for m in messages
        if session.scalar(
            select(tenant_sent(scope, "email", literal(m.to), literal(m.subject), by_body=False))
        )
    ]
