"""Tables of the open311 capability: service requests, their id counter, API keys and usage.

Only :mod:`onceonly.open311.service` and :mod:`onceonly.open311.keys` touch them. A request's
status is not stored here: it follows the case that handles it (cases capability).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime


class ServiceRequest(Base):
    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_request_id: Mapped[str] = mapped_column(String(40), unique=True)
    jurisdiction: Mapped[str] = mapped_column(String(120), index=True)
    service_code: Mapped[str] = mapped_column(String(60), index=True)
    case_number: Mapped[str | None] = mapped_column(String(40))
    """The case handling it on this node; null on a row pointing at another node."""
    held_by_node: Mapped[str | None] = mapped_column(String(120))
    """The federation node holding the case; null: this node."""
    token: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("open311_api_keys.id", ondelete="SET NULL"), index=True
    )
    filed_by: Mapped[str] = mapped_column(String(120))
    """``key:<id>`` for an app, the staff username for the hotline."""
    description: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    address_string: Mapped[str | None] = mapped_column(String(500))
    address_id: Mapped[str | None] = mapped_column(String(120))
    zipcode: Mapped[str | None] = mapped_column(String(10))
    media_url: Mapped[str | None] = mapped_column(String(2000))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Answers by attribute code: a string, or a list for a multivaluelist."""
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Personal: never in a public listing.
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    device_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(200))
    filed_in: Mapped[str | None] = mapped_column(String(120), index=True)
    """The city whose app or 1999 hotline filed it: that hotline finds it again after a
    transfer to another city, and no other city's hotline does."""


class RequestCounter(Base):
    """The last number handed out per jurisdiction and ROC year; its UPDATE is the lock."""

    __tablename__ = "open311_counters"

    prefix: Mapped[str] = mapped_column(String(24), primary_key=True)
    roc_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    """An app's key for one city; only the SHA-256 of the key is kept."""

    __tablename__ = "open311_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, shown in listings so people can tell keys apart."""
    app_name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(254))
    jurisdiction: Mapped[str] = mapped_column(String(120), index=True)
    daily_writes: Mapped[int] = mapped_column(Integer)
    daily_reads: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class KeyUsage(Base):
    """Calls counted per key and Taiwan day, against the key's quotas."""

    __tablename__ = "open311_key_usage"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("open311_api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reads: Mapped[int] = mapped_column(Integer)
    writes: Mapped[int] = mapped_column(Integer)
