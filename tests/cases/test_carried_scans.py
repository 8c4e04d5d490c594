"""A scan carried by a relay is read like any carried piece: its first read by each agency
(downloaded, or seen on the case) is audited with the citizen as subject, once per agency
and attached file; the agency that scanned it reads its own. And every carried read is
written once even when two clerks of the agency read it at the same moment: the database
decides (the unique index on the read's key), not a look at the timeline first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.models import AuditEntry
from onceonly.cases import holding, service
from onceonly.cases.models import CaseEvent
from onceonly.cases.service import CaseActor
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.i18n import t
from tests import scans
from tests.cases.conftest import EVIDENCE, ITEM, SUBJECT, SWD, T0, UDD, all_issued

MINUTE = timedelta(minutes=1)
KIND = "is_low_income_household"
SWD_2 = CaseActor("swd-clerk-2", SWD.agency, "clerk", "B5")
"""A second clerk of the social welfare department."""


def _carried_reads(db: Session) -> list[AuditEntry]:
    return list(
        db.scalars(
            select(AuditEntry)
            .where(AuditEntry.event == "case.carried_read")
            .order_by(AuditEntry.seq)
        )
    )


def _scan_reads(db: Session) -> list[AuditEntry]:
    return [e for e in _carried_reads(db) if e.details["piece"] == "scan"]


def _attach(db: Session, settings: Settings, actor: CaseActor, number: str, at: int) -> str:
    """Attach a scan for the low-income certificate at ``T0 + at`` minutes; its SHA-256."""
    view = service.attach_paper(
        db, settings, actor, number, KIND,
        filename="低收證明.pdf", content_type="application/pdf", data=scans.pdf(note=b"%d" % at),
        now=T0 + at * MINUTE,
    )  # fmt: skip
    paper = next(p.paper for p in view.evidence if p.evidence_type == KIND)
    assert paper is not None
    return paper.sha256


def _scanned_and_relayed(db: Session, settings: Settings) -> tuple[str, str]:
    """A case UDD opened, scanned the low-income certificate for and relayed to SWD."""
    number = service.open_case(db, UDD, application_item=ITEM, subject=SUBJECT, now=T0).number
    digest = _attach(db, settings, UDD, number, 1)
    service.relay_case(db, UDD, number, SWD.agency, "請核定", now=T0 + 2 * MINUTE)
    return number, digest


def test_a_carried_scans_first_download_is_audited_once_and_the_scanners_never(
    db: Session, settings: Settings
) -> None:
    number, digest = _scanned_and_relayed(db, settings)
    assert service.paper_file(settings, db, UDD, number, KIND)
    service.get_case(db, UDD, number)
    assert _carried_reads(db) == [], "the agency that scanned it reads its own"

    found = service.paper_file(settings, db, SWD, number, KIND)
    assert found is not None and found[0].read_bytes().startswith(b"%PDF-")
    [read] = _carried_reads(db)
    assert (read.actor_agency, read.actor_username, read.subject, read.case_id) == (
        SWD.agency,
        SWD.username,
        SUBJECT,
        number,
    )
    assert (read.dataset, read.fields, read.owner_agency) == ("welfare_status", None, None)
    assert read.legal_basis == "social-assistance-act"
    assert read.details["piece"] == "scan" and read.details["key"] == KIND
    assert read.details["sha256"] == digest and read.details["fetched_agency"] == UDD.agency
    assert read.reason_zh == t(
        "cases.audit.carried_scan_read",
        "zh-TW",
        source="臺北市政府都市發展局",
        paper="低收入戶證明",
    )
    assert "Low-income household certificate" in read.reason_en and "scan" in read.reason_en

    service.paper_file(settings, db, SWD, number, KIND)
    service.paper_file(settings, db, SWD_2, number, KIND)
    seen = service.get_case(db, SWD, number)  # seen on the case: the same scan, read already
    assert next(p for p in seen.evidence if p.evidence_type == KIND).paper is not None
    assert len(_carried_reads(db)) == 1
    timeline = db.scalars(select(CaseEvent).where(CaseEvent.kind == "carried_read")).all()
    assert [(e.piece_kind, e.piece_key, e.agency) for e in timeline] == [("scan", KIND, SWD.agency)]


def test_seeing_a_carried_scan_on_the_case_is_its_read_and_a_new_scan_is_read_anew(
    db: Session, settings: Settings
) -> None:
    number, first = _scanned_and_relayed(db, settings)
    seen = service.get_case(db, SWD, number)
    paper = next(p for p in seen.evidence if p.evidence_type == KIND).paper
    assert paper is not None and paper.sha256 == first
    assert [r.details["sha256"] for r in _scan_reads(db)] == [first]
    service.paper_file(settings, db, SWD, number, KIND)
    assert len(_carried_reads(db)) == 1, "seen, then downloaded: one read"

    service.relay_case(db, SWD, number, UDD.agency, "請補正", now=T0 + 3 * MINUTE)
    service.get_case(db, UDD, number)
    second = _attach(db, settings, UDD, number, 4)
    service.relay_case(db, UDD, number, SWD.agency, "已補正", now=T0 + 5 * MINUTE)
    service.paper_file(settings, db, SWD, number, KIND)
    service.get_case(db, SWD, number)
    assert [r.details["sha256"] for r in _scan_reads(db)] == [first, second]


def _view(db: Session, clerk: CaseActor, settings: Settings, number: str) -> None:
    service.get_case(db, clerk, number)


def _download(db: Session, clerk: CaseActor, settings: Settings, number: str) -> None:
    assert service.paper_file(settings, db, clerk, number, KIND)


Read = Callable[[Session, CaseActor, Settings, str], None]


@pytest.mark.parametrize(
    ("first", "second"), [(_view, _view), (_view, _download)], ids=["view-view", "view-download"]
)
def test_two_clerks_reading_at_the_same_moment_leave_one_entry_per_piece(
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    first: Read,
    second: Read,
) -> None:
    with transaction(sessions) as db:
        number = service.open_case(db, UDD, application_item=ITEM, subject=SUBJECT, now=T0).number
        service.record_evidence(db, UDD, number, all_issued(number), now=T0)
        _attach(db, settings, UDD, number, 1)
        service.relay_case(db, UDD, number, SWD.agency, "請核定", now=T0 + 2 * MINUTE)
        assert _carried_reads(db) == []

    # both requests look at the timeline before either writes: each finds nothing read yet
    looked = threading.Barrier(2, timeout=30)
    real = holding._read_already

    def look_then_wait(*args: Any) -> set[tuple[str, str, str]]:
        found = real(*args)
        looked.wait()
        return found

    monkeypatch.setattr(holding, "_read_already", look_then_wait)

    def read(how: Read, clerk: CaseActor) -> None:
        with transaction(sessions) as db:
            how(db, clerk, settings, number)

    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(read, first, SWD), pool.submit(read, second, SWD_2)]
        for future in done:
            future.result(timeout=60)

    with sessions() as db:
        reads = _carried_reads(db)
        assert sorted(r.details["key"] for r in reads if r.details["piece"] == "evidence") == (
            sorted(EVIDENCE)
        )
        assert [r.details["key"] for r in reads if r.details["piece"] == "scan"] == [KIND]
        events = db.scalars(select(CaseEvent).where(CaseEvent.kind == "carried_read")).all()
        assert len(events) == len(reads) == len(EVIDENCE) + 1
