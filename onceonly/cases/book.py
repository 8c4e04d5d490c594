"""The cases capability as the exchange sees it (:class:`CaseBook`): the few facts of the case
an evidence request names, read with one prepared statement.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from onceonly.cases import kinship
from onceonly.cases.models import Case
from onceonly.cases.state import TRANSITIONS
from onceonly.policy.purpose import CaseFacts
from onceonly.prepared import Prepared

_CASE_FACTS = Prepared(
    select(Case.number, Case.agency, Case.application_item, Case.subject, Case.state).where(
        Case.number == bindparam("number")
    )
)
"""Only the columns the exchange needs, on the driver's cursor: every evidence request reads
its case, and loading a whole case row costs more than running the query."""


class CaseBook:
    """The cases capability as the exchange's :class:`~onceonly.policy.purpose.CaseThingAnswer`:
    what an evidence request needs to know of the case it names (wired by the app factory)."""

    def case_facts(self, session: Session, number: str) -> CaseFacts | None:
        found = _CASE_FACTS.rows(session, {"number": number.strip().upper()})
        if not found:
            return None
        case_number, agency, application_item, subject, state = found[0]
        return CaseFacts(
            number=case_number,
            agency=agency,
            application_item=application_item,
            subject=subject or "",
            gathering=state in TRANSITIONS["gather"],
            state=state,
        )

    def relatives(self, session: Session, number: str) -> frozenset[str]:
        case = session.scalars(select(Case).where(Case.number == number.strip().upper())).first()
        return kinship.relatives_of_case(session, case) if case is not None else frozenset()
