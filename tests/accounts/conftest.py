"""Fixtures for the accounts tests: a database session, the full app and signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from onceonly.accounts import passwords
from onceonly.accounts.password_rules import PASSWORD_CHANGE_PATH
from onceonly.accounts.users import UserView, create_user
from onceonly.catalog.loader import load_catalog
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.web.app import create_app
from tests.conftest import post_login

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Still Argon2id, with parameters cheap enough for hundreds of sign-ins per test run."""


@pytest.fixture(autouse=True)
def fast_password_hashing() -> Iterator[None]:
    previous = passwords.set_hasher(FAST_HASHER)
    yield
    passwords.set_hasher(previous)


@pytest.fixture(autouse=True)
def catalog_loaded(database_url: str) -> None:
    """Accounts are made only for agencies in the catalog, as on a real node."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        load_catalog(session)
        session.commit()
    engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    try:
        yield session
        session.commit()
    finally:
        session.close()
        engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def make_user(settings: Settings) -> Callable[..., UserView]:
    """Create and commit an account through the service (as the CLI would): a person's, with
    :data:`PASSWORD`, or with ``system=True`` an agency system's, with none."""
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)

    def make(
        username: str,
        role: str = "clerk",
        agency: str = "taipei-city.land_office",
        *,
        system: bool = False,
    ):
        password = None if system else PASSWORD
        with factory() as session:
            user = create_user(session, username, password, role, agency, "測試人員")
            session.commit()
            return user

    return make


def login(client: TestClient, username: str, password: str = PASSWORD, next: str = "/") -> str:
    """Sign in through the form; returns the session's CSRF token read from /account (from
    the change-password page, the only one open, when the password is temporary)."""
    response = post_login(
        client, url="/login", data={"username": username, "password": password, "next": next}
    )
    assert response.status_code == 303, response.text
    temporary = response.headers["location"] == PASSWORD_CHANGE_PATH
    page = client.get(PASSWORD_CHANGE_PATH if temporary else "/account")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the account page offers a sign-out form with the CSRF token"
    return match.group(1)
