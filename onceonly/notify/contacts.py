"""The contact a citizen registered themselves: the latest tell-us-once ``contact_details``
report (the citizen's own, from the portal). Other capabilities read it here (a case's
messages typed at the counter are compared with it, :mod:`onceonly.cases.contacts`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.notify.models import LifeEvent

CONTACT_KIND = "contact_details"


@dataclass(frozen=True)
class RegisteredContact:
    email: str | None = None
    mobile: str | None = None

    def __bool__(self) -> bool:
        return bool(self.email or self.mobile)


def registered_contact(session: Session, national_id: str) -> RegisteredContact | None:
    """The e-mail address and mobile number of the citizen's latest ``contact_details``
    report; ``None`` when they reported none (or a report with neither)."""
    latest = session.scalar(
        select(LifeEvent)
        .where(LifeEvent.national_id == national_id, LifeEvent.kind == CONTACT_KIND)
        .order_by(LifeEvent.seq.desc())
        .limit(1)
    )
    if latest is None:
        return None
    payload = latest.payload or {}
    found = RegisteredContact(payload.get("email") or None, payload.get("phone") or None)
    return found or None
