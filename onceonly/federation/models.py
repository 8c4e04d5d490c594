"""The federation's own table: the nonces of signed requests other nodes sent here.

Kept in the node's database, not in memory, so that a request captured on the wire and
replayed after this node restarted is still refused while its time is inside the window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime

NONCE_MAX_LENGTH = 128


class SeenNonce(Base):
    """One nonce one peer used. The primary key (peer, nonce) is the unique constraint that
    makes insert-or-refuse atomic: of two concurrent requests with the same nonce, on SQLite or
    PostgreSQL, the database lets exactly one insert."""

    __tablename__ = "federation_nonces"

    peer: Mapped[str] = mapped_column(String(120), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(NONCE_MAX_LENGTH), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    """After this the request's own time is outside the window, so its signature is refused
    as ``clock_skew`` before the nonce is looked at: the row may go."""
