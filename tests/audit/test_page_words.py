"""The audit log page says in words what happened and who did it, in either language: it
showed ``case.notice_sent`` for the kind and ``cli:household_office``, ``node-operator`` or
``system`` for who acted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from onceonly.audit.log import append_durably
from onceonly.audit.routes import actor_in_words
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.i18n import LANGUAGES, t
from onceonly.web.app import create_app
from tests.audit.conftest import record
from tests.audit.test_routes import token_for

ACTORS = {
    "system": "audit.actor.system",
    "node-operator": "audit.actor.operator",
    "cli:household_office": "audit.actor.operator",
}
"""Who acts without being a member of staff, and the words for them."""
UNNAMED = {
    "node:yilan": ("audit.actor.node", {"node": "yilan"}),
    "log:example.org/log": ("audit.actor.log", {"origin": "example.org/log"}),
    "citizen-a123456789": ("audit.actor.citizen", {"citizen": "A12345****"}),
}
EVENTS = ("case.notice_sent", "notify.register_check", "case.register_check", "case.transfer")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_who_acted_is_said_in_words(lang: str) -> None:
    for username, key in ACTORS.items():
        assert actor_in_words(username, None, lang) == t(key, lang)
    for username, (key, params) in UNNAMED.items():
        assert actor_in_words(username, None, lang) == t(key, lang, **params)
    assert actor_in_words("tpe-clerk", "B00001", lang) == "B00001"  # staff: by badge


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    token_for(settings, "auditor")
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    actors = [*ACTORS, *UNNAMED]
    for n, (event, actor) in enumerate(zip(EVENTS * 2, actors, strict=False), start=1):
        append_durably(sessions, record(n, event=event, actor_username=actor, actor_badge=None))
    engine.dispose()
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_shows_no_code_for_what_or_who(
    client: TestClient, settings: Settings, lang: str
) -> None:
    page = client.get(f"/audit?lang={lang}", headers=token_for(settings, "auditor"))
    assert page.status_code == 200, page.text
    for event in EVENTS:
        assert f">{event}<" not in page.text and t(f"audit.event.{event}", lang) in page.text
    for username in [*ACTORS, *UNNAMED]:
        assert f">{username}<" not in page.text
        assert username == "system" or username not in page.text
    for key in set(ACTORS.values()):
        assert t(key, lang) in page.text
    assert "A12345****" in page.text and "a123456789" not in page.text.lower()
