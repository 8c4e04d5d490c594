"""API keys: per app and city, revocable, with daily quotas; personal fields never listed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.config import Settings
from onceonly.errors import Problem
from onceonly.open311 import keys
from onceonly.web.app import create_app
from tests.open311.conftest import T0

BASE = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PERSONAL = {
    "first_name": "美玲",
    "last_name": "陳",
    "email": "meiling@example.tw",
    "phone": "0987654321",
    "device_id": "device-7f3a",
    "account_id": "acct-5566",
}


def _issue(db: Session, city: str = "taipei-city", writes: int = 5, reads: int = 100) -> str:
    _, plain = keys.issue_key(
        db, jurisdiction=city, app_name="app", issued_by="admin",
        daily_writes=writes, daily_reads=reads, now=T0,
    )  # fmt: skip
    return plain


def test_a_key_is_checked_and_counted(db: Session) -> None:
    plain = _issue(db, writes=2)
    filer = keys.authenticate(db, plain, "taipei-city", write=True, now=T0)
    assert filer.kind == "api_key" and filer.jurisdiction == "taipei-city"
    keys.authenticate(db, plain, "taipei-city", write=True, now=T0)
    with pytest.raises(Problem) as over:
        keys.authenticate(db, plain, "taipei-city", write=True, now=T0)
    assert over.value.status == 429
    assert over.value.retry_after == int(timedelta(hours=15).total_seconds())  # to Taiwan midnight
    assert "api_key" in over.value.errors[0].reason
    # Reads have their own quota; the next Taiwan day starts afresh.
    keys.authenticate(db, plain, "taipei-city", write=False, now=T0)
    keys.authenticate(db, plain, "taipei-city", write=True, now=T0 + timedelta(hours=16))
    usage = keys.list_keys(db, "taipei-city", now=T0)[0]
    assert (usage.writes_today, usage.reads_today) == (2, 1)


def test_revoked_unknown_and_other_citys_keys_are_refused(db: Session) -> None:
    plain = _issue(db)
    other = _issue(db, city="new-taipei-city")
    with pytest.raises(Problem) as foreign:
        keys.authenticate(db, other, "taipei-city", write=True, now=T0)
    assert foreign.value.status == 403
    with pytest.raises(Problem) as unknown:
        keys.authenticate(db, "o311_" + "x" * 43, "taipei-city", write=False, now=T0)
    assert unknown.value.status == 403
    key_id = keys.list_keys(db, "taipei-city")[0].id
    with pytest.raises(Problem) as not_theirs:
        keys.revoke_key(db, key_id, revoked_by="ntpc-admin", jurisdiction="new-taipei-city")
    assert not_theirs.value.status == 404
    keys.revoke_key(db, key_id, revoked_by="admin", jurisdiction="taipei-city", now=T0)
    with pytest.raises(Problem) as revoked:
        keys.authenticate(db, plain, "taipei-city", write=True, now=T0)
    assert revoked.value.status == 403


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _create(client: TestClient, key: str, fmt: str = "json") -> object:
    body = {
        "api_key": key,
        "jurisdiction_id": "taipei-city",
        "service_code": "illegal-parking",
        "address_string": "臺北市大安區復興南路一段390號",
        "attribute[vehicle_type]": "car",
        "attribute[plate_number]": "ABC-1234",
        "description": "占用消防通道",
        **PERSONAL,
    }
    return client.post(f"{BASE}/requests.{fmt}", content=urlencode(body), headers=FORM)


def test_over_http_quota_is_429_with_retry_after_in_the_spec_format(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        plain = _issue(db, writes=1)
        db.commit()
    assert _create(client, plain).status_code == 200  # type: ignore[attr-defined]
    over = _create(client, plain, "xml")
    assert over.status_code == 429  # type: ignore[attr-defined]
    assert int(over.headers["Retry-After"]) > 0  # type: ignore[attr-defined]
    error = ET.fromstring(over.content)  # type: ignore[attr-defined]
    assert error.tag == "errors" and error[0].findtext("code") == "429"


def test_personal_fields_never_in_get_answers(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        plain = _issue(db)
        db.commit()
    created = _create(client, plain).json()[0]  # type: ignore[attr-defined]
    request_id = created["service_request_id"]
    params = {"jurisdiction_id": "taipei-city"}
    answers = [
        client.get(f"{BASE}/requests.{fmt}", params=params | extra)
        for fmt in ("json", "xml")
        for extra in ({}, {"service_request_id": request_id}, {"api_key": plain})
    ] + [
        client.get(f"{BASE}/requests/{request_id}.{fmt}", params=params | extra)
        for fmt in ("json", "xml")
        for extra in ({}, {"api_key": plain})
    ]
    for answer in answers:
        assert answer.status_code == 200 and request_id in answer.text
        for name, value in PERSONAL.items():
            assert value not in answer.text, (name, answer.url)
            assert f'"{name}"' not in answer.text and f"<{name}>" not in answer.text
        assert "ABC-1234" not in answer.text  # an attribute answer may be personal too


def test_a_refused_quota_names_its_own_field(db: Session) -> None:
    """A negative read quota is ``daily_reads`` (it was once reported as ``daily_writes``)."""
    with pytest.raises(Problem) as refused:
        _issue(db, writes=5, reads=-1)
    assert [e.field for e in refused.value.errors] == ["daily_reads"]
    assert refused.value.status == 400
