"""Shared fixtures. The suite runs against SQLite by default and against PostgreSQL when
``ONCEONLY_TEST_PG_URL`` names a server (``./run-tests`` starts one from Debian's packages).

For PostgreSQL each test gets its own schema (fast to make and drop), so tests stay isolated
and can run in parallel.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from onceonly.config import Settings

# Shared machines are noisy: judge properties by examples, never by how long one took.
hypothesis_settings.register_profile(
    "onceonly", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("onceonly")

PG_URL = os.environ.get("ONCEONLY_TEST_PG_URL")
BACKEND = "postgresql" if PG_URL else "sqlite"


def pytest_report_header() -> str:
    return f"onceonly database backend: {BACKEND}"


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of the backend under test, removed afterwards."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'onceonly.sqlite'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database with every table of every capability.

    Made from the models for speed; ``tests/test_migrations.py`` proves the Alembic
    migrations build exactly the same schema.
    """
    from onceonly.db import make_engine
    from onceonly.models import Base

    engine = make_engine(empty_database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return empty_database_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    result = Settings(data_dir=data_dir, database_url=database_url, secret_key="test-secret")
    result.ensure_dirs()
    return result
