"""Fixtures for the cases tests: a database with the real catalog, clerks of two agencies,
evidence results as the exchange returns them, and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases.service import CaseActor
from onceonly.catalog.loader import load_catalog
from onceonly.db import make_engine, make_session_factory
from onceonly.exchange.schemas import EvidenceResponse, EvidenceResult, IssuedTranscript, Reason
from tests.conftest import PG_URL, pg_schema

ITEM = "public-housing-low-income"
ITEM_NAME = "低收入戶申請等候承租國宅"
EVIDENCE = {
    "household_registration": ("household_registration", "central.moi_household"),
    "is_low_income_household": ("welfare_status", "taipei-city.social_welfare"),
    "household_income_below": ("income", "central.fia"),
    "owns_no_residential_property": ("building_registration", "taipei-city.land_office"),
}
"""The item's required evidence: type -> (dataset, an owner)."""
SUBJECT = "A123456789"
UDD = CaseActor("udd-clerk", "taipei-city.urban_development", "clerk", "B1")
SWD = CaseActor("swd-clerk", "taipei-city.social_welfare", "clerk", "B2")
LAND = CaseActor("land-clerk", "taipei-city.land_office", "clerk", "B3")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _build(url: str) -> None:
    from onceonly.models import Base

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as session:
        load_catalog(session)
    engine.dispose()


@pytest.fixture(scope="session")
def _catalog_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The catalog is loaded once per run (it takes seconds) and copied into each test's
    database: SQLite copies the file, PostgreSQL copies the rows from a template schema."""
    if not PG_URL:
        path = tmp_path_factory.mktemp("cases-template") / "onceonly.sqlite"
        _build(f"sqlite:///{path}")
        yield str(path)
        return
    with pg_schema("cases_tpl") as (schema, url):
        _build(url)
        yield schema


@pytest.fixture
def database_url(empty_database_url: str, tmp_path: Path, _catalog_template: str) -> str:
    """Every table, and the real catalog loaded."""
    from onceonly.models import Base

    if not PG_URL:
        shutil.copyfile(_catalog_template, tmp_path / "onceonly.sqlite")
        return empty_database_url
    engine = make_engine(empty_database_url)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name.startswith("catalog_"):
                source = f'"{_catalog_template}"."{table.name}"'
                connection.execute(text(f'INSERT INTO "{table.name}" SELECT * FROM {source}'))
    engine.dispose()
    return empty_database_url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    try:
        yield session
        session.commit()
    finally:
        session.close()


def result(
    evidence_type: str,
    status: str = "issued",
    *,
    expires_at: datetime | None = None,
    owner: str | None = None,
) -> EvidenceResult:
    """One piece as the exchange answers it; issued pieces carry a transcript."""
    dataset, default_owner = EVIDENCE[evidence_type]
    owner = owner or default_owner
    issued = status == "issued"
    expiry = expires_at or datetime.now(UTC) + timedelta(days=30)
    return EvidenceResult(
        evidence_type=evidence_type,
        dataset=dataset,
        predicate=None if evidence_type == dataset else evidence_type,
        status=status,  # type: ignore[arg-type]
        owners=[owner],
        reason=Reason.model_validate(
            {"zh-TW": "已核發" if issued else "資料所屬機關暫時無法回應", "en": status}
        ),
        answer=True if issued and evidence_type != dataset else None,
        fields={"name": "王小明"} if issued and evidence_type == dataset else None,
        transcripts=[
            IssuedTranscript(owner=owner, kid="k1", jws="h.p.s", expires_at=expiry.isoformat())
        ]
        if issued
        else [],
        retry_after=None if issued else 30,
    )


def response(number: str, *results: EvidenceResult) -> EvidenceResponse:
    return EvidenceResponse(
        request_id="req-1",
        case_id=number,
        application_item=ITEM,
        subject_masked="A12345****",
        results=list(results),
    )


def all_issued(number: str, **kwargs: Any) -> EvidenceResponse:
    return response(number, *(result(code, **kwargs) for code in EVIDENCE))


@dataclass
class MailBox:
    """What the SMTP server received: (envelope recipients, raw message bytes)."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Callable[[int], MailBox]:
    """Start a real SMTP server on 127.0.0.1:<port>; stopped after the test."""
    controllers: list[Controller] = []

    def start(port: int) -> MailBox:
        box = MailBox()
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return box

    yield start  # type: ignore[misc]
    for controller in controllers:
        controller.stop()
