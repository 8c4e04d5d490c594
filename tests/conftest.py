"""Shared fixtures. The suite runs against SQLite by default and against PostgreSQL when
``ONCEONLY_TEST_PG_URL`` names a server (``./run-tests`` starts one from Debian's packages).

For PostgreSQL each test gets its own schema (fast to make and drop), so tests stay isolated
and can run in parallel.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from onceonly.config import Settings
from onceonly.demo import ports
from onceonly.demo.cli import needed_ports
from onceonly.demo.registries.population import REFERENCE_DATE as DEMO_REFERENCE_DATE
from onceonly.domain.roc_date import TODAY_ENV
from onceonly.outbound import ALLOWED_HOSTS_ENV

# Shared machines are noisy: judge properties by examples, never by how long one took.
hypothesis_settings.register_profile(
    "onceonly", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("onceonly")

# The demo's registries are as of a fixed day; validity predicates ("a low-income household
# today?") are asked on that day, so no expectation moves with the real calendar. Set in the
# environment so the servers and nodes the tests start as processes see it too.
os.environ.setdefault(TODAY_ENV, DEMO_REFERENCE_DATE.isoformat())
# Tests run their webhook receivers and nodes on loopback, which a deployment refuses unless
# the operator allows it (onceonly/outbound.py); tests of the refusal pass their own policy.
os.environ.setdefault(ALLOWED_HOSTS_ENV, "127.0.0.1,localhost")

PG_URL = os.environ.get("ONCEONLY_TEST_PG_URL")


def _pick_ports_apart_from_other_workers() -> None:
    """Each parallel test worker picks its servers' ports from its own share of the quiet
    ranges. A port is free when picked but bound seconds later (a federation builds its data
    in between); another worker picking it meanwhile took a node's port, and the node's tests
    then spoke to the other worker's node (a fresh-clone run failed so)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    index, shares = int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    span = max(port for _, port in needed_ports("127.0.0.1", 0)) + 1
    ports.QUIET_PORTS = ports.share_of(ports.QUIET_PORTS, index, shares)
    ports.DEMO_BASE_PORTS = ports.share_of(ports.DEMO_BASE_PORTS, index, shares, margin=span)


_pick_ports_apart_from_other_workers()


def post_login(client: Any, data: dict[str, str], url: str = "/login", **kwargs: Any) -> Any:
    """POST the sign-in form as a browser would: after loading the form, with its
    anti-forgery token (``csrf_token``, echoed from the cookie the form set)."""
    client.get("/login")
    token = client.cookies.get("onceonly_login_csrf") or ""
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def citizen_headers(db: Any, national_id: str, name: str) -> dict[str, str]:
    """The headers of a citizen signed in as with their card: a browser session (cookie and
    anti-forgery header), made directly; a citizen never has an API token."""
    from onceonly.accounts.sessions import create_session
    from onceonly.citizens.accounts import ensure_citizen

    signed_in = create_session(db, ensure_citizen(db, national_id, name).id, 60)
    return {"Cookie": f"onceonly_session={signed_in.token}", "X-CSRF-Token": signed_in.csrf_token}


BACKEND = "postgresql" if PG_URL else "sqlite"


def pytest_report_header() -> str:
    return f"onceonly database backend: {BACKEND}"


@contextlib.contextmanager
def pg_schema(prefix: str = "t") -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema on ``PG_URL`` and a URL whose connections use it, dropped
    with everything in it afterwards: tests running in parallel never meet."""
    assert PG_URL is not None
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield schema, f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of the backend under test, removed afterwards."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'onceonly.sqlite'}"
        return
    with pg_schema() as (_, url):
        yield url


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


# --- a prepared demo: catalog, registries, accounts, approved rules, signing keys -------------

DEMO_PEOPLE = 400


@dataclass(frozen=True)
class DemoEnv:
    settings: Settings
    manifest: Any

    def sample(self, key: str) -> str:
        return str(self.manifest.sample(key).national_id)


def _copy_rows(source_schema: str, target_url: str) -> None:
    """Copy every table's rows from the template schema and move the id sequences past them."""
    from onceonly.db import make_engine
    from onceonly.models import Base

    engine = make_engine(target_url)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name == "cache_versions":  # seeded by create_all; counters start afresh
                continue
            connection.execute(
                text(f'INSERT INTO "{table.name}" SELECT * FROM "{source_schema}"."{table.name}"')
            )
            for column in table.primary_key.columns:
                if column.autoincrement is True or (
                    column.autoincrement == "auto" and column.type.python_type is int
                ):
                    sequence = f"pg_get_serial_sequence('\"{table.name}\"', '{column.name}')"
                    connection.execute(
                        text(
                            f"SELECT setval({sequence}, "
                            f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, '
                            f"false) WHERE {sequence} IS NOT NULL"
                        )
                    )
    engine.dispose()


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str | None]]:
    """``onceonly demo``'s preparation, done once per test process; each test gets a copy."""
    from onceonly.demo.run import prepare_demo

    data_dir = tmp_path_factory.mktemp("demo-template") / "data"
    schema = None
    url = None
    admin = None
    if PG_URL:
        schema = f"demo_tpl_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    settings = Settings(data_dir=data_dir, database_url=url, secret_key="test-secret")
    prepare_demo(settings, people=DEMO_PEOPLE)
    try:
        yield data_dir, schema
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture
def demo_env(
    tmp_path: Path, empty_database_url: str, _demo_template: tuple[Path, str | None]
) -> DemoEnv:
    """A private copy of the prepared demo (data directory and database) for one test."""
    from onceonly.demo.registries.manifest import RegistryManifest

    template_dir, schema = _demo_template
    data_dir = tmp_path / "demo"
    shutil.copytree(template_dir, data_dir)
    if schema is None:
        url = f"sqlite:///{data_dir / 'onceonly.sqlite'}"
    else:
        _copy_rows(schema, empty_database_url)
        url = empty_database_url
    settings = Settings(data_dir=data_dir, database_url=url, secret_key="test-secret")
    return DemoEnv(settings, RegistryManifest.read(settings.registries_dir))


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _remember(connection: Any) -> None:
    _ENGINES.add(connection.engine)


@pytest.fixture(autouse=True)
def _return_pooled_connections() -> Iterator[None]:
    """On PostgreSQL, each test's apps and engines give their idle pooled connections back
    when it ends: many tests build an app and never dispose of it, and one worker's leftovers
    reached the server's 100 connections. Disposing closes only idle connections; an engine
    a fixture keeps opens new ones when next used."""
    yield
    if os.environ.get("ONCEONLY_TEST_PG_URL"):
        for engine in list(_ENGINES):
            if engine.dialect.name == "postgresql":
                engine.dispose()
