"""Tables of the cases capability: cases, their evidence, timeline, agencies, notifications.

Only :mod:`onceonly.cases.service` and :mod:`onceonly.cases.notifications` touch them.
``case_events`` is append-only (triggers reject UPDATE and DELETE, installed by migration
``0005_cases`` and, for ``create_all`` databases, by the DDL events below): the timeline is
the case's accountability record, so a step once written stays written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, make_append_only, utcnow

STATES = ("open", "gathering", "decided", "closed")
DECISIONS = ("approved", "rejected")
CHANNELS = ("email", "sms")
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class CaseCounter(Base):
    """The last number handed out per number prefix and ROC year; its UPDATE is the lock."""

    __tablename__ = "case_counters"

    prefix: Mapped[str] = mapped_column(String(24), primary_key=True)
    roc_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        CheckConstraint(f"decision IS NULL OR {_in('decision', DECISIONS)}", name="decision"),
        Index("ix_cases_agency_state", "agency", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    application_item: Mapped[str] = mapped_column(String(120), index=True)
    opening_agency: Mapped[str] = mapped_column(String(120))
    agency: Mapped[str] = mapped_column(String(120))
    """The agency whose queue holds the case now."""
    opened_by: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(12), index=True)
    """The citizen's national ID; null for an Open311 service request (a pothole has none)."""
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_mobile: Mapped[str | None] = mapped_column(String(16))
    contact_language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evidence_online: Mapped[int] = mapped_column(Integer, default=0)
    """Measure: required evidence held as valid online transcripts."""
    evidence_paper: Mapped[int] = mapped_column(Integer, default=0)
    """Measure: required evidence not held online (paper attached or still to bring)."""
    decision_seconds: Mapped[int | None] = mapped_column(Integer)
    """Measure: seconds from opening to the latest decision."""
    agencies_involved: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer)
    service_request_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    """The Open311 ``service_request_id`` this case handles (kept across relays). Last, where
    migration 0022 adds it."""

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CaseEvidence(Base):
    """One required piece of evidence of a case: online transcripts, a scanned paper, or
    still missing. Both may be present; online evidence that is valid wins."""

    __tablename__ = "case_evidence"
    __table_args__ = (UniqueConstraint("case_id", "evidence_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    evidence_type: Mapped[str] = mapped_column(String(80))
    dataset: Mapped[str] = mapped_column(String(80))
    paper_name_zh: Mapped[str] = mapped_column(String(200))
    paper_name_en: Mapped[str] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(20))
    """The exchange's status of the latest fetch; ``None`` before any fetch."""
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[bool | None] = mapped_column(Boolean)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    withheld_fields: Mapped[list[str]] = mapped_column(JSON)
    transcripts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    retry_after: Mapped[int | None] = mapped_column(Integer)
    fetched_by: Mapped[str | None] = mapped_column(String(64))
    fetched_agency: Mapped[str | None] = mapped_column(String(120))
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paper_filename: Mapped[str | None] = mapped_column(String(255))
    paper_path: Mapped[str | None] = mapped_column(String(500))
    """Relative to ``Settings.data_dir / "uploads"``."""
    paper_sha256: Mapped[str | None] = mapped_column(String(64))
    paper_size: Mapped[int | None] = mapped_column(Integer)
    paper_content_type: Mapped[str | None] = mapped_column(String(40))
    paper_attached_by: Mapped[str | None] = mapped_column(String(64))
    paper_attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cause: Mapped[str | None] = mapped_column(String(40))
    """Why the latest fetch failed when retrying cannot help (``EvidenceResult.cause``).
    Last, where the migration adds it: demo copies between schemas go column by column."""


class CaseKinRecord(Base):
    """A relative's kinship record (親等資料) fetched for a kinship chart of the case: asked of
    the household office that keeps it (on this node or another) through the exchange, under
    the case's purpose. Only people named by the case subject's own record, or by a record
    of one of them, may be asked (:mod:`onceonly.cases.kinship`)."""

    __tablename__ = "case_kin_records"
    __table_args__ = (UniqueConstraint("case_id", "national_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    national_id: Mapped[str] = mapped_column(String(12))
    named_by: Mapped[str] = mapped_column(String(12))
    """Whose record named this relative (the case subject, or a relative named by it)."""
    status: Mapped[str] = mapped_column(String(20))
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transcripts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    fetched_by: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseThingAnswer(Base):
    """One piece of an answer about a parcel, building or house number (not a person) asked
    at the counter under the case (:mod:`onceonly.cases.lookups`): kept as the exchange
    returned it, i.e. only the fields the owner's rule let out, with the signed transcripts.
    Asking about the same thing again replaces the piece."""

    __tablename__ = "case_thing_answers"
    __table_args__ = (UniqueConstraint("case_id", "about", "evidence_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``parcel``, ``building`` or ``address``."""
    about: Mapped[str] = mapped_column(String(300))
    """The thing in words, as the exchange names it (大灣段 0123-0004 地號)."""
    evidence_type: Mapped[str] = mapped_column(String(80))
    dataset: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    withheld_fields: Mapped[list[str]] = mapped_column(JSON)
    transcripts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    fetched_by: Mapped[str] = mapped_column(String(64))
    fetched_agency: Mapped[str | None] = mapped_column(String(120))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseAgency(Base):
    """Every agency a case has involved: ``handler`` (opened it or received it by relay) or
    ``owner`` (supplied evidence online). Read access and the agencies measure come from it."""

    __tablename__ = "case_agencies"
    __table_args__ = (CheckConstraint(_in("role", ("handler", "owner")), name="role"),)

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    agency: Mapped[str] = mapped_column(String(120), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


CARRIED_READ_KEY = ("case_id", "agency", "piece_kind", "piece_key", "piece_fetched_at")
"""What makes a ``carried_read`` event unique: one agency's first read of one fetch of one
piece of one case (:mod:`onceonly.cases.holding`)."""


class CaseEvent(Base):
    """One step of a case's timeline; append-only."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index(
            "uq_case_events_carried_read",
            *CARRIED_READ_KEY,
            unique=True,
            sqlite_where=text("piece_kind IS NOT NULL"),
            postgresql_where=text("piece_kind IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    """Username, or ``system`` for steps nobody took by hand (notifications)."""
    agency: Mapped[str | None] = mapped_column(String(120))
    state_from: Mapped[str | None] = mapped_column(String(16))
    state_to: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    piece_kind: Mapped[str | None] = mapped_column(String(16))
    """A ``carried_read``'s piece: ``evidence``, ``scan``, ``lookup`` or ``kin``; with the
    two below, its unique key (``uq_case_events_carried_read``), so two clerks of an agency
    opening the case at once write it once. Null for every other step, and for the reads
    written before migration 0030 (their details say the same)."""
    piece_key: Mapped[str | None] = mapped_column(String(120))
    """Which piece of its kind: an evidence type, an answer's or a record's id."""
    piece_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the piece read was fetched (a scan: attached); a later fetch is read anew."""


class Notification(Base):
    """One message to the citizen about one step, by one channel, and how its delivery went."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsOutboxMessage(Base):
    """What the default SMS provider "sent": administrators read it instead of a phone."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to: Mapped[str] = mapped_column(String(16), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


make_append_only(CaseEvent)  # migration 0005 has its own frozen copy
