"""Tables of the policy capability: access rules, citizens' consents, and alerts raised for
the owners' auditors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, utcnow


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
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Last, as migration 0012 adds it, so a migrated database and one made from the models
    # have their columns in the same order (copies by ``SELECT *`` agree).
    predicate_params: Mapped[dict[str, dict[str, list[Any]]] | None] = mapped_column(JSON)
    """Predicate -> parameter -> the values a caller may choose among (see
    ``onceonly.policy.predicates``); a parameter not listed takes the catalog's value."""


class Consent(Base):
    """A citizen's consent to one application item, for one case or standing until revoked."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(12), index=True)
    application_item: Mapped[str] = mapped_column(String(120))
    case_id: Mapped[str | None] = mapped_column(String(40))
    dataset: Mapped[str | None] = mapped_column(String(80))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PredicateAlert(Base):
    """One citizen asked about by one predicate of one owner with varied parameters: the
    pattern of a bisection for the value behind a yes/no answer. Shown to the auditors of
    the owner's jurisdiction; one row per (owner, subject, predicate), updated as asks go on."""

    __tablename__ = "policy_alerts"
    __table_args__ = (Index("ix_policy_alerts_key", "owner_agency", "subject", "predicate"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_agency: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(String(12))
    dataset: Mapped[str] = mapped_column(String(80))
    predicate: Mapped[str] = mapped_column(String(80))
    distinct_params: Mapped[int] = mapped_column(Integer)
    params_seen: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    requesters: Mapped[list[str]] = mapped_column(JSON, default=list)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
