"""Evidence digitised nowhere stays in the catalog, marked so, and the counter offers paper for
it at once: no fetch to try first, the reason in words, the scan form on the card."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI

from onceonly.catalog import service as catalog
from tests import scans
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

ITEM = "indigenous-organisation-certificate"
PIECE = "juristic_person_registration"
Visit = Callable[[str], Visitor]


def _card(page: str, piece: str) -> str:
    found = re.search(rf'<article class="evidence[^"]*" id="ev-{piece}".*?</article>', page, re.S)
    assert found, f"no card for {piece}"
    return found.group(0)


def test_paper_is_offered_before_any_fetch_for_evidence_digitised_nowhere(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    with demo_app.state.sessions() as db:
        dataset = catalog.get_dataset(db, PIECE)
    assert dataset is not None and not dataset.digitised
    clerk = visit("tpe-indig-clerk")
    response = clerk.open_case(ITEM, demo_env.sample("indigenous"))
    assert response.status_code == 200, response.text[:2000]
    number = clerk.case_number(response)
    page = clerk.get(f"/counter/cases/{number}").text
    paper = _card(page, PIECE)
    assert "這項資料在各地都尚未數位化，無法線上調閱" in paper
    assert "法人登記證書影本" in paper
    assert f'action="/counter/cases/{number}/paper"' in paper
    # a digitised piece of the same case is still to be fetched, with no scan form yet
    online = _card(page, "household_registration")
    assert "/paper" not in online

    uploaded = clerk.client.post(
        f"/counter/cases/{number}/paper",
        data={"csrf_token": clerk.csrf, "evidence_type": PIECE},
        files={"file": ("certificate.pdf", scans.pdf(), "application/pdf")},
        headers={"Accept": "text/html"},
        follow_redirects=True,
    )
    assert uploaded.status_code == 200, uploaded.text[:2000]
    assert "certificate.pdf" in _card(uploaded.text, PIECE)
