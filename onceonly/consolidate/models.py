"""The clerical review queue of record linkage: pairs scored near the plan's threshold wait
here for a person to say "same" or "different", and the decision is reused on every later
run of the same plan, so nobody reviews a pair twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, utcnow

PENDING = "pending"
MATCH = "match"
NON_MATCH = "non_match"
DECISIONS = (MATCH, NON_MATCH)


class ReviewItem(Base):
    __tablename__ = "consolidate_review_items"
    __table_args__ = (
        UniqueConstraint("plan", "left_id", "right_id", name="uq_consolidate_review_pair"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan: Mapped[str] = mapped_column(String(60), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(120))
    """The merged jurisdiction whose civil affairs clerks may decide."""
    left_id: Mapped[str] = mapped_column(String(200))
    right_id: Mapped[str] = mapped_column(String(200))
    """Source record ids (``<source>:<legacy id>``), ``left_id < right_id``."""
    match_probability: Mapped[float] = mapped_column(Float)
    left: Mapped[dict[str, Any]] = mapped_column(JSON)
    right: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=PENDING, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
