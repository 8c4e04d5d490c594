"""Kinship charts (親系關係圖) of a case: the relatives' records, asked where they are kept.

The case subject's kinship record (the ``kinship`` evidence of the case) names their
parents, spouses and children; each of those people's own record is kept by the household
office where *they* are registered, on this node or another. The clerk's chart needs those
records too (a sibling is found through the parents' record, a grandchild through a
child's), so each is asked through the exchange like any other evidence: under the case's
purpose, the owner's rule deciding which fields leave, signed by the owner, audited.

The case's purpose stretches exactly two steps from its subject: the exchange accepts a
relative as the subject of a request naming the case only if the subject's own record names
them, or the record of someone it names does (:func:`relatives_of_case`, read by the
exchange through :class:`~onceonly.policy.purpose.CaseFacts`). Parents' parents, children's
children and parents' other children are within reach; strangers are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from onceonly.cases.holding import Sight
from onceonly.cases.models import Case, CaseEvidence, CaseKinRecord
from onceonly.db import transaction, utcnow

if TYPE_CHECKING:
    from onceonly.cases.steps import Step
    from onceonly.exchange.schemas import EvidenceResult
    from onceonly.exchange.service import Exchange

KIN_DATASET = "kinship"


def _rows(fields: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = (fields or {}).get("relatives") or []
    return [dict(row) for row in rows if isinstance(row, Mapping)]


def _named(fields: Mapping[str, Any] | None) -> list[str]:
    """National IDs a record names besides its own person, in the record's order."""
    return [
        str(row["national_id"])
        for row in _rows(fields)
        if row.get("relation") != "self" and row.get("national_id")
    ]


_SUBJECT_RECORD = select(CaseEvidence.fields).where(
    CaseEvidence.case_id == bindparam("case_id"),
    CaseEvidence.dataset == KIN_DATASET,
    CaseEvidence.status == "issued",
)
"""Built once: every evidence request asks it (through the case's relatives)."""


def subject_record(session: Session, case: Case) -> dict[str, Any] | None:
    """The case subject's kinship record, if the case holds it issued."""
    fields = session.scalars(_SUBJECT_RECORD, {"case_id": case.id}).first()
    return dict(fields) if fields else None


def _kin_rows(session: Session, case: Case) -> dict[str, CaseKinRecord]:
    rows = session.scalars(select(CaseKinRecord).where(CaseKinRecord.case_id == case.id))
    return {row.national_id: row for row in rows}


def relatives_of_case(session: Session, case: Case) -> frozenset[str]:
    """Who the case may ask about besides its subject: named by the subject's record, or by
    the record of one of them (two steps)."""
    own = subject_record(session, case)
    if own is None or not case.subject:
        return frozenset()
    first = set(_named(own))
    kept = _kin_rows(session, case)
    second = {k for person in first if person in kept for k in _named(kept[person].fields)}
    return frozenset((first | second) - {case.subject})


def _wanted(session: Session, case: Case) -> list[tuple[str, str]]:
    """(relative, named by) of the relatives within reach whose record is not held yet."""
    own = subject_record(session, case)
    if own is None or not case.subject:
        return []
    kept = _kin_rows(session, case)
    wanted: dict[str, str] = {}
    for person in _named(own):
        wanted.setdefault(person, case.subject)
    for person in list(wanted):
        if person in kept:
            for other in _named(kept[person].fields):
                wanted.setdefault(other, person)
    return [
        (person, by)
        for person, by in wanted.items()
        if person != case.subject and (person not in kept or kept[person].status != "issued")
    ]


def records(
    session: Session, case: Case, kept: Iterable[CaseKinRecord] | None = None
) -> list[list[dict[str, Any]]]:
    """Every kinship record the case holds (the subject's first), as lists of rows; of the
    relatives', only those in ``kept`` when given."""
    own = subject_record(session, case)
    if own is None:
        return []
    found = [_rows(own)]
    found += [
        _rows(row.fields)
        for row in (kept if kept is not None else _kin_rows(session, case).values())
        if row.status == "issued" and row.fields
    ]
    return found


def kin_records(session: Session, case: Case) -> list[CaseKinRecord]:
    return list(_kin_rows(session, case).values())


