"""The clerical review queue as service functions (CLI, web page and pipeline share them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onceonly.consolidate.models import DECISIONS, MATCH, PENDING, ReviewItem
from onceonly.db import utcnow


class ReviewError(ValueError):
    """A decision that cannot be recorded (unknown item, unknown decision)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Candidate:
    """A pair scored inside the review band."""

    left_id: str
    right_id: str
    match_probability: float
    left: Mapping[str, Any]
    right: Mapping[str, Any]


def sync_queue(
    session: Session, plan: str, jurisdiction: str, candidates: Iterable[Candidate]
) -> int:
    """Queue the pairs not seen before; a pair already queued keeps its decision (and its
    record values are refreshed while still pending). Returns how many were added."""
    existing = {
        (row.left_id, row.right_id): row
        for row in session.scalars(select(ReviewItem).where(ReviewItem.plan == plan))
    }
    added = 0
    for c in candidates:
        left_id, right_id = sorted((c.left_id, c.right_id))
        left, right = (c.left, c.right) if left_id == c.left_id else (c.right, c.left)
        row = existing.get((left_id, right_id))
        if row is None:
            row = ReviewItem(
                plan=plan,
                jurisdiction=jurisdiction,
                left_id=left_id,
                right_id=right_id,
                match_probability=c.match_probability,
                left=dict(left),
                right=dict(right),
                status=PENDING,
                created_at=utcnow(),
            )
            session.add(row)
            existing[(left_id, right_id)] = row
            added += 1
        elif row.status == PENDING:
            row.match_probability = c.match_probability
            row.left, row.right = _keep_fix(row.left, left), _keep_fix(row.right, right)
    session.flush()
    return added


HELD = "_held"
"""In a queued record's values: why the row is held back from the load (a list of
``{field, check, value, zh, en}``); present only for held-back rows."""
FIX = "_fix"
"""In a queued record's values: what a clerk typed for its failed fields (field -> text)."""


def _keep_fix(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with the clerk's fix of ``old`` carried over (a rerun must not lose it)."""
    values = dict(new)
    if FIX in old:
        values[FIX] = old[FIX]
    return values


def held_fields(values: Mapping[str, Any]) -> list[str]:
    """The fields a held-back record failed on, in order, each once."""
    return list(dict.fromkeys(r["field"] for r in values.get(HELD) or [] if r.get("field")))


def fix(
    session: Session, item_id: int, record_id: str, values: Mapping[str, str], fixed_by: str
) -> ReviewItem:
    """Record what a clerk typed for a held-back record's failed fields; the next run puts it
    through the field's normalisers and, if it reads, releases the row to the load."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ReviewError("consolidate.review.unknown_item", id=item_id)
    side = "left" if item.left_id == record_id else "right" if item.right_id == record_id else ""
    record = getattr(item, side) if side else {}
    allowed = set(held_fields(record))
    if not allowed:
        raise ReviewError("consolidate.review.not_held", id=record_id)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ReviewError("consolidate.review.not_held_field", field=", ".join(unknown))
    typed = {k: v.strip() for k, v in values.items() if v.strip()}
    if not typed:
        raise ReviewError("consolidate.review.empty_fix")
    setattr(item, side, {**record, FIX: {**record.get(FIX, {}), **typed}, "_fixed_by": fixed_by})
    session.flush()
    return item


def fixes(session: Session, plan: str) -> dict[str, dict[str, str]]:
    """Record id -> field -> the value a clerk typed, for every fixed held-back record."""
    found: dict[str, dict[str, str]] = {}
    for item in session.scalars(select(ReviewItem).where(ReviewItem.plan == plan)):
        for record_id, record in ((item.left_id, item.left), (item.right_id, item.right)):
            if record.get(FIX):
                found.setdefault(record_id, {}).update(record[FIX])
    return found


def decisions(session: Session, plan: str) -> dict[tuple[str, str], bool]:
    """(left id, right id) -> same entity?, for every decided pair of ``plan``."""
    rows = session.execute(
        select(ReviewItem.left_id, ReviewItem.right_id, ReviewItem.status).where(
            ReviewItem.plan == plan, ReviewItem.status != PENDING
        )
    )
    return {(left, right): status == MATCH for left, right, status in rows}


def pending(session: Session, plan: str | None = None, limit: int = 50) -> list[ReviewItem]:
    """Undecided pairs, the most uncertain (closest to 0.5) first."""
    query = select(ReviewItem).where(ReviewItem.status == PENDING)
    if plan is not None:
        query = query.where(ReviewItem.plan == plan)
    query = query.order_by(func.abs(ReviewItem.match_probability - 0.5), ReviewItem.id)
    return list(session.scalars(query.limit(limit)))


def of_jurisdiction(session: Session, jurisdiction: str) -> list[ReviewItem]:
    """Every pair queued for ``jurisdiction``, decided or not, the most uncertain first."""
    query = (
        select(ReviewItem)
        .where(ReviewItem.jurisdiction == jurisdiction)
        .order_by(func.abs(ReviewItem.match_probability - 0.5), ReviewItem.id)
    )
    return list(session.scalars(query))


def counts(session: Session, plan: str | None = None) -> dict[str, int]:
    query = select(ReviewItem.status, func.count()).group_by(ReviewItem.status)
    if plan is not None:
        query = query.where(ReviewItem.plan == plan)
    return {status: n for status, n in session.execute(query)}


def decide(session: Session, item_id: int, decision: str, decided_by: str) -> ReviewItem:
    """Record ``decision`` (``match`` or ``non_match``) on one queued pair; it may be changed
    later, the latest decision counts."""
    if decision not in DECISIONS:
        raise ReviewError("consolidate.review.bad_decision", decision=decision)
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ReviewError("consolidate.review.unknown_item", id=item_id)
    item.status = decision
    item.decided_by = decided_by
    item.decided_at = utcnow()
    session.flush()
    return item
