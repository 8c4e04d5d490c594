"""A service request's case is named by its service type, never by the code it keeps as its
application item: the counter's timeline says "Opened the case (Fallen tree)" and
「收件，建立案件（路樹倒塌）」, not "(fallen-tree)"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts import passwords
from onceonly.accounts.users import create_user
from onceonly.cases import service as cases
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


def test_a_service_types_name_is_found_by_its_code(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        assert cases.item_name(db, "streetlight-out", "zh-TW") == "路燈故障"
        assert cases.item_name(db, "streetlight-out", "en") == "Street light out"
        assert cases.item_name(db, "public-housing-low-income", "en").startswith("Waiting list")
        assert cases.item_name(db, "no-such-thing", "en") == "no-such-thing"


def _timeline(page: str) -> str:
    section = page.split('id="timeline-title"', 1)[1]
    return " ".join(re.sub(r"<[^>]+>", " ", section).split())


def test_the_timeline_names_the_service_not_its_code(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        create_user(db, "pwd-clerk", PASSWORD, "clerk", "taipei-city.public_works", "工務局承辦")
        view = service.create_request(
            db,
            jurisdiction="taipei-city",
            service_code="fallen-tree",
            fields={"address_string": "臺北市中山區民生東路二段", "description": "倒樹"},
            attributes={"blocking_road": ["yes"]},
            filed_by=Filer(kind="hotline", name="hotline-1"),
        )
        db.commit()
    number = view.case_number
    with TestClient(create_app(settings)) as client:
        post_login(client, {"username": "pwd-clerk", "password": PASSWORD, "next": "/"})
        chinese = _timeline(client.get(f"/counter/cases/{number}").text)
        english = _timeline(client.get(f"/counter/cases/{number}?lang=en").text)
        printed = client.get(f"/counter/cases/{number}/print?lang=en").text
    assert "收件，建立案件（路樹倒塌）" in chinese, chinese
    assert "Opened the case (Fallen tree)" in english, english
    assert "Opened the case (Fallen tree)" in printed
    assert "fallen-tree" not in english and "fallen-tree" not in chinese
