"""A :class:`~onceonly.prepared.Prepared` statement writes and reads exactly what the same
statement does through ``session.execute``: the evidence path's audit entries, case facts and
cache counters go through it, so a time that came back eight hours off or a JSON value that
came back as text would break the audit chain's hashes or a case check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, registry

from onceonly.db import UTCDateTime, as_utc, make_engine
from onceonly.prepared import Prepared
from tests.conftest import PG_URL, pg_schema

_META = MetaData()
_THINGS = Table(
    "prepared_things",
    _META,
    Column("id", Integer, primary_key=True),
    Column("name", String(200)),
    Column("at", UTCDateTime),
    Column("doc", JSON),
    Column("blob", LargeBinary),
    Column("count", Integer, nullable=False, default=0),
)


class _Thing:
    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)


registry().map_imperatively(_Thing, _THINGS)


_INSERT = Prepared(insert(_THINGS))
_BY_ID = Prepared(select(_THINGS).where(_THINGS.c.id == bindparam("id")))
_SINCE = Prepared(select(_THINGS.c.id).where(_THINGS.c.at >= bindparam("since")))
_BUMP = Prepared(
    update(_THINGS)
    .where(_THINGS.c.id == bindparam("id"))
    .values(count=_THINGS.c.count + bindparam("by"))
    .returning(_THINGS.c.count, _THINGS.c.name)
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Made once for the module (Hypothesis runs a test many times); on PostgreSQL in a
    schema of its own, as every test's database is, so parallel workers never meet."""
    if not PG_URL:
        made = make_engine(f"sqlite:///{tmp_path_factory.mktemp('prepared') / 'things.sqlite'}")
        _META.create_all(made)
        yield made
        made.dispose()
        return
    with pg_schema() as (_, url):
        made = make_engine(url)
        _META.create_all(made)
        yield made
        made.dispose()


_zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
_times = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(1912, 1, 1), max_value=datetime(2200, 1, 1)),
    _zones,
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_rows = st.fixed_dictionaries(
    {
        "name": st.text(max_size=40).filter(lambda s: "\x00" not in s),
        "at": _times,
        "doc": st.none() | st.dictionaries(st.text(max_size=8), _json, max_size=4),
        "blob": st.binary(max_size=64),
        "count": st.integers(0, 1000),
    }
)


def _row(number: int, **values: Any) -> dict[str, Any]:
    return {"id": number, "name": "n", "at": None, "doc": None, "blob": None, "count": 0} | values


_STORED = text(
    "SELECT name, CAST(at AS TEXT), at IS NULL, CAST(doc AS TEXT), doc IS NULL, blob, count "
    "FROM prepared_things WHERE id = :id"
)
"""A row as the database holds it: a JSON null must be stored as SQLAlchemy stores it (the
text ``null``, not SQL NULL), or an auditor's ``IS NULL`` finds some rows and not others."""


@given(rows=st.lists(_rows, min_size=1, max_size=4))
def test_rows_written_and_read_match_the_orm_path(
    engine: Engine, rows: list[dict[str, Any]]
) -> None:
    with Session(engine) as session:
        start = session.scalar(select(_THINGS.c.id).order_by(_THINGS.c.id.desc()).limit(1)) or 0
        ours = [{"id": start + 2 * n, **row} for n, row in enumerate(rows, start=1)]
        theirs = [{**row, "id": row["id"] - 1} for row in ours]
        _INSERT.many(session, ours)
        session.execute(insert(_THINGS), theirs)
        session.commit()
        for mine, orm in zip(ours, theirs, strict=True):
            stored = session.execute(_STORED, {"id": mine["id"]}).one()
            assert stored == session.execute(_STORED, {"id": orm["id"]}).one()
            through_orm = session.execute(select(_THINGS).where(_THINGS.c.id == mine["id"])).one()
            (through_driver,) = _BY_ID.rows(session, {"id": mine["id"]})
            assert through_driver == tuple(through_orm)
            assert through_driver[3] == mine["doc"] and through_driver[4] == mine["blob"]
            if mine["at"] is not None:  # the same instant, whatever its zone
                assert as_utc(through_driver[2]) == mine["at"]