def _keep(
    session: Session,
    case: Case,
    person: str,
    named_by: str,
    result: EvidenceResult,
    request_id: str | None,
    username: str,
    moment: datetime,
) -> None:
    row = _kin_rows(session, case).get(person)
    if row is None:
        row = CaseKinRecord(case_id=case.id, national_id=person)
        session.add(row)
    issued = result.status == "issued"
    row.named_by = named_by
    row.status = result.status
    row.reason_zh = result.reason.zh_TW
    row.reason_en = result.reason.en
    row.owners = list(result.owners)
    row.fields = result.fields if issued else None
    row.transcripts = [tr.model_dump() for tr in result.transcripts] if issued else []
    row.request_id = request_id
    row.fetched_by = username
    row.fetched_at = moment


def fetch_relatives(step: Step, exchange: Callable[[], Exchange], number: str) -> int:
    """Ask, through the exchange, for the kinship record of every relative within reach not
    held yet (first those the subject's record names, then those their records name); keep
    each answer on the case. Returns how many were asked."""
    from onceonly.cases import service
    from onceonly.errors import Problem
    from onceonly.exchange.schemas import EvidenceAsk, EvidenceRequestIn, EvidenceResponse
    from onceonly.exchange.service import Actor, request_evidence

    actor, lang = step.actor, step.lang
    requester = Actor(actor.username, actor.badge or "", actor.role, actor.agency, actor.credential)
    asked = 0
    for _round in range(2):
        with transaction(step.factory) as db:
            case = service.load_for_handler(db, actor, number, lang)
            wanted = _wanted(db, case)
            item, case_number = case.application_item, case.number
        if not wanted:
            break
        answers: list[tuple[str, str, EvidenceResult, str | None]] = []
        for person, by in wanted:
            ask = EvidenceRequestIn(
                case_id=case_number,
                application_item=item,
                subject=person,
                evidence=[EvidenceAsk(type=KIN_DATASET)],
            )
            try:
                response = request_evidence(exchange(), requester, ask, lang)
            except Problem as problem:
                if "results" not in problem.extra:
                    raise
                response = EvidenceResponse.model_validate(problem.extra)
            asked += 1
            answers += [(person, by, r, response.request_id) for r in response.results]
        with transaction(step.factory) as db:
            case = service.load_for_handler(db, actor, number, lang)
            moment = utcnow()
            for person, by, result, request_id in answers:
                _keep(db, case, person, by, result, request_id, actor.username, moment)
    return asked


def named_in(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The national IDs a list of record rows carries (to check none leaks to a page)."""
    return [str(r["national_id"]) for r in rows if r.get("national_id")]


class KinSource:
    """What a chart of the case is drawn from, read as the clerk may read the case."""

    def __init__(
        self,
        subject: str,
        records: list[list[dict[str, Any]]],
        asked: list[CaseKinRecord],
        can_fetch: bool,
        shown: list[CaseKinRecord] | None = None,
    ) -> None:
        self.subject = subject
        self.records = records
        self.asked = asked
        self.can_fetch = can_fetch
        """Relatives within reach are not all held yet (the clerk may ask for them)."""
        self.shown = shown if shown is not None else asked
        """The relatives' records the chart is drawn from (those the reader may see)."""


def chart_source(session: Session, case: Case, seen: Sight | None = None) -> KinSource | None:
    """The case's kinship records, or None when the case holds no kinship record (or, with
    ``seen``, none the reader's agency may see: the subject's own, then each relative's,
    only if it fetched it or received the case afterwards)."""
    slot = session.scalars(
        select(CaseEvidence).where(
            CaseEvidence.case_id == case.id,
            CaseEvidence.dataset == KIN_DATASET,
            CaseEvidence.status == "issued",
        )
    ).first()
    if slot is None or not slot.fields or not case.subject:
        return None
    if seen is not None and not seen.sees(slot.fetched_at, slot.fetched_agency):
        return None
    asked = kin_records(session, case)
    shown = [row for row in asked if seen is None or seen.sees(row.fetched_at)]
    return KinSource(
        case.subject,
        records(session, case, shown),
        asked,
        bool(_wanted(session, case)) and case.state in ("open", "gathering"),
        shown,
    )
