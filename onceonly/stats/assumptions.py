"""The assumptions the savings figures (:func:`onceonly.stats.service.savings`) rest on:
how many trips a paper transcript costs the citizen, how long a trip takes, how long a
paper transcript takes to arrive. Node-wide, stored in ``stats_assumptions`` (each value
its default until an administrator of the platform changes it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import Scope
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.stats.models import StatsAssumption


@dataclass(frozen=True)
class Assumption:
    name: str
    default: float
    low: float
    high: float
    """Accepted values: ``low <= value <= high``."""


ASSUMPTIONS = (
    Assumption("trips_per_piece", 1.0, 0.0, 10.0),
    Assumption("minutes_per_trip", 60.0, 0.0, 1440.0),
    Assumption("paper_days", 3.0, 0.0, 60.0),
)
"""Defaults: each paper transcript is one trip to the office that issues it, an hour there and
back; a paper transcript takes three days, the middle of the report's 2-4 days for land data
(the clerk's 5 minutes online is measured here, not assumed)."""


@dataclass(frozen=True)
class Assumed:
    values: dict[str, float]
    updated_by: str | None
    updated_at: datetime | None
    """The latest change; ``None`` while every value is its default."""


def assumptions(session: Session) -> Assumed:
    """The values in force: each stored one, else its default."""
    stored = {a.name: a for a in session.scalars(select(StatsAssumption))}
    values = {a.name: stored[a.name].value if a.name in stored else a.default for a in ASSUMPTIONS}
    latest = max(stored.values(), key=lambda a: as_utc(a.updated_at), default=None)
    return Assumed(
        values,
        latest.updated_by if latest else None,
        as_utc(latest.updated_at) if latest else None,
    )


def set_assumptions(
    session: Session, values: dict[str, str], *, scope: Scope, by: str, lang: str | None = None
) -> Assumed:
    """Change the assumptions (node-wide, so only the platform's administrators may: one
    city's administrator would change every city's figures). Each value a number within its
    bounds, else a 422 naming it."""
    if not scope.operator:
        raise Problem(
            403, "forbidden", t("problem.forbidden", lang), t("stats.error.operator", lang)
        )
    parsed: dict[str, float] = {}
    errors: list[FieldError] = []
    for assumption in ASSUMPTIONS:
        text = (values.get(assumption.name) or "").strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not assumption.low <= value <= assumption.high:
            errors.append(
                FieldError(
                    assumption.name,
                    t("stats.error.assumption", lang, low=assumption.low, high=assumption.high),
                )
            )
        parsed[assumption.name] = value
    if errors:
        raise validation_problem(errors, lang)
    moment = utcnow()
    for name, value in parsed.items():
        row = session.get(StatsAssumption, name)
        if row is None:
            session.add(StatsAssumption(name=name, value=value, updated_by=by, updated_at=moment))
        elif row.value != value:
            row.value, row.updated_by, row.updated_at = value, by, moment
    session.flush()
    return assumptions(session)
