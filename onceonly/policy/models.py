"""Tables of the policy capability: access rules and citizens' consents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, utcnow


class AccessRule(Base):
    __tablename__ = "access_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_agency: Mapped[str] = mapped_column(String(80), index=True)
    dataset: Mapped[str] = mapped_column(String(80), index=True)
    application_item: Mapped[str] = mapped_column(String(120), index=True)
    requesting_agency: Mapped[str | None] = mapped_column(String(80), index=True)
    requesting_agency_kind: Mapped[str | None] = mapped_column(String(40))
    requesting_jurisdiction: Mapped[str | None] = mapped_column(String(60))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    predicates: Mapped[list[str]] = mapped_column(JSON, default=list)
    legal_basis: Mapped[str] = mapped_column(String(80))
    purpose: Mapped[str] = mapped_column(Text, default="")
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False)
    preview_required: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Consent(Base):
    """A citizen's consent to one application item, for one case or standing until revoked."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(12), index=True)
    application_item: Mapped[str] = mapped_column(String(120))
    case_id: Mapped[str | None] = mapped_column(String(40))
    dataset: Mapped[str | None] = mapped_column(String(80))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
