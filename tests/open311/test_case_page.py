"""A service request's case at the counter: the request's location and description instead
of a national ID, decided and closed with the counter's own forms, the status following."""

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
from onceonly.open311 import service
from onceonly.open311.service import Filer
from onceonly.web.app import create_app
from tests.conftest import post_login

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    previous = passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.set_hasher(previous)


def test_the_clerk_sees_the_request_and_closes_it(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        create_user(db, "pwd-clerk", PASSWORD, "clerk", "taipei-city.public_works", "工務局承辦")
        view = service.create_request(
            db,
            jurisdiction="taipei-city",
            service_code="fallen-tree",
            fields={
                "address_string": "臺北市中山區民生東路二段<script>",
                "description": "倒樹擋住機車道",
                "first_name": "大同",
                "last_name": "林",
                "phone": "0911222333",
            },
            attributes={"blocking_road": ["yes"]},
            filed_by=Filer(kind="hotline", name="hotline-1"),
        )
        db.commit()
    number = view.case_number
    with TestClient(create_app(settings), follow_redirects=False) as client:
        post_login(client, {"username": "pwd-clerk", "password": PASSWORD, "next": "/"})
        queue = client.get("/counter")
        # said to be a service request, not shown as if it were a national ID
        assert f"市民服務請求 {view.service_request_id}" in queue.text
        page = client.get(f"/counter/cases/{number}")
        assert page.status_code == 200, page.text
        text = page.text
        assert "路樹倒塌" in text and view.service_request_id in text
        assert "倒樹擋住機車道" in text and "是否阻斷道路" in text
        assert "民生東路二段&lt;script&gt;" in text and "民生東路二段<script>" not in text
        assert "林大同" in text and "0911222333" in text
        assert f'action="/counter/cases/{number}/evidence"' not in text  # nothing to fetch
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', text)
        assert csrf
        decided = client.post(
            f"/counter/cases/{number}/decide",
            data={"csrf_token": csrf.group(1), "decision": "approved", "reason": "已移除倒樹"},
        )
        assert decided.status_code == 303, decided.text
        closed = client.post(f"/counter/cases/{number}/close", data={"csrf_token": csrf.group(1)})
        assert closed.status_code == 303, closed.text
        answer = client.get(
            f"/open311/v2/requests/{view.service_request_id}.json",
            params={"jurisdiction_id": "taipei-city"},
        ).json()[0]
        assert answer["status"] == "closed" and answer["status_notes"] == "已移除倒樹"
