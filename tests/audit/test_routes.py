"""Auditors search the log over the API and on the /audit page; nobody else may."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user, get_user
from onceonly.audit.log import append_durably
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.web.app import create_app
from tests.audit.conftest import record


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    for role in ROLES:  # first: issuing a token is itself audited (seq 1 to 3)
        token_for(settings, role)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    append_durably(sessions, record(1))
    append_durably(sessions, record(2, subject="F223456781", dataset="income"))
    append_durably(sessions, record(3, decision="denied", actor_agency="taipei-city.social"))
    engine.dispose()
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


ROLES = ("auditor", "admin", "clerk")
TOKENS = len(ROLES)
"""The entries before the three records: one ``account.token_issued`` per role's token."""
_ISSUED: dict[tuple[str, str], dict[str, str]] = {}


def token_for(settings: Settings, role: str) -> dict[str, str]:
    """The bearer token of a user with ``role``, made (and audited) once per test."""
    key = (str(settings.data_dir), role)  # one per test (its tmp_path), on either backend
    if key not in _ISSUED:
        _ISSUED[key] = _issue(settings, role)
    return _ISSUED[key]


def _issue(settings: Settings, role: str) -> dict[str, str]:
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        user = get_user(session, f"{role}-1") or create_user(
            session, f"{role}-1", None, role, "taipei-city.ethics", "測試人員"
        )
        token, _view = issue_api_token(session, user, "test", 1)
    engine.dispose()
    return {"Authorization": f"Bearer {token}"}


def test_auditor_lists_entries_newest_first(client: TestClient, settings: Settings) -> None:
    response = client.get("/api/v1/audit/entries", headers=token_for(settings, "auditor"))
    assert response.status_code == 200, response.text
    body = response.json()
    seqs = [e["seq"] for e in body["items"]]
    assert body["total"] == TOKENS + 3 and seqs == list(range(TOKENS + 3, 0, -1))
    assert body["items"][0]["decision"] == "denied"
    assert body["items"][2]["fields"] == ["name", "address", "members"]
    assert {e["event"] for e in body["items"][3:]} == {"account.token_issued"}


FILTERS = [
    ("subject=f223456781", [TOKENS + 2]),
    ("dataset=household_registration", [TOKENS + 3, TOKENS + 1]),
    ("agency=taipei-city.social", [TOKENS + 3]),
    ("per_page=1&page=2", [TOKENS + 2]),
    ("since=2000-01-01&until=2000-01-31", []),
]


def test_filters(client: TestClient, settings: Settings) -> None:
    headers = token_for(settings, "admin")
    for query, seqs in FILTERS:
        response = client.get(f"/api/v1/audit/entries?{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert [e["seq"] for e in response.json()["items"]] == seqs, query


def test_reversed_date_range_is_a_field_error(client: TestClient, settings: Settings) -> None:
    response = client.get(
        "/api/v1/audit/entries?since=2025-02-01&until=2025-01-01",
        headers=token_for(settings, "auditor"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "since"


def test_head_names_the_newest_hash(client: TestClient, settings: Settings) -> None:
    headers = token_for(settings, "auditor")
    newest = client.get("/api/v1/audit/entries?per_page=1", headers=headers).json()["items"][0]
    body = client.get("/api/v1/audit/head", headers=headers).json()
    last = TOKENS + 3
    assert (body["count"], body["seq"], body["head_hash"]) == (last, last, newest["entry_hash"])


def test_clerks_may_not_read_the_log(client: TestClient, settings: Settings) -> None:
    headers = token_for(settings, "clerk")
    for path in ("/api/v1/audit/entries", "/api/v1/audit/head"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")


def test_auditor_page_shows_a_filtered_table(client: TestClient, settings: Settings) -> None:
    page = client.get("/audit?dataset=income", headers=token_for(settings, "auditor"))
    assert page.status_code == 200
    assert "稽核紀錄" in page.text and "F22345****" in page.text
    assert "A12345****" not in page.text
    # two counts, each saying what it counts: the whole log, and what this search found
    assert "整個稽核紀錄（本節點所有機關）目前共" in page.text
    assert "您可查看且符合條件的" in page.text
    english = client.get("/audit?lang=en", headers=token_for(settings, "auditor"))
    assert "Audit log" in english.text and "denied" in english.text


OUT_OF_RANGE = [
    ("/api/v1/audit/entries?page=1e20", "page"),
    ("/api/v1/audit/entries?page=9223372036854775808", "page"),
    ("/api/v1/audit/entries?page=46116860184273880", "page"),  # offset past 64 bits
    ("/api/v1/audit/entries/9223372036854775808/proof", "seq"),
    ("/api/v1/audit/entries/2147483648/proof", "seq"),  # past PostgreSQL's integer
    ("/api/v1/audit/entries/1/proof?tree_size=9223372036854775808", "tree_size"),
    ("/api/v1/audit/tree-heads/9223372036854775808", "size"),
    ("/api/v1/audit/consistency?first=1&second=9223372036854775808", "second"),
]


@pytest.mark.parametrize(("url", "field"), OUT_OF_RANGE)
def test_integers_past_the_columns_are_a_422_naming_the_field(
    client: TestClient, settings: Settings, url: str, field: str
) -> None:
    response = client.get(url, headers=token_for(settings, "auditor"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


def test_the_largest_page_and_id_still_answer(client: TestClient, settings: Settings) -> None:
    auditor = token_for(settings, "auditor")
    last_page = client.get("/api/v1/audit/entries?page=46116860184273879", headers=auditor)
    assert last_page.status_code == 200 and last_page.json()["items"] == []
    missing = client.get("/api/v1/audit/entries/2147483647/proof", headers=auditor)
    assert missing.status_code == 404
