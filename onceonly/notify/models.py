"""Tables of the notify capability: events, subscriptions, the delivery outbox, the
dead-letter queue and the messages the citizen portal shows.

Delivery rows carry the payload as minimised when the event was recorded, so what an agency
receives never depends on when it was delivered or on later changes to its subscription.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, utcnow


class CitizenSequence(Base):
    """The last sequence number given to a citizen's events; incremented in the event's own
    transaction, so a rolled-back event leaves no gap and concurrent events queue on the row."""

    __tablename__ = "notify_citizen_sequences"

    national_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class AgencyFeed(Base):
    """The last feed position given to a pull-mode agency; same locking idea as
    :class:`CitizenSequence`, so feed positions become visible in order and a cursor never
    skips a row that commits late."""

    __tablename__ = "notify_agency_feeds"

    agency_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_position: Mapped[int] = mapped_column(Integer)


class LifeEvent(Base):
    __tablename__ = "notify_events"
    __table_args__ = (UniqueConstraint("national_id", "seq", name="uq_notify_events_subject_seq"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    national_id: Mapped[str] = mapped_column(String(12), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(40))
    """``household_registration`` or ``citizen`` (a citizen-initiated report)."""
    jurisdiction: Mapped[str | None] = mapped_column(String(120))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Subscription(Base):
    __tablename__ = "notify_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(120), index=True)
    event_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    jurisdiction: Mapped[str | None] = mapped_column(String(120))
    """Only events about citizens registered in this jurisdiction; null for all."""
    legal_basis: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(8))
    """``push`` (webhook) or ``pull`` (feed)."""
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    """HMAC key for push signatures; shown to the agency once when requested."""
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(120))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One outbox row: one event for one subscription, from pending to delivered and processed
    (or dead after the last attempt)."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id", name="uq_notify_deliveries_event_sub"),
        Index("ix_notify_deliveries_due", "status", "next_attempt_at"),
        Index("ix_notify_deliveries_order", "subscription_id", "national_id", "seq"),
        Index("ix_notify_deliveries_feed", "agency_code", "feed_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(
        ForeignKey("notify_events.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("notify_subscriptions.id", ondelete="CASCADE")
    )
    agency_code: Mapped[str] = mapped_column(String(120))
    mode: Mapped[str] = mapped_column(String(8))
    national_id: Mapped[str] = mapped_column(String(12))
    seq: Mapped[int] = mapped_column(Integer)
    feed_position: Mapped[int | None] = mapped_column(Integer)
    """A pull row's place in its agency's feed; ``None`` for a push row, and for a pull row
    taken out of the feed (migration ``0031_improper_approvals_revoked``: never served)."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``delivered`` (received), ``processed`` (acknowledged) or ``dead``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeadLetter(Base):
    __tablename__ = "notify_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notify_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    dead_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replayed_by: Mapped[str | None] = mapped_column(String(120))


class CitizenMessage(Base):
    """A message for the citizen portal (e.g. "every agency has processed your report")."""

    __tablename__ = "citizen_messages"
    __table_args__ = (UniqueConstraint("event_id", "kind", name="uq_citizen_messages_event_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    national_id: Mapped[str] = mapped_column(String(12), index=True)
    event_id: Mapped[str | None] = mapped_column(ForeignKey("notify_events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    body_zh: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IntakeKey(Base):
    """An ``Idempotency-Key`` a reporting office sent with an event: the same key with the
    same body answers with the event first recorded; with another body it is refused."""

    __tablename__ = "notify_intake_keys"
    __table_args__ = (UniqueConstraint("caller", "key", name="uq_notify_intake_keys_caller_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller: Mapped[str] = mapped_column(String(120))
    """The reporting agency's code (keys are the caller's own namespace)."""
    key: Mapped[str] = mapped_column(String(200))
    body_hash: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(ForeignKey("notify_events.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventContact(Base):
    """Whom to tell when an event is done (the informant at the counter, or the citizen):
    given with the report, kept with the event and nowhere else."""

    __tablename__ = "notify_event_contacts"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("notify_events.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="zh-TW")


class Notice(Base):
    """A text message or e-mail telling the person an event is done (``all_processed``) or
    that an agency could not be told (``failed``); an outbox row, sent after it commits."""

    __tablename__ = "notify_notices"
    __table_args__ = (
        UniqueConstraint("event_id", "kind", "channel", name="uq_notify_notices_event_kind"),
        Index("ix_notify_notices_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("notify_events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    """``pending``, ``sending``, ``sent`` or ``failed`` (sent again by the next run)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MoveRelay(Base):
    """A move into this node's city from a city another federation node serves: the old
    city's node must record the 遷出 half for its own agencies. Written with the 遷入 in one
    transaction and sent by the notify worker until that node answers (``relayed``), refuses
    for good (``refused``), or turns out to be served here (``local``: the office records the
    遷出 half itself, as on a single node)."""

    __tablename__ = "notify_move_relays"
    __table_args__ = (Index("ix_notify_move_relays_due", "status", "next_attempt_at"),)

    event_id: Mapped[str] = mapped_column(
        ForeignKey("notify_events.id", ondelete="CASCADE"), primary_key=True
    )
    from_jurisdiction: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``relayed``, ``refused`` or ``local``. A relayed one is asked after
    (``polls``) until every agency there is done (``remote_done_at``)."""
    node_id: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_reference: Mapped[str | None] = mapped_column(String(20))
    """The 遷出 event's reference number at the old city's node."""
    remote_recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The agencies there that will be told, by name (Traditional Chinese)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    remote_statuses: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    """Each agency told there, ``{"name", "status"}``, as that node last answered."""
    remote_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When every agency there had processed it (or failed for good)."""
    polls: Mapped[int] = mapped_column(Integer, default=0)
    """How often that node was asked how its agencies stand since the relay."""
