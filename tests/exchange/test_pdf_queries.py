"""Whether a transcript's PDF can be made here is asked once per issuer per page: a case page
showing a dozen transcripts of one owner looks that owner's signing key up once, not a dozen
times (``onceonly.exchange.pdf.why_no_pdf`` with one ``OwnerKeys`` for the page)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

import onceonly.models  # noqa: F401 - every table
from onceonly.cases.schemas import CaseView
from onceonly.config import Settings
from onceonly.counter.evidence import evidence_cards
from onceonly.db import Base, make_engine, make_session_factory, transaction, utcnow
from onceonly.exchange import keys
from onceonly.exchange.keys import SigningKeyRecord, ensure_key, published_jwks
from onceonly.exchange.pdf import why_no_pdf
from onceonly.exchange.transcript import inspect_transcript, sign_transcript
from tests.exchange.test_transcript import OWNER, household_claims

TRANSCRIPTS = 12
KEY_TABLE = SigningKeyRecord.__tablename__


@pytest.fixture
def engine(tmp_path: Path, empty_database_url: str) -> Iterator[Engine]:
    made = make_engine(empty_database_url)
    Base.metadata.create_all(made)
    yield made
    made.dispose()


@pytest.fixture
def settings(tmp_path: Path, engine: Engine, empty_database_url: str) -> Settings:
    """The node's settings over ``engine``'s database (its tables made first)."""
    result = Settings(data_dir=tmp_path / "data", database_url=empty_database_url)
    result.ensure_dirs()
    return result


def _case(tokens: list[str], owners: tuple[str, ...] = (OWNER,)) -> CaseView:
    """A case holding ``tokens`` as the transcripts of one fetched piece."""
    now = utcnow()
    return CaseView.model_validate(
        {
            "number": "TPE-2026-000001",
            "application_item": "public-housing-low-income",
            "agency": "taipei-city.urban_development",
            "state": "gathering",
            "decision": None,
            "subject_masked": "A12345****",
            "opened_by": "tpe-udd-clerk",
            "opened_at": now,
            "updated_at": now,
            "subject": "A123456789",
            "opening_agency": "taipei-city.urban_development",
            "contact_email": None,
            "contact_mobile": None,
            "contact_language": "zh-TW",
            "decision_reason": None,
            "decided_by": None,
            "decided_at": None,
            "closed_at": None,
            "evidence": [
                {
                    "evidence_type": "household_registration",
                    "dataset": "household_registration",
                    "paper_name_zh": "戶籍謄本",
                    "paper_name_en": "Household registration transcript",
                    "satisfied_by": "online",
                    "needs_refresh": False,
                    "status": "issued",
                    "reason_zh": None,
                    "reason_en": None,
                    "owners": list(owners),
                    "answer": None,
                    "fields": None,
                    "withheld_fields": [],
                    "transcripts": [
                        {
                            "owner": owners[i % len(owners)],
                            "kid": "k",
                            "jws": token,
                            "expires_at": now + timedelta(days=30),
                        }
                        for i, token in enumerate(tokens)
                    ],
                    "retry_after": None,
                    "fetched_by": "tpe-udd-clerk",
                    "fetched_agency": "taipei-city.urban_development",
                    "fetched_at": now,
                    "expires_at": None,
                    "paper": None,
                }
            ],
        }
    )


def _key_lookups(engine: Engine, render: Any) -> tuple[Any, int]:
    """What ``render()`` returns and how many SQL statements it sent that read the signing
    keys' table."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = render()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return result, sum(KEY_TABLE in s for s in statements)


def test_the_case_page_looks_each_issuers_key_up_once(engine: Engine, settings: Settings) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as db:
        key = ensure_key(db, settings, OWNER)
        tokens = [
            sign_transcript(key, household_claims(issued_at=None, request_id=f"req-{i}"))
            for i in range(TRANSCRIPTS)
        ]
        jwks = published_jwks(db)
    case = _case(tokens)

    with sessions() as db:
        cards, lookups = _key_lookups(
            engine, lambda: evidence_cards(db, settings, case, "en", lambda: jwks)
        )
    shown = cards[0].transcripts
    assert len(shown) == TRANSCRIPTS and all(c.valid for c in shown)
    assert [c.no_pdf for c in shown] == [None] * TRANSCRIPTS, "every one offers its PDF"
    assert lookups == 1, f"{lookups} key look-ups for {TRANSCRIPTS} transcripts of one issuer"

    # a second page render asks again: the key may have changed between two pages
    with sessions() as db:
        _, again = _key_lookups(
            engine, lambda: evidence_cards(db, settings, case, "en", lambda: jwks)
        )
    assert again == 1


def test_each_card_still_says_its_own_issuers_answer(engine: Engine, settings: Settings) -> None:
    """Two issuers on one page, one whose key this node no longer holds: each card says what
    it said before the page shared its look-ups, in that issuer's own words."""
    elsewhere = "keelung-city.household"
    sessions = make_session_factory(engine)
    with transaction(sessions) as db:
        held = ensure_key(db, settings, OWNER)
        gone = ensure_key(db, settings, elsewhere)
        tokens = []
        for i in range(6):
            key, issuer = (held, OWNER) if i % 2 == 0 else (gone, elsewhere)
            claims = household_claims(issuer=issuer, issued_at=None, request_id=f"req-{i}")
            tokens.append(sign_transcript(key, claims))
        jwks = published_jwks(db)
    gone.pem_path.unlink()
    keys._cache.clear()

    with sessions() as db:
        cards, lookups = _key_lookups(
            engine,
            lambda: evidence_cards(
                db, settings, _case(tokens, (OWNER, elsewhere)), "en", lambda: jwks
            ),
        )
        one_by_one = [
            why_no_pdf(db, settings, inspect_transcript(token, jwks), "en") for token in tokens
        ]
    said = [c.no_pdf for c in cards[0].transcripts]
    assert said == one_by_one
    assert said[0] is None and said[1] and "cannot sign in its name" in said[1]
    assert lookups == 2, "one look-up per issuer"
