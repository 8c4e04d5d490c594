"""The alert on varied predicate parameters sees every different earlier ask, however many
asks of one value come in between."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from onceonly.audit.log import AuditRecord, append_batch
from onceonly.db import make_engine, make_session_factory, utcnow
from onceonly.policy import alerts

SUBJECT = "A123456789"
OWNER = "central.fia"
PREDICATE = "household_income_below"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def _asked(threshold: int) -> AuditRecord:
    return AuditRecord(
        event="evidence.request",
        actor_username="tpe-udd-clerk",
        actor_agency="taipei-city.urban_development",
        application_item="public-housing-low-income",
        subject=SUBJECT,
        dataset="income",
        predicate=PREDICATE,
        predicate_params={"threshold": threshold},
        owner_agency=OWNER,
    )


def test_asks_of_one_value_in_between_do_not_hide_the_others(session: Session) -> None:
    """Only the newest 500 asks were read: 500 asks of one value between two others pushed
    the first out of sight, and the third raised no alert."""
    append_batch(session, [_asked(15000)] + [_asked(19013)] * 600)
    ask = alerts.Ask(OWNER, "income", PREDICATE, {"threshold": 25000})
    raised = alerts.note_asks(
        session, SUBJECT, "taipei-city.urban_development", "public-housing-low-income", [ask]
    )
    assert [(a.subject, a.distinct_params) for a in raised] == [(SUBJECT, 3)]
    assert {p["threshold"] for p in raised[0].params_seen} == {15000, 19013, 25000}


def test_older_than_the_window_or_another_owner_does_not_count(session: Session) -> None:
    append_batch(session, [_asked(15000), _asked(19013)])
    ask = alerts.Ask("taipei-city.tax", "income", PREDICATE, {"threshold": 25000})
    assert alerts.note_asks(session, SUBJECT, "x", "y", [ask]) == []
    later = utcnow() + alerts.WINDOW + timedelta(days=1)
    ask = alerts.Ask(OWNER, "income", PREDICATE, {"threshold": 25000})
    assert alerts.note_asks(session, SUBJECT, "x", "y", [ask], now=later) == []
