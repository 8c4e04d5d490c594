"""The citizen keeps their own transcripts: a preview of their evidence offers the JWS file and
the signed PDF; another citizen asking for the same preview gets 404, never the file."""

from __future__ import annotations

from fastapi.testclient import TestClient

from onceonly.citizens.previews import list_previews
from onceonly.db import transaction
from onceonly.policy.service import grant_consent
from tests.citizens.conftest import CONSENT_ITEM, LABOUR_CLERK, Portal
from tests.pdf_support import hand_over_to_a_gateway, validated

CASE = "TPE-LAB-115-000077"
HTML = {"Accept": "text/html"}


def test_the_citizen_downloads_their_own_transcripts_and_no_one_elses(portal: Portal) -> None:
    with transaction(portal.app.state.sessions) as db:
        grant_consent(db, portal.nid, CONSENT_ITEM)
    assert portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE).status_code == 200
    with portal.app.state.sessions() as db:
        held = [p for p in list_previews(db, portal.nid) if p.held.get("transcripts")]
    assert held, "the welfare answer is held for the citizen to preview"
    preview = held[0]
    token = preview.held["transcripts"][0]["jws"]

    assert portal.sign_in().status_code == 200
    page = portal.client.get("/me/previews", headers=HTML).text
    base = f"/me/previews/{preview.id}/transcripts/0"
    assert f'href="{base}/jws"' in page and f'href="{base}/pdf?lang=' in page

    jws = portal.client.get(f"{base}/jws")
    assert jws.status_code == 200 and jws.text == token
    assert jws.headers["content-type"] == "application/jose"
    assert jws.headers["content-disposition"].startswith("attachment;")
    made = portal.client.get(f"{base}/pdf")
    assert made.status_code == 200, made.text[:300]
    assert made.headers["content-type"] == "application/pdf"
    assert preview.case_id in made.headers["content-disposition"]
    status = validated(made.content)
    assert status.bottom_line

    # another citizen, signed in with their own card, is told there is no such preview
    cards = sorted(p.name for p in (portal.env.settings.data_dir / "cards").iterdir())
    other_id = next(c for c in cards if c != portal.nid and len(c) == 10)
    with TestClient(portal.app, base_url="http://testserver") as other:
        assert portal.sign_in(other, other_id).status_code == 200
        for suffix in ("jws", "pdf"):
            response = other.get(f"{base}/{suffix}", headers=HTML)
            assert response.status_code == 404, suffix
            assert "attachment" not in response.headers.get("content-disposition", "")
            assert token not in response.text
        assert other.get(f"/me/previews/{preview.id}/transcripts/5/jws").status_code == 404
    assert portal.client.get(f"/me/previews/{preview.id}/transcripts/5/jws").status_code == 404


def test_a_preview_offers_no_pdf_when_the_owner_signs_at_its_own_gateway(portal: Portal) -> None:
    """The citizen is told why, where the PDF button was, and keeps the signed file."""
    with transaction(portal.app.state.sessions) as db:
        grant_consent(db, portal.nid, CONSENT_ITEM)
    assert portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE).status_code == 200
    with portal.app.state.sessions() as db:
        preview = next(p for p in list_previews(db, portal.nid) if p.held.get("transcripts"))
    token = preview.held["transcripts"][0]["jws"]
    with transaction(portal.app.state.sessions) as db:
        hand_over_to_a_gateway(db, portal.env.settings, token)

    assert portal.sign_in().status_code == 200
    page = portal.client.get("/me/previews", headers=HTML).text
    base = f"/me/previews/{preview.id}/transcripts/0"
    assert f'href="{base}/jws"' in page and f'href="{base}/pdf' not in page
    assert "保管於該機關自己的閘道器" in page
    assert portal.client.get(f"{base}/pdf").status_code == 409
