"""The pull feed, for agencies that cannot accept inbound calls.

Each pull-mode agency has one feed; rows get the agency's next position in the transaction
that records the event, under a lock on the agency's counter, so positions become visible in
increasing order and a cursor never passes over a row that is still being committed. The
cursor is the last position the agency has stored: asking with ``cursor=n`` confirms receipt
of everything up to ``n`` (those rows become ``delivered``) and returns what follows, in order.
Processing is confirmed separately with ``POST /api/v1/notify/acks``.

A pull row without a position is in no feed: it is never served nor confirmed. Migration
``0031_improper_approvals_revoked`` took so out of the feed the rows of subscriptions
approved by their own agency or by an agency system's account (refused since).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from onceonly.db import utcnow
from onceonly.notify.models import Delivery

MAX_LIMIT = 500


@dataclass(frozen=True)
class FeedPage:
    events: list[dict[str, Any]]
    next_cursor: int
    """Pass this as ``cursor`` next time; equal to the request's cursor when nothing is new."""


def read_feed(
    session: Session, agency_code: str, cursor: int = 0, limit: int = 100, *, confirm: bool = True
) -> FeedPage:
    """Events for ``agency_code`` after ``cursor``, oldest first; ``confirm``: the cursor
    confirms receipt of everything up to it (the agency's system pulling), else nothing
    changes (a person looking)."""
    limit = max(1, min(limit, MAX_LIMIT))
    cursor = max(0, cursor)
    if cursor and confirm:
        now = utcnow()
        session.execute(
            update(Delivery)
            .where(
                Delivery.agency_code == agency_code,
                Delivery.mode == "pull",
                Delivery.feed_position <= cursor,
                Delivery.status == "pending",
            )
            .values(status="delivered", delivered_at=now, attempts=Delivery.attempts + 1)
        )
    rows = list(
        session.scalars(
            select(Delivery)
            .where(
                Delivery.agency_code == agency_code,
                Delivery.mode == "pull",
                Delivery.feed_position > cursor,
            )
            .order_by(Delivery.feed_position)
            .limit(limit)
        )
    )
    events = [{**row.payload, "position": row.feed_position} for row in rows]
    next_cursor = rows[-1].feed_position if rows else cursor
    return FeedPage(events=events, next_cursor=int(next_cursor or cursor))
