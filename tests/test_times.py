"""Every stored time keeps its instant on both databases: SQLite keeps a value's digits and
drops its offset, so every model's time column converts to UTC first (``db.UTCDateTime``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime, select
from sqlalchemy.dialects import sqlite

from onceonly.db import UTCDateTime, as_utc, make_engine, make_session_factory, transaction
from onceonly.models import Base
from onceonly.notify.models import LifeEvent

TAIPEI = timezone(timedelta(hours=8))


def test_a_time_with_an_offset_comes_back_as_the_same_instant(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    sent = datetime(2026, 6, 30, 10, 0, tzinfo=TAIPEI)  # 02:00 UTC
    with transaction(sessions) as session:
        event = LifeEvent(
            id="00000000-0000-0000-0000-000000000001",
            seq=1,
            source="test",
            kind="death",
            national_id="A123456789",
            jurisdiction="taipei-city",
            payload={},
            occurred_at=sent,
            recorded_at=sent,
        )
        session.add(event)
        session.flush()
        ident = event.id
    with sessions() as session:
        back = session.scalar(select(LifeEvent.occurred_at).where(LifeEvent.id == ident))
        # and a comparison with an offset finds it at the right instant
        found = session.scalar(
            select(LifeEvent.id).where(LifeEvent.occurred_at >= sent - timedelta(minutes=1))
        )
    engine.dispose()
    assert back is not None and as_utc(back) == sent == datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
    assert found == ident


def test_every_time_column_of_every_model_stores_utc() -> None:
    """A new time column declared as a bare ``DateTime`` would bring the lost offset back."""
    bare = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, DateTime) and not isinstance(column.type, UTCDateTime)
    ]
    assert bare == []


@given(st.datetimes(timezones=st.timezones()))
def test_a_time_is_bound_as_its_utc_instant(value: datetime) -> None:
    bound = UTCDateTime().process_bind_param(value, sqlite.dialect())
    # ``==`` is False across zones for a time inside a fold, so compare the instants
    assert bound is not None and bound.timestamp() == value.timestamp()
    assert bound.utcoffset() == timedelta(0)
