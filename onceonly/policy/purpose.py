"""The purpose of an evidence request: an open case of the clerk's own agency.

A clerk names an application item and a case with every evidence request; both decide which
owner rules apply, so both must be true. The exchange therefore asks a :class:`CaseLookup`
for the case and refuses a request whose case is not open at the clerk's agency, is for
another item, or is about another citizen. The cases capability implements the lookup; the
app factory wires it in (the core never imports a workflow package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t


@dataclass(frozen=True)
class CaseFacts:
    """What the exchange needs to know of a case to accept it as a request's purpose."""

    number: str
    agency: str
    """The agency whose queue holds the case now (after a relay, the receiving one)."""
    application_item: str
    subject: str
    gathering: bool
    """Evidence may still be gathered for it (not decided, not closed)."""
    state: str


class CaseLookup(Protocol):
    """Finds a case by its number; ``None`` when no case has that number."""

    def case_facts(self, session: Session, number: str) -> CaseFacts | None: ...

    def relatives(self, session: Session, number: str) -> frozenset[str]:
        """Others the case may ask about: for a kinship chart, the relatives the subject's
        own kinship record names and those their records name in turn (two steps, no
        further). Asked only of a request about someone other than the case's subject."""
        ...


def check_case(
    lookup: CaseLookup | None,
    session: Session,
    *,
    agency: str,
    case_id: str,
    application_item: str,
    subject: str | None,
    lang: str | None = None,
) -> CaseFacts:
    """The case ``case_id`` if it is a fitting purpose for this request, else a 4xx naming
    the field. A case of another agency answers exactly as a number that does not exist, so
    case numbers of other agencies do not leak."""
    if lookup is None:
        raise Problem(
            403,
            "no-case-register",
            t("policy.purpose.title", lang),
            t("policy.purpose.no_register", lang),
        )
    facts = lookup.case_facts(session, case_id)
    if facts is None or facts.agency != agency:
        raise validation_problem(
            [FieldError("case_id", t("policy.purpose.no_case", lang, case=case_id), "no_case")],
            lang,
        )
    if not facts.gathering:
        raise Problem(
            409,
            "case-not-open",
            t("policy.purpose.title", lang),
            t("policy.purpose.not_open", lang, case=facts.number, state=facts.state),
            [
                FieldError(
                    "case_id",
                    t("policy.purpose.not_open", lang, case=facts.number, state=facts.state),
                    "not_open",
                )
            ],
        )
    errors = []
    if facts.application_item != application_item:
        errors.append(
            FieldError(
                "application_item",
                t(
                    "policy.purpose.other_item",
                    lang,
                    case=facts.number,
                    item=facts.application_item,
                ),
                "not_case_item",
            )
        )
    if (
        subject is not None
        and facts.subject != subject
        and subject not in lookup.relatives(session, facts.number)
    ):
        errors.append(
            FieldError(
                "subject",
                t("policy.purpose.other_subject", lang, case=facts.number),
                "not_case_subject",
            )
        )
    if errors:
        raise validation_problem(errors, lang)
    return facts
