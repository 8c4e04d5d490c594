"""Preview: where the owner's rule says so, the citizen sees the evidence before the clerk does.

The exchange fetches and signs the evidence as usual, then holds it here (status ``pending``)
instead of returning it; the clerk's answer for that piece is ``awaiting_preview``. The citizen
approves or declines it in the portal. The clerk's next request for the same case, item and
evidence releases exactly what the citizen saw (the same signed transcripts), once; a declined
preview refuses the piece with the citizen's decision as the reason. A preview nobody decided
within :data:`PREVIEW_DAYS` lapses, and the next request holds fresh evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.citizens.models import EvidencePreview
from onceonly.db import as_utc, utcnow
from onceonly.errors import Problem
from onceonly.i18n import t
from onceonly.policy.previews import PreviewKey

PREVIEW_DAYS = 7


@dataclass(frozen=True)
class PreviewView:
    id: int
    subject: str
    case_id: str
    application_item: str
    evidence_type: str
    dataset: str
    requester_agency: str
    requester_badge: str
    request_id: str
    held: dict[str, Any]
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    released_at: datetime | None

    @property
    def label(self) -> str:
        return f"P-{self.id}"


def _view(row: EvidencePreview) -> PreviewView:
    return PreviewView(
        id=row.id,
        subject=row.subject,
        case_id=row.case_id,
        application_item=row.application_item,
        evidence_type=row.evidence_type,
        dataset=row.dataset,
        requester_agency=row.requester_agency,
        requester_badge=row.requester_badge,
        request_id=row.request_id,
        held=dict(row.held),
        status=row.status,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
        released_at=as_utc(row.released_at) if row.released_at else None,
    )


def current_preview(
    session: Session, key: PreviewKey, now: datetime | None = None
) -> PreviewView | None:
    """The newest preview of ``key`` that still decides the next request: pending or approved
    and not lapsed, or declined. Released and lapsed ones decide nothing any more."""
    now = now or utcnow()
    row = session.scalars(
        select(EvidencePreview)
        .where(
            EvidencePreview.subject == key.subject,
            EvidencePreview.case_id == key.case_id,
            EvidencePreview.application_item == key.application_item,
            EvidencePreview.evidence_type == key.evidence_type,
            EvidencePreview.requester_agency == key.requester_agency,
        )
        .order_by(EvidencePreview.id.desc())
        .limit(1)
    ).first()
    if row is None or row.status == "released":
        return None
    if row.status in ("pending", "approved") and as_utc(row.expires_at) <= now:
        return None
    return _view(row)


def hold(
    session: Session,
    key: PreviewKey,
    *,
    dataset: str,
    requester_badge: str,
    request_id: str,
    held: dict[str, Any],
) -> PreviewView:
    now = utcnow()
    row = EvidencePreview(
        subject=key.subject,
        case_id=key.case_id,
        application_item=key.application_item,
        evidence_type=key.evidence_type,
        dataset=dataset,
        requester_agency=key.requester_agency,
        requester_badge=requester_badge,
        request_id=request_id,
        held=held,
        status="pending",
        created_at=now,
        expires_at=now + timedelta(days=PREVIEW_DAYS),
    )
    session.add(row)
    session.flush()
    return _view(row)


def release(session: Session, preview_id: int) -> dict[str, Any]:
    """Mark an approved preview used and return what was held."""
    row = session.get(EvidencePreview, preview_id, with_for_update=True)
    if row is None or row.status != "approved":
        raise LookupError(f"preview {preview_id} is not approved")
    row.status = "released"
    row.released_at = utcnow()
    session.flush()
    return dict(row.held)


def list_previews(session: Session, subject: str) -> list[PreviewView]:
    rows = session.scalars(
        select(EvidencePreview)
        .where(EvidencePreview.subject == subject)
        .order_by(EvidencePreview.id.desc())
    )
    return [_view(r) for r in rows]


def get_preview(
    session: Session, subject: str, preview_id: int, lang: str | None = None
) -> PreviewView:
    """One of the citizen's own previews; another person's answers 404 like a missing one."""
    row = session.get(EvidencePreview, preview_id)
    if row is None or row.subject != subject:
        raise Problem(404, "not-found", t("citizens.preview.not_found", lang, id=preview_id))
    return _view(row)


def decide_preview(
    session: Session, subject: str, preview_id: int, approve: bool, lang: str | None = None
) -> PreviewView:
    """The citizen's decision on a pending preview of their own evidence."""
    row = session.get(EvidencePreview, preview_id, with_for_update=True)
    if row is None or row.subject != subject:
        raise Problem(404, "not-found", t("citizens.preview.not_found", lang, id=preview_id))
    if row.status != "pending" or as_utc(row.expires_at) <= utcnow():
        raise Problem(409, "preview-state", t("citizens.preview.not_pending", lang))
    row.status = "approved" if approve else "declined"
    row.decided_at = utcnow()
    session.flush()
    return _view(row)


class CitizenPreviews:
    """The portal's previews as the exchange's :class:`~onceonly.policy.previews.PreviewBook`
    (wired by the app factory): the policy says when a preview is due, this keeps them."""

    def current(self, session: Session, key: PreviewKey) -> PreviewView | None:
        return current_preview(session, key)

    def hold(
        self,
        session: Session,
        key: PreviewKey,
        *,
        dataset: str,
        requester_badge: str,
        request_id: str,
        held: dict[str, Any],
    ) -> PreviewView:
        return hold(
            session,
            key,
            dataset=dataset,
            requester_badge=requester_badge,
            request_id=request_id,
            held=held,
        )

    def release(self, session: Session, preview_id: int) -> dict[str, Any]:
        return release(session, preview_id)
