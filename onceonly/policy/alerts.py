"""Alerts for an owner's auditors: one citizen asked about with varied predicate parameters.

Parameters are fixed by the rule or the catalog (``onceonly.policy.predicates``), so the only
ways left to vary them are a rule listing several values, or naming items whose statutory
values differ. Each is legitimate once; asked about one citizen with
:data:`DISTINCT_AFTER` or more different parameter sets within :data:`WINDOW`, it is the
shape of a bisection for the value behind the yes/no, and the auditors of the owner's
jurisdiction are told. The asks are read from the audit log, which has every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import Scope
from onceonly.audit.log import predicate_asks
from onceonly.db import as_utc, utcnow
from onceonly.policy.models import PredicateAlert

WINDOW = timedelta(days=30)
DISTINCT_AFTER = 3
"""Different parameter sets about one citizen, one predicate and one owner that raise an
alert: two items with different statutory thresholds are normal, a third is a pattern."""


@dataclass(frozen=True)
class Ask:
    owner: str
    dataset: str
    predicate: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class AlertView:
    id: int
    owner_agency: str
    subject: str
    dataset: str
    predicate: str
    distinct_params: int
    params_seen: list[dict[str, Any]]
    requesters: list[str]
    items: list[str]
    first_raised_at: datetime
    last_raised_at: datetime


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, ensure_ascii=False)


def _past(
    session: Session, subject: str, ask: Ask, since: datetime
) -> list[tuple[str, str | None, str | None]]:
    """(parameters, requesting agency, item) of the earlier allowed asks of ``ask``'s
    predicate about ``subject`` at ``ask.owner`` since ``since``: each different one once,
    all of them. (The newest 500 asks once were read: asking one value 500 times between
    two others pushed the first out of sight. Distinct rows cannot be multiplied that way.)"""
    asks = predicate_asks(
        session, subject=subject, dataset=ask.dataset, predicate=ask.predicate, since=since
    )
    return [
        (_key(params), agency, item)
        for params, agency, item, owners in asks
        if ask.owner in (owners or "").split(",")
    ]


def _patterns(
    session: Session, subject: str, asks: Sequence[Ask], now: datetime
) -> list[
    tuple[tuple[str, str, str], list[Ask], list[tuple[str, str | None, str | None]], list[str]]
]:
    """(owner, dataset, predicate), its asks in this request, the earlier asks and every
    different parameter set, for each owner's predicate the asks make the pattern for."""
    grouped: dict[tuple[str, str, str], list[Ask]] = {}
    for ask in asks:
        grouped.setdefault((ask.owner, ask.dataset, ask.predicate), []).append(ask)
    found = []
    for key, same in grouped.items():
        past = _past(session, subject, same[0], now - WINDOW)
        seen = list(dict.fromkeys([p for p, _, _ in past] + [_key(a.params) for a in same]))
        if len(seen) >= DISTINCT_AFTER:
            found.append((key, same, past, seen))
    return found


def makes_a_pattern(
    session: Session, subject: str, asks: Sequence[Ask], now: datetime | None = None
) -> bool:
    """Whether :func:`note_asks` would raise anything: read only, so it can run in the
    request's reading session, and the write transaction is opened only when it would."""
    return bool(_patterns(session, subject, asks, now or utcnow()))


def note_asks(
    session: Session,
    subject: str,
    requester_agency: str,
    item: str,
    asks: Sequence[Ask],
    now: datetime | None = None,
) -> list[AlertView]:
    """Raise (or bring up to date) the alert of each owner's predicate the asks make the
    pattern for, counting the asks of this request together with the earlier ones (one
    request may ask a predicate once per listed value); returns them."""
    now = now or utcnow()
    raised = []
    for (owner, _, predicate), same, past, seen in _patterns(session, subject, asks, now):
        requesters = sorted({a for _, a, _ in past if a} | {requester_agency})
        items = sorted({i for _, _, i in past if i} | {item})
        alert = session.scalars(
            select(PredicateAlert).where(
                PredicateAlert.owner_agency == owner,
                PredicateAlert.subject == subject,
                PredicateAlert.predicate == predicate,
                PredicateAlert.last_raised_at >= now - WINDOW,
            )
        ).first()
        if alert is None:
            alert = PredicateAlert(
                owner_agency=owner,
                subject=subject,
                dataset=same[0].dataset,
                predicate=predicate,
                first_raised_at=now,
            )
            session.add(alert)
        alert.distinct_params = len(seen)
        alert.params_seen = [json.loads(p) for p in seen]
        alert.requesters = requesters
        alert.items = items
        alert.last_raised_at = now
        session.flush()
        raised.append(_view(alert))
    return raised


def _view(row: PredicateAlert) -> AlertView:
    return AlertView(
        id=row.id,
        owner_agency=row.owner_agency,
        subject=row.subject,
        dataset=row.dataset,
        predicate=row.predicate,
        distinct_params=row.distinct_params,
        params_seen=list(row.params_seen or []),
        requesters=list(row.requesters or []),
        items=list(row.items or []),
        first_raised_at=as_utc(row.first_raised_at),
        last_raised_at=as_utc(row.last_raised_at),
    )


def list_alerts(session: Session, scope: Scope, limit: int = 200) -> list[AlertView]:
    """The alerts about owners in the scope's tenant, newest first: the owner's auditors'
    queue. Nobody else's owners, and none at all for a scope without a tenant."""
    rows = session.scalars(
        select(PredicateAlert)
        .where(scope.agency_condition(PredicateAlert.owner_agency))
        .order_by(PredicateAlert.last_raised_at.desc(), PredicateAlert.id.desc())
        .limit(limit)
    )
    return [_view(row) for row in rows]
