"""Fixtures: databases holding the packaged catalog, and a scratch copy of the YAML set.

Read-only tests share one loaded database per module (``shared_db``): loading the catalog
takes a noticeable fraction of a second, and they never change it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from onceonly.catalog.loader import DATA_DIR, load_catalog
from onceonly.db import make_engine, make_session_factory
from tests.conftest import PG_URL


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def loaded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Session factory of a fresh database into which the packaged catalog was loaded."""
    with sessions() as session:
        load_catalog(session)
    return sessions


@pytest.fixture
def db(loaded: sessionmaker[Session]) -> Iterator[Session]:
    """A session on a fresh database holding the packaged catalog (free to change)."""
    with loaded() as session:
        yield session


@pytest.fixture(scope="module")
def shared_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per module holding every table and the packaged catalog."""
    from onceonly.models import Base

    if PG_URL:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'onceonly.sqlite'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as session:
        load_catalog(session)
    engine.dispose()
    yield url
    if PG_URL:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def shared_sessions(shared_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(shared_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def shared_db(shared_sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session on the module's catalog database; tests must not change it."""
    with shared_sessions() as session:
        yield session
        session.rollback()


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A writable copy of the packaged YAML set, for tests that break it."""
    target = tmp_path / "catalog"
    shutil.copytree(DATA_DIR, target)
    return target
