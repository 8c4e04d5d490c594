"""The tenant administrator's Open311 key page: issue, list, revoke, only the city's own."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts import passwords
from onceonly.accounts.users import create_user
from onceonly.config import Settings
from onceonly.open311 import keys
from onceonly.web.app import create_app
from tests.conftest import post_login

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    previous = passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.set_hasher(previous)


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions() as db:
        for username, agency in (
            ("tpe-admin", "taipei-city.civil_affairs"),
            ("ntpc-admin", "new-taipei-city.civil_affairs"),
            ("central-admin", "central.moi_household"),
        ):
            create_user(db, username, PASSWORD, "admin", agency, "管理者")
        db.commit()
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


def _login(client: TestClient, username: str) -> str:
    client.cookies.clear()
    answer = post_login(client, {"username": username, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text
    page = client.get("/admin/open311/keys")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_a_city_admin_issues_and_revokes_its_own_keys_only(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    csrf = _login(client, "tpe-admin")
    issued = client.post(
        "/admin/open311/keys",
        data={"csrf_token": csrf, "app_name": "街道通", "daily_writes": "50", "daily_reads": ""},
    )
    assert issued.status_code == 201, issued.text
    plain = re.search(r'id="new-key" readonly value="(o311_[^"]+)"', issued.text)
    assert plain
    with sessions() as db:
        filer = keys.authenticate(db, plain.group(1), "taipei-city", write=True)
        assert filer.name == "街道通"
        key_id = keys.list_keys(db, "taipei-city")[0].id
        db.commit()
    bad = client.post(
        "/admin/open311/keys", data={"csrf_token": csrf, "app_name": "", "daily_writes": "-1"}
    )
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text

    other = _login(client, "ntpc-admin")
    assert "街道通" not in client.get("/admin/open311/keys").text
    refused = client.post(f"/admin/open311/keys/{key_id}/revoke", data={"csrf_token": other})
    assert refused.status_code == 404

    csrf = _login(client, "tpe-admin")
    revoked = client.post(f"/admin/open311/keys/{key_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    with sessions() as db:
        assert keys.list_keys(db, "taipei-city")[0].revoked_by == "tpe-admin"


def test_the_platform_admin_issues_no_citys_key(client: TestClient) -> None:
    client.cookies.clear()
    post_login(client, {"username": "central-admin", "password": PASSWORD, "next": "/"})
    assert client.get("/admin/open311/keys").status_code == 403
