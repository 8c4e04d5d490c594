"""What the gateway and the platform refuse, each with its reason: a request addressed to
another gateway, a request from a node the gateway was not told to answer, and a transcript
that does not verify against the key the gateway published."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import text

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.exchange import keys
from onceonly.gateway.links import LINKS_NAME
from tests.conftest import DemoEnv
from tests.exchange.support import Counter
from tests.gateway.test_gateway import OWNER, Setup, _ask


@pytest.fixture
def setup(demo_env: DemoEnv, tmp_path: Path) -> Iterator[Setup]:
    result = Setup(demo_env, tmp_path / "gw-test")
    try:
        yield result
    finally:
        result.stop()


def _asked(setup: Setup) -> dict[str, Any]:
    setup.start()
    counter = Counter(setup.env)
    try:
        return _ask(counter)
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()


def _gateway_refusals(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT details FROM audit_entries WHERE event = 'federation.refused'")
        ).scalars()
        found = [json.loads(r) if isinstance(r, str) else dict(r) for r in rows]
    engine.dispose()
    return found


def _edit_links(settings: Settings, change: Any) -> None:
    path = settings.data_dir / LINKS_NAME
    links = json.loads(path.read_text("utf-8"))
    change(links["gateways"][0])
    path.write_text(json.dumps(links), "utf-8")


def test_a_request_addressed_to_another_gateway_is_refused(setup: Setup) -> None:
    _edit_links(setup.env.settings, lambda g: g.update(id="gw-other"))  # aud = gw-other
    result = _asked(setup)
    assert result["status"] == "failed" and not result["transcripts"], result
    assert "signed for another node and cannot be passed on" in result["reason"]["en"], result
    assert "wrong_audience" not in result["reason"]["en"]
    assert "gw-other" in result["reason"]["en"]
    assert [r["code"] for r in _gateway_refusals(setup.gw)] == ["wrong_audience"]


def test_a_platform_the_gateway_does_not_answer_is_refused(setup: Setup) -> None:
    setup.platforms = ["another-platform"]
    result = _asked(setup)
    assert result["status"] == "failed" and not result["transcripts"], result
    assert "The directory does not list this node" in result["reason"]["en"], result["reason"]
    assert "目錄中沒有此節點" in result["reason"]["zh-TW"]
    assert "unknown_node" not in result["reason"]["en"]  # words, not the gateway's code
    refused = _gateway_refusals(setup.gw)
    assert [r["code"] for r in refused] == ["unknown_node"]
    assert "platform" in refused[0]["detail"]


def test_a_transcript_not_signed_by_the_published_key_is_refused(setup: Setup) -> None:
    engine = make_engine(setup.gw.resolved_database_url)  # the gateway signs with a key the
    with transaction(make_session_factory(engine)) as session:  # platform was never given
        unpublished = keys.rotate_key(session, setup.gw, OWNER)
    engine.dispose()
    result = _asked(setup)
    assert result["status"] == "failed" and not result["transcripts"], result
    assert "does not verify" in result["reason"]["en"], result["reason"]
    assert unpublished.kid in result["reason"]["en"]


def test_a_transcript_whose_signature_does_not_match_is_refused(setup: Setup) -> None:
    def swap(gateway: dict[str, Any]) -> None:  # the published key's x is another key's
        gateway["jwks"]["keys"][0]["x"] = OKPKey.generate_key("Ed25519").as_dict()["x"]

    _edit_links(setup.env.settings, swap)
    result = _asked(setup)
    assert result["status"] == "failed" and not result["transcripts"], result
    assert "does not verify" in result["reason"]["en"], result["reason"]
    assert "the content was changed after signing" in result["reason"]["en"]
    assert "簽章不符" in result["reason"]["zh-TW"]
    assert "bad_signature" not in str(result["reason"])  # words, not the verifier's code


def test_an_answer_that_cannot_be_used_is_a_502_without_a_retry_hint(setup: Setup) -> None:
    """A transcript that does not verify comes back the same however often it is asked:
    the clerk is not told to try again (503 is for an owner that is down or slow)."""
    _edit_links(
        setup.env.settings,
        lambda g: g["jwks"]["keys"][0].update(x=OKPKey.generate_key("Ed25519").as_dict()["x"]),
    )
    setup.start()
    counter = Counter(setup.env)
    try:
        subject = counter.env.sample("low_income_applicant")
        response = counter.ask(
            "tpe-udd-clerk", subject, evidence=[{"type": "household_income_below"}]
        )
        assert response.status_code == 502, response.text
        assert "retry-after" not in response.headers
        assert response.json()["type"].endswith("/owner-failed")
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()
