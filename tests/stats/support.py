"""What the statistics tests share: a case as the counter would have stored it, opened at a
chosen moment, and a frozen clock for the public view (the public figures depend on now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from onceonly.cases.models import Case, CaseEvidence

ITEM = "public-housing-low-income"
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
