from collections.abc import Iterator

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases.models import Case, CaseEvidence
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.notify.models import Delivery, LifeEvent
from onceonly.stats import cli as stats_cli
from onceonly.stats import routes as stats_routes
from tests.conftest import DemoEnv
from tests.counter.conftest import demo_app, visit
from tests.stats.support import SETTLED, Clock

__all__ = ["cli_env", "clock", "demo_app", "factory", "visit"]


@pytest.fixture
def factory(demo_env: DemoEnv) -> Iterator[sessionmaker[Session]]:
    """Sessions on the demo's database, emptied of cases and life events: each test seeds
    only the history it counts."""
    engine = make_engine(demo_env.settings.resolved_database_url)
    made = make_session_factory(engine)
    with transaction(made) as db:
        db.execute(delete(CaseEvidence))
        db.execute(delete(Case))
        db.execute(delete(Delivery))
        db.execute(delete(LifeEvent))
    yield made
    engine.dispose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The moment the public statistics take for now (their pages', API's and export
    command's clock), :data:`SETTLED` until a test moves it: ``clock.now = ...``."""
    frozen = Clock(SETTLED)
    monkeypatch.setattr(stats_routes, "utcnow", lambda: frozen.now)
    monkeypatch.setattr(stats_cli, "utcnow", lambda: frozen.now)
    return frozen


@pytest.fixture
def cli_env(demo_env: DemoEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoEnv]:
    """``onceonly stats export`` run against the test's demo (its settings from the
    environment, as on a deployment)."""
    monkeypatch.delenv("ONCEONLY_CONFIG", raising=False)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(demo_env.settings.data_dir))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", demo_env.settings.resolved_database_url)
    yield demo_env
