"""Running a step of a case for a clerk, shared by the cases API and the counter pages.

A step commits first and then tells the citizen, so a mail server that is down never undoes
it (the failure is recorded and ``retry`` sends the message later). Fetching a case's
evidence is the one step that crosses into another capability: it asks the exchange for the
pieces not yet held validly and records what came back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases import notifications, service
from onceonly.cases.notifications import OutboxSms, SmsProvider
from onceonly.cases.schemas import CaseView
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.errors import Problem

if TYPE_CHECKING:
    from onceonly.accounts.deps import Principal
    from onceonly.exchange.schemas import EvidenceRequestIn, EvidenceResponse
    from onceonly.exchange.service import Exchange


def case_actor(principal: Principal) -> service.CaseActor:
    return service.CaseActor(
        principal.username,
        principal.agency_code,
        principal.role,
        principal.badge,
        principal.credential,
    )


def sms_provider(app_state: Any) -> SmsProvider:
    """The app's SMS provider (``app.state.sms``), by default the administrators' outbox."""
    provider: SmsProvider | None = getattr(app_state, "sms", None)
    return provider if provider is not None else OutboxSms(app_state.sessions)


@dataclass(frozen=True)
class Step:
    """Runs one step of a case for the signed-in clerk: commit first, then tell the citizen."""

    actor: service.CaseActor
    factory: sessionmaker[Session]
    settings: Settings
    sms: SmsProvider
    lang: str

    def __call__(self, action: Callable[[Session], CaseView]) -> CaseView:
        with transaction(self.factory) as db:
            view = action(db)
        notifications.deliver_pending(
            self.factory, self.settings, self.sms, case_number=view.number
        )
        return view


def ask_owners(
    step: Step, exchange: Callable[[], Exchange], body: EvidenceRequestIn
) -> EvidenceResponse:
    """The exchange's answer to ``body`` for the step's clerk. A refusal that still carries
    its pieces' results (none could be issued) is an answer to keep, not an error."""
    from onceonly.exchange.schemas import EvidenceResponse
    from onceonly.exchange.service import Actor, request_evidence

    actor = step.actor
    requester = Actor(actor.username, actor.badge or "", actor.role, actor.agency, actor.credential)
    try:
        return request_evidence(exchange(), requester, body, step.lang)
    except Problem as problem:
        if "results" not in problem.extra:
            raise
        return EvidenceResponse.model_validate(problem.extra)


def ask_case_evidence(
    step: Step,
    exchange: Callable[[], Exchange],
    number: str,
    evidence_type: str,
    params: Mapping[str, Any],
) -> tuple[CaseView, EvidenceResponse]:
    """Ask for one piece of case ``number`` with the parameters the clerk gives (the other
    person of a kinship) and keep the answer on the case; a wrong parameter is a 422 naming
    it, and nothing is kept."""
    from onceonly.exchange.schemas import EvidenceAsk, EvidenceRequestIn

    actor, lang = step.actor, step.lang
    with transaction(step.factory) as db:
        plan = service.plan_fetch(db, actor, number, only=evidence_type, lang=lang)
    ask = EvidenceRequestIn(
        case_id=plan.number,
        application_item=plan.application_item,
        subject=plan.subject,
        evidence=[EvidenceAsk(type=evidence_type, params=dict(params))],
    )
    response = ask_owners(step, exchange, ask)
    view = step(lambda db: service.record_evidence(db, actor, plan.number, response, lang=lang))
    return view, response


def fetch_case_evidence(
    step: Step, exchange: Callable[[], Exchange], number: str, refresh_all: bool = False
) -> tuple[CaseView, EvidenceResponse | None]:
    """Ask the owners for every piece of case ``number`` not yet held validly (all of them
    with ``refresh_all``) and keep the answers on the case. Pieces that cannot be issued are
    kept with their reasons. Returns the case and what the exchange answered (``None`` when
    nothing needed fetching). ``exchange`` is called only when something must be fetched: a
    case relayed with its evidence needs no provider adapters loaded."""
    from onceonly.exchange.schemas import EvidenceAsk, EvidenceRequestIn

    actor, lang = step.actor, step.lang
    with transaction(step.factory) as db:
        plan = service.plan_fetch(db, actor, number, refresh_all=refresh_all, lang=lang)
        if not plan.evidence_types:
            return service.get_case(db, actor, number, lang=lang), None
    ask = EvidenceRequestIn(
        case_id=plan.number,
        application_item=plan.application_item,
        subject=plan.subject,
        evidence=[EvidenceAsk(type=code) for code in plan.evidence_types],
    )
    response = ask_owners(step, exchange, ask)
    view = step(lambda db: service.record_evidence(db, actor, plan.number, response, lang=lang))
    return view, response