def test_a_refused_write_is_sqlalchemys_error_as_through_the_session(engine: Engine) -> None:
    """Callers (and the CLI's words for database trouble) catch SQLAlchemy's errors."""
    with Session(engine) as session:
        _INSERT.many(session, [_row(40_000_001)])
        session.commit()
        with pytest.raises(IntegrityError):
            _INSERT.many(session, [_row(40_000_001)])
        session.rollback()


def test_a_time_bound_compares_instants_not_digits(engine: Engine) -> None:
    """10:00 in Taipei is 02:00 UTC: a bound given in one zone finds rows stored from another."""
    taipei = timezone(timedelta(hours=8))
    with Session(engine) as session:
        at = datetime(2026, 1, 1, 10, tzinfo=taipei)
        _INSERT.many(session, [_row(10_000_001, at=at)])
        session.commit()

        def since(hour: int, minute: int) -> set[int]:
            bound = datetime(2026, 1, 1, hour, minute, tzinfo=UTC)
            return {row[0] for row in _SINCE.rows(session, {"since": bound})}

        assert 10_000_001 not in since(2, 30)
        assert 10_000_001 in since(1, 30)


def test_an_update_returns_its_columns_and_stays_in_the_sessions_transaction(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        _INSERT.many(session, [_row(20_000_001, count=5)])
        session.commit()
        assert _BUMP.rows(session, {"id": 20_000_001, "by": 3}) == [(8, "n")]
        session.rollback()
        assert _BUMP.rows(session, {"id": 20_000_001, "by": 1}) == [(6, "n")]
        session.commit()
    with Session(engine) as session:
        assert _BY_ID.rows(session, {"id": 20_000_001})[0][5] == 6


def test_a_missing_parameter_is_refused_not_sent_as_null(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(KeyError):
        _BUMP.rows(session, {"id": 1})


def test_a_statement_that_expands_a_list_is_refused(engine: Engine) -> None:
    listed = Prepared(
        select(_THINGS.c.id).where(_THINGS.c.id.in_(bindparam("ids", expanding=True)))
    )
    with Session(engine) as session, pytest.raises(ValueError, match="IN lists"):
        listed.rows(session, {"ids": [1, 2]})


def test_an_operators_query_listener_still_sees_every_statement(engine: Engine) -> None:
    """Tracing or query logging hooked on the engine must not lose the hottest statements:
    with a listener present they go through SQLAlchemy, with the same results."""
    taipei = timezone(timedelta(hours=8))
    with Session(engine) as session:
        quiet = [_row(30_000_001, at=datetime(2026, 5, 1, 9, tzinfo=taipei), doc={"a": [1]})]
        _INSERT.many(session, quiet)
        session.commit()
        unheard = _BY_ID.rows(session, {"id": 30_000_001})
    seen: list[str] = []

    def listen(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with Session(engine) as session:
            _INSERT.many(session, [_row(30_000_002, at=quiet[0]["at"], doc={"a": [1]})])
            heard = _BY_ID.rows(session, {"id": 30_000_001})
            bumped = _BUMP.rows(session, {"id": 30_000_002, "by": 2})
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert heard == unheard and bumped == [(2, "n")]
    assert sum("prepared_things" in statement for statement in seen) == 3


def test_objects_pending_in_the_session_are_flushed_first(engine: Engine) -> None:
    """As ``session.execute`` does: a statement sees what the caller added before it."""
    with Session(engine) as session:
        session.execute(insert(_THINGS).values(_row(50_000_001)))
        session.add(_Thing(**_row(50_000_002)))
        assert [r[0] for r in _BY_ID.rows(session, {"id": 50_000_002})] == [50_000_002]
        session.rollback()
