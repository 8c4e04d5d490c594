"""A JSON string escaping half of a UTF-16 pair alone (``"\\ud800"``) is a 422 naming the
field, on both databases, never a 500; so is NUL in a body sent in UTF-16 or UTF-32.

Python reads such an escape into a string that is not Unicode: the preview's 422 naming a
payload key or quoting the kind could not be written as UTF-8, and a report stored the text
where neither SQLite nor PostgreSQL can take it; each was a 500. A whole pair (an emoji
escaped as JSON encoders do) is the character it stands for, and is taken. The refusal of
NUL (``tests/web/test_nul.py``) read UTF-8 only, and a body in UTF-16 or UTF-32, which the
app parses all the same, passed it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user
from onceonly.db import transaction
from onceonly.i18n import t
from onceonly.web.app import create_app
from tests.conftest import DemoEnv

OFFICE = "taipei-city.household_office"
REPORT = "/api/v1/notify/events"
PREVIEW = "/api/v1/notify/events/preview"
PLACE = "payload.place_of_death"


@pytest.fixture
def office(demo_env: DemoEnv) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """A household office's clerk with the API, and a living person of the register."""
    app = create_app(demo_env.settings)
    with transaction(app.state.sessions) as db:
        user = create_user(db, "t-office", "correct horse battery", "clerk", OFFICE, "測試")
        token, _ = issue_api_token(db, user, "test", 1)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept-Language": "en",
        "Content-Type": "application/json",
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, headers, demo_env.sample("low_income_applicant")
    app.state.engine.dispose()


def _death(national_id: str, *, kind: str = '"death"', payload: str = "") -> bytes:
    """A death report as JSON text, ``payload`` adding members (already JSON)."""
    members = '"death_date": "2026-01-02"' + (f", {payload}" if payload else "")
    return f'{{"kind": {kind}, "national_id": "{national_id}", "payload": {{{members}}}}}'.encode()


@pytest.mark.parametrize(
    ("path", "kind", "payload", "encoding", "refused"),
    [
        (PREVIEW, '"de\\ud800ath"', "", "utf-8", ("kind", "surrogate")),
        (PREVIEW, '"death"', '"x\\udc00": "1"', "utf-8", ("payload.x\\udc00", "surrogate")),
        (REPORT, '"death"', '"place_of_death": "\\ud83d"', "utf-8", (PLACE, "surrogate")),
        # Python's parser, and so the app, reads JSON in UTF-16 and UTF-32 too
        (PREVIEW, '"de\\ud800ath"', "", "utf-16", ("kind", "surrogate")),
        (REPORT, '"death"', '"place_of_death": "a\\u0000"', "utf-32", (PLACE, "nul")),
    ],
)
def test_text_no_database_takes_is_refused_naming_the_field(
    office: tuple[TestClient, dict[str, str], str],
    path: str,
    kind: str,
    payload: str,
    encoding: str,
    refused: tuple[str, str],
) -> None:
    client, headers, person = office
    body = _death(person, kind=kind, payload=payload).decode().encode(encoding)
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [refused]
    assert answer.json()["errors"][0]["reason"] == t(f"field.{refused[1]}", "en"), "in words"
    # nothing was recorded: the person's death can still be reported
    again = client.post(REPORT, content=_death(person), headers=headers)
    assert again.status_code == 201, again.text


def test_a_whole_pair_is_the_character_it_stands_for(
    office: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, person = office
    house = '"place_of_death": "\\ud83c\\udfe0"'  # 🏠, escaped as json.dumps does
    preview = client.post(PREVIEW, content=_death(person, payload=house), headers=headers)
    assert preview.status_code == 200, preview.text
    recorded = client.post(REPORT, content=_death(person, payload=house), headers=headers)
    assert recorded.status_code == 201, recorded.text
