"""What the statistics tests share: a case as the counter would have stored it, opened at a
chosen moment (:func:`add_case`, rows only; or :func:`open_case`, :func:`fetch` and
:func:`attach` through the cases service, with its timeline), tell-us-once events with their
deliveries, and a frozen clock for the public view (the public figures depend on now)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from onceonly.cases import service
from onceonly.cases.models import Case, CaseEvidence
from onceonly.cases.state import CaseActor
from onceonly.config import Settings
from onceonly.exchange.schemas import EvidenceResult, IssuedTranscript, Reason
from onceonly.notify.models import DeadLetter, Delivery, LifeEvent, Subscription
from tests import scans

ITEM = "public-housing-low-income"
SUBJECT = "A123456789"
TPE_UDD = "taipei-city.urban_development"
NTPC_SOCIAL = "new-taipei-city.social_welfare"


def add_case(
    db: Session,
    n: int,
    agency: str,
    opened: datetime,
    welfare_owner: str | None,
    *,
    online: int = 2,
    paper: int = 1,
    welfare_status: str | None = "issued",
    item: str = ITEM,
) -> None:
    """Case ``T-n`` of ``item`` at ``agency``, opened at ``opened``: the household
    registration from the Ministry, and (given ``welfare_owner``) the welfare status from
    that owner, which is held where the citizen is registered (their registration way)."""
    case = Case(
        number=f"T-{n}",
        application_item=item,
        opening_agency=agency,
        agency=agency,
        opened_by="seed",
        subject="A123456789",
        contact_language="zh-TW",
        state="open",
        opened_at=opened,
        updated_at=opened,
        evidence_online=online,
        evidence_paper=paper,
        agencies_involved=1,
        version=1,
    )
    db.add(case)
    db.flush()
    pieces: list[tuple[str, list[str], str | None]] = [
        ("household_registration", ["central.household"], "issued")
    ]
    if welfare_owner:
        pieces.append(("welfare_status", [welfare_owner], welfare_status))
    for position, (dataset, owners, status) in enumerate(pieces):
        db.add(
            CaseEvidence(
                case_id=case.id,
                position=position,
                evidence_type=f"{dataset}-{position}",
                dataset=dataset,
                paper_name_zh="謄本",
                paper_name_en="transcript",
                owners=owners,
                status=status,
                withheld_fields=[],
                transcripts=[],
            )
        )


SETTLED = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
"""Wednesday 1 April 2026, 10:00 in Taipei: every week up to Sunday 22 March has ended at
least seven days ago (the default ``stats_settle_days``), so the March history the tests
seed is public."""


@dataclass
class Clock:
    now: datetime


TPE_SOCIAL = "taipei-city.social_welfare"
TPE_HOUSEHOLD = "taipei-city.household_registration"
PIECES = {
    "household_registration": ("household_registration", "central.moi_household"),
    "is_low_income_household": ("welfare_status", TPE_SOCIAL),
    "household_income_below": ("income", "central.fia"),
    "owns_no_residential_property": ("building_registration", "taipei-city.land_office"),
}
"""The required evidence of :data:`ITEM`: type -> (dataset, an owner). The welfare status is
held where the citizen is registered: its owner is the case's registration."""


def clerk(agency: str = TPE_UDD) -> CaseActor:
    return CaseActor(f"{agency}-clerk", agency, "clerk")


def piece(
    evidence_type: str,
    status: str = "issued",
    *,
    owner: str | None = None,
    expires_at: datetime | None = None,
) -> EvidenceResult:
    """One piece of :data:`ITEM` as the exchange answers it; issued pieces carry a
    transcript (valid for 30 days unless ``expires_at`` says otherwise)."""
    dataset, default_owner = PIECES[evidence_type]
    issued = status == "issued"
    expiry = expires_at or datetime(2100, 1, 1, tzinfo=UTC)
    return EvidenceResult(
        evidence_type=evidence_type,
        dataset=dataset,
        predicate=None if evidence_type == dataset else evidence_type,
        status=status,  # type: ignore[arg-type]
        owners=[owner or default_owner],
        reason=Reason.model_validate({"zh-TW": "理由", "en": status}),
        answer=True if issued and evidence_type != dataset else None,
        fields={"name": "王小明"} if issued and evidence_type == dataset else None,
        transcripts=[
            IssuedTranscript(
                owner=owner or default_owner, kid="k1", jws="h.p.s", expires_at=expiry.isoformat()
            )
        ]
        if issued
        else [],
    )


def open_case(db: Session, at: datetime, agency: str = TPE_UDD, subject: str = SUBJECT) -> str:
    """A case of :data:`ITEM` opened at the counter at ``at``, as the counter opens it (with
    its timeline): its number."""
    return service.open_case(
        db, clerk(agency), application_item=ITEM, subject=subject, now=at
    ).number


def fetch(
    db: Session, number: str, at: datetime, *results: EvidenceResult, agency: str = TPE_UDD
) -> None:
    """The clerk fetches evidence for the case at ``at`` (every piece, issued, unless given)."""
    answer = list(results) or [piece(code) for code in PIECES]
    service.record_evidence(db, clerk(agency), number, answer, now=at)


def attach(
    db: Session,
    settings: Settings,
    number: str,
    evidence_type: str,
    at: datetime,
    agency: str = TPE_UDD,
) -> None:
    """The clerk attaches the citizen's paper transcript for one piece at ``at``."""
    service.attach_paper(
        db,
        settings,
        clerk(agency),
        number,
        evidence_type,
        filename="scan.pdf",
        content_type="application/pdf",
        data=scans.pdf(note=number.encode()),
        now=at,
    )


def life_event(
    db: Session,
    event_id: str,
    at: datetime,
    subscriptions: list[Subscription],
    *,
    kind: str = "address_change",
    where: str = "taipei-city",
    by: str = TPE_HOUSEHOLD,
) -> list[int]:
    """A tell-us-once event recorded at ``at`` with one pending delivery per subscription
    (written with the event, as :func:`onceonly.notify.outbox.write_outbox` does): their ids."""
    db.add(
        LifeEvent(
            id=event_id,
            national_id=f"C{zlib.crc32(event_id.encode()) % 10**9:09d}",
            seq=1,
            kind=kind,
            source="household_registration",
            jurisdiction=where,
            occurred_at=at,
            recorded_at=at,
            recorded_by=by,
            payload={},
        )
    )
    db.flush()
    made = []
    for sub in subscriptions:
        delivery = Delivery(
            event_id=event_id,
            subscription_id=sub.id,
            agency_code=sub.agency_code,
            mode=sub.mode,
            national_id="C000000000",
            seq=1,
            payload={},
            status="pending",
            attempts=0,
            next_attempt_at=at,
            created_at=at,
        )
        db.add(delivery)
        db.flush()
        made.append(delivery.id)
    return made


def subscription(db: Session, agency: str) -> Subscription:
    sub = Subscription(
        agency_code=agency,
        event_kinds=["address_change"],
        fields=[],
        legal_basis="x",
        purpose="",
        mode="pull",
        secret="s",
        status="approved",
        requested_by="seed",
    )
    db.add(sub)
    db.flush()
    return sub


def die(db: Session, delivery_id: int, at: datetime) -> None:
    """The worker gives a delivery up at ``at``: dead, with its dead letter (as
    :func:`onceonly.notify.worker.record_outcomes` writes them, in one transaction)."""
    row = db.get(Delivery, delivery_id)
    assert row is not None and row.status == "pending"
    row.status, row.attempts = "dead", 8
    db.add(DeadLetter(delivery_id=delivery_id, attempts=8, last_error="gone", dead_at=at))
    db.flush()
