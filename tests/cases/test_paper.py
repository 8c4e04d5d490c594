"""Scanned paper in place of evidence that cannot be fetched: types, size, storage."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.orm import Session

from onceonly.cases import service
from onceonly.config import Settings
from onceonly.errors import Problem
from tests import scans
from tests.cases.conftest import ITEM, SUBJECT, T0, UDD

PDF = scans.pdf(note=b"scanned low-income certificate")
PNG = scans.png()
JPEG = scans.jpeg()


@pytest.fixture
def number(db: Session) -> str:
    return service.open_case(db, UDD, application_item=ITEM, subject=SUBJECT, now=T0).number


def _attach(db: Session, settings: Settings, number: str, data: bytes, content_type: str, **kw):
    kw.setdefault("filename", "scan.pdf")
    return service.attach_paper(
        db,
        settings,
        UDD,
        number,
        kw.pop("evidence_type", "is_low_income_household"),
        content_type=content_type,
        data=data,
        now=T0,
        **kw,
    )


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg; charset=binary")],
)
def test_a_scan_is_stored_with_its_hash_and_satisfies_the_piece(
    db: Session, settings: Settings, number: str, data: bytes, content_type: str
) -> None:
    case = _attach(db, settings, number, data, content_type, filename="C:\\掃描\\低收入戶證明.pdf")
    piece = case.evidence[1]
    assert piece.satisfied_by == "paper" and piece.paper is not None
    digest = hashlib.sha256(data).hexdigest()
    assert (piece.paper.sha256, piece.paper.size) == (digest, len(data))
    assert piece.paper.filename == "低收入戶證明.pdf"
    assert case.state == "gathering"
    kinds = [e.kind for e in service.timeline(db, UDD, number)]
    assert kinds == ["opened", "gathering", "paper_attached"], "started, then what was attached"
    stored = list((settings.data_dir / "uploads" / number).iterdir())
    assert [p.read_bytes() for p in stored] == [data]
    assert stored[0].name.startswith(digest)


def test_exactly_ten_megabytes_is_accepted_and_one_byte_more_is_not(
    db: Session, settings: Settings, number: str
) -> None:
    limit = 10 * 1024 * 1024
    big = scans.pdf(limit)
    assert _attach(db, settings, number, big, "application/pdf").evidence[1].paper.size == limit
    with pytest.raises(Problem) as caught:
        _attach(db, settings, number, big + b"\0", "application/pdf")
    assert caught.value.status == 413 and caught.value.errors[0].field == "file"


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"", "application/pdf", 422),
        (b"hello", "text/plain", 415),
        (b"GIF89a....", "image/gif", 415),
        (PDF, "image/png", 422),
        (b"MZ\x90\x00 renamed.exe", "application/pdf", 422),
        (scans.FAKE_PNG, "image/png", 422),
        (scans.pdf()[:-20], "application/pdf", 422),
    ],
)
def test_wrong_files_are_refused_and_nothing_changes(
    db: Session, settings: Settings, number: str, data: bytes, content_type: str, status: int
) -> None:
    with pytest.raises(Problem) as caught:
        _attach(db, settings, number, data, content_type)
    assert caught.value.status == status and caught.value.errors[0].field == "file"
    case = service.get_case(db, UDD, number)
    assert case.state == "open" and case.evidence[1].paper is None
    assert not (settings.data_dir / "uploads" / number).exists()


def test_paper_for_evidence_the_item_does_not_require_is_refused(
    db: Session, settings: Settings, number: str
) -> None:
    with pytest.raises(Problem) as caught:
        _attach(db, settings, number, PDF, "application/pdf", evidence_type="land_registration")
    assert caught.value.status == 422 and caught.value.errors[0].field == "evidence_type"


def test_a_scan_can_be_replaced_and_the_replaced_one_is_named_and_kept(
    db: Session, settings: Settings, number: str
) -> None:
    first = _attach(db, settings, number, PDF, "application/pdf", filename="模糊.pdf")
    old = first.evidence[1].paper
    assert old is not None
    case = _attach(db, settings, number, PNG, "image/png", filename="清楚.png")
    new = case.evidence[1].paper
    assert new is not None and (new.filename, new.content_type) == ("清楚.png", "image/png")
    events = [e for e in service.timeline(db, UDD, number) if e.kind == "paper_attached"]
    assert "replaces" not in (events[0].details or {})
    assert (events[1].details or {})["replaces"] == {
        "filename": "模糊.pdf",
        "sha256": old.sha256,
        "attached_by": UDD.username,
    }
    kept = settings.data_dir / "uploads" / number / f"{old.sha256}.pdf"
    assert kept.read_bytes() == PDF
