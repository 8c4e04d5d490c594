"""Tables of the citizen portal: sign-in challenges, revoked demo cards, flags on accesses and
their routing to auditors, and evidence held for the citizen's preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, utcnow


class SignInChallenge(Base):
    """A one-time challenge of an identity provider (the card's nonce; an OpenID Connect
    provider would keep its state and nonce here)."""

    __tablename__ = "citizen_challenges"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    challenge: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CardRevocation(Base):
    """A citizen certificate that may no longer sign in (lost card), by serial number."""

    __tablename__ = "citizen_card_revocations"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex serial number of the certificate."""
    national_id: Mapped[str] = mapped_column(String(12), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")


class AccessFlag(Base):
    """A citizen's "this access looks wrong to me" on one audit entry, and the reply."""

    __tablename__ = "citizen_flags"
    __table_args__ = (CheckConstraint("status IN ('open', 'answered')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_seq: Mapped[int] = mapped_column(Integer, index=True)
    subject: Mapped[str] = mapped_column(String(12), index=True)
    note: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_by_badge: Mapped[str | None] = mapped_column(String(16))
    replied_by_agency: Mapped[str | None] = mapped_column(String(120))
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FlagQueue(Base):
    """Which jurisdictions' auditors see a flag (owners' and requester's, see ``flags``)."""

    __tablename__ = "citizen_flag_queues"

    flag_id: Mapped[int] = mapped_column(
        ForeignKey("citizen_flags.id", ondelete="CASCADE"), primary_key=True
    )
    jurisdiction: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)


class EvidencePreview(Base):
    """Evidence fetched and signed for a clerk but held until the citizen approves it."""

    __tablename__ = "citizen_previews"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'declined', 'released')", name="status"),
        Index(
            "ix_citizen_previews_lookup",
            "subject",
            "case_id",
            "application_item",
            "evidence_type",
            "requester_agency",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(12))
    case_id: Mapped[str] = mapped_column(String(40))
    application_item: Mapped[str] = mapped_column(String(120))
    evidence_type: Mapped[str] = mapped_column(String(80))
    dataset: Mapped[str] = mapped_column(String(80))
    requester_agency: Mapped[str] = mapped_column(String(120))
    requester_badge: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    held: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What the clerk gets on release: owners, rule ids, fields or answer, transcripts."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
