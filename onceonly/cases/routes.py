"""The cases JSON API (``/api/v1/cases``) and the administrators' view of citizen messages.

Every step commits first and then sends the citizen's messages, so a mail server that is
down never undoes a step: the failure is recorded and ``retry`` sends it later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.cases import guards, notifications, service
from onceonly.cases.notifications import SmsProvider
from onceonly.cases.schemas import (
    CasePage,
    CaseSummaryView,
    CaseView,
    CautionView,
    DecideIn,
    EventView,
    FetchEvidenceIn,
    Measures,
    NotificationView,
    OpenCaseIn,
    OpenWarningsOut,
    RelayIn,
    SearchFilters,
    SmsOutboxView,
)
from onceonly.cases.steps import Step, case_actor, fetch_case_evidence, sms_provider
from onceonly.config import Settings
from onceonly.errors import not_found
from onceonly.exchange.schemas import EvidenceResponse
from onceonly.i18n import t
from onceonly.web.deps import (
    Db,
    language,
    session_factory,
    settings_of,
)

if TYPE_CHECKING:
    from onceonly.exchange.service import Exchange

router = APIRouter(tags=["cases"])

PROBLEM: dict[str, object] = {"content": {"application/problem+json": {}}}
STEP_RESPONSES: dict[int | str, dict[str, object]] = {
    403: {"description": "The case is in another agency's queue", **PROBLEM},
    404: {"description": "No such case", **PROBLEM},
    409: {"description": "The case's state does not allow this step", **PROBLEM},
    422: {"description": "Invalid input, naming the field", **PROBLEM},
}

Clerk = Annotated[Principal, Depends(require_roles("clerk"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Lang = Annotated[str, Depends(language)]
Factory = Annotated[sessionmaker[Session], Depends(session_factory)]
AppSettings = Annotated[Settings, Depends(settings_of)]


def get_sms(request: Request) -> SmsProvider:
    return sms_provider(request.app.state)


Sms = Annotated[SmsProvider, Depends(get_sms)]


def exchange_of(request: Request) -> Exchange:
    """The app's evidence exchange. Imported on first use: the exchange loads the provider
    adapters, which the rest of the cases API (and the app's start) does not need."""
    from onceonly.exchange.service import exchange_for

    return exchange_for(request.app.state)


class EvidenceFetchOut(BaseModel):
    case: CaseView
    fetch: EvidenceResponse | None
    """What the exchange answered; ``None`` when every piece was already held and valid."""


class CaseSummaryOut(BaseModel):
    case: CaseView
    timeline: list[EventView]
    measures: Measures
    needs_refresh: list[str]


class RetryOut(BaseModel):
    sent: list[int]
    failed: list[int]


def get_step(
    principal: Clerk, factory: Factory, settings: AppSettings, sms: Sms, lang: Lang
) -> Step:
    return Step(case_actor(principal), factory, settings, sms, lang)


CaseStep = Annotated[Step, Depends(get_step)]


@router.post(
    "/api/v1/cases",
    response_model=CaseView,
    status_code=201,
    summary="Open a case for an application item and a citizen",
    responses={422: STEP_RESPONSES[422]},
)
def open_case(body: OpenCaseIn, step: CaseStep) -> CaseView:
    return step(
        lambda db: service.open_case(
            db,
            step.actor,
            application_item=body.application_item,
            subject=body.subject,
            contact_email=body.contact_email,
            contact_mobile=body.contact_mobile,
            contact_language=body.contact_language,
            acknowledged=body.acknowledged,
            lang=step.lang,
        )
    )


@router.get(
    "/api/v1/cases/warnings",
    response_model=OpenWarningsOut,
    summary="Warnings before opening a case: a second open case, a deceased or unregistered "
    "citizen",
    description="What the counter warns about before a clerk opens a case for "
    "`application_item` and `subject`: an open case of the same item for the citizen that "
    "the clerk's agency handles or has handled, or the household register saying the citizen "
    "died or holds no one with this ID (asked for two fields only when the register's owner "
    "lets the clerk's agency read it for this item, and audited as a look at the record; "
    "otherwise not asked). Opening is "
    "still allowed (a second case can be right, the register can lag); pass the kinds the "
    "clerk went past as `acknowledged` to `POST /api/v1/cases`. An empty list: nothing "
    "looks amiss.",
    responses={422: STEP_RESPONSES[422]},
)
def open_warnings(
    request: Request,
    principal: Clerk,
    factory: Factory,
    lang: Lang,
    application_item: Annotated[str, Query(min_length=1, max_length=120)],
    subject: Annotated[str, Query(min_length=1, max_length=20)],
) -> OpenWarningsOut:
    from onceonly.db import transaction

    with transaction(factory) as db:
        guards.check_request(db, principal, application_item, subject, lang)
        found = guards.open_warnings(
            db, exchange_of(request).providers, principal, application_item, subject, lang
        )
    return OpenWarningsOut(
        warnings=[
            CautionView.model_validate(
                {"kind": c.kind, "text": c.text, "case_number": c.case_number}
            )
            for c in found
        ]
    )


@router.get("/api/v1/cases", response_model=CasePage, summary="Search cases")
def search_cases(
    filters: Annotated[SearchFilters, Query()], principal: Clerk, db: Db, lang: Lang
) -> CasePage:
    return service.search_cases(db, case_actor(principal), filters, lang=lang)


@router.get(
    "/api/v1/cases/queue",
    response_model=list[CaseSummaryView],
    summary="The signed-in clerk's agency queue: cases not closed, oldest first",
)
def queue(principal: Clerk, db: Db) -> list[CaseSummaryView]:
    return service.queue_for(db, principal.agency_code)


@router.get("/api/v1/cases/{number}", response_model=CaseView, responses=STEP_RESPONSES)
def get_case(number: str, principal: Clerk, db: Db, lang: Lang) -> CaseView:
    return service.get_case(db, case_actor(principal), number, lang=lang)


@router.post(
    "/api/v1/cases/{number}/evidence",
    response_model=EvidenceFetchOut,
    summary="Fetch the case's evidence from the owning agencies",
    description=(
        "Runs an evidence request for the case's application item and citizen and keeps "
        "what comes back. Only pieces not held validly are fetched (never fetched, failed "
        "or expired), so a relayed case is not fetched twice; `refresh_all` fetches all. "
        "Pieces that cannot be issued are kept with the reason, and the answer is still 200."
    ),
    responses=STEP_RESPONSES,
)
def fetch_evidence(
    number: str,
    step: CaseStep,
    request: Request,
    body: FetchEvidenceIn | None = None,
) -> EvidenceFetchOut:
    view, response = fetch_case_evidence(
        step, lambda: exchange_of(request), number, refresh_all=bool(body and body.refresh_all)
    )
    return EvidenceFetchOut(case=view, fetch=response)


@router.post(
    "/api/v1/cases/{number}/paper",
    response_model=CaseView,
    summary="Attach a scanned paper document in place of one piece of evidence",
    responses={
        **STEP_RESPONSES,
        413: {"description": "Over 10 MB", **PROBLEM},
        415: {"description": "Not a PDF, PNG or JPEG", **PROBLEM},
    },
)
async def attach_paper(
    number: str,
    evidence_type: Annotated[str, Form(min_length=1, max_length=80)],
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG, at most 10 MB")],
    step: CaseStep,
) -> CaseView:
    data = await file.read(service.MAX_PAPER_BYTES + 1)
    return await run_in_threadpool(
        step,
        lambda db: service.attach_paper(
            db,
            step.settings,
            step.actor,
            number,
            evidence_type,
            filename=file.filename or "",
            content_type=file.content_type or "",
            data=data,
            lang=step.lang,
        ),
    )


@router.get(
    "/api/v1/cases/{number}/paper/{evidence_type}",
    summary="Download an attached paper scan",
    responses=STEP_RESPONSES,
)
def download_paper(
    number: str, evidence_type: str, principal: Clerk, db: Db, settings: AppSettings, lang: Lang
) -> FileResponse:
    found = service.paper_file(settings, db, case_actor(principal), number, evidence_type, lang)
    if found is None or not found[0].is_file():
        raise not_found(t("cases.paper.not_found", lang), lang)
    path, content_type, filename = found
    return FileResponse(path, media_type=content_type, filename=filename)


@router.post("/api/v1/cases/{number}/relay", response_model=CaseView, responses=STEP_RESPONSES)
def relay_case(number: str, body: RelayIn, step: CaseStep) -> CaseView:
    """Move the case, with its evidence, to another agency's queue (傳遞)."""
    return step(
        lambda db: service.relay_case(
            db, step.actor, number, body.to_agency, body.note, lang=step.lang
        )
    )


@router.post("/api/v1/cases/{number}/decide", response_model=CaseView, responses=STEP_RESPONSES)
def decide_case(number: str, body: DecideIn, step: CaseStep) -> CaseView:
    return step(
        lambda db: service.decide_case(
            db, step.actor, number, body.decision, body.reason, lang=step.lang
        )
    )


@router.post("/api/v1/cases/{number}/close", response_model=CaseView, responses=STEP_RESPONSES)
def close_case(number: str, step: CaseStep) -> CaseView:
    return step(lambda db: service.close_case(db, step.actor, number, lang=step.lang))


@router.get(
    "/api/v1/cases/{number}/timeline", response_model=list[EventView], responses=STEP_RESPONSES
)
def case_timeline(number: str, principal: Clerk, db: Db, lang: Lang) -> list[EventView]:
    return service.timeline(db, case_actor(principal), number, lang=lang)


@router.get(
    "/api/v1/cases/{number}/summary",
    response_model=CaseSummaryOut,
    summary="Everything about a case in one document (the printable page's data)",
    responses=STEP_RESPONSES,
)
def case_summary(number: str, principal: Clerk, db: Db, lang: Lang) -> CaseSummaryOut:
    actor = case_actor(principal)
    return CaseSummaryOut(
        case=service.get_case(db, actor, number, lang=lang),
        timeline=service.timeline(db, actor, number, lang=lang),
        measures=service.measures(db, number, lang=lang),
        needs_refresh=service.evidence_needing_refresh(db, number, lang=lang),
    )


@router.get(
    "/api/v1/admin/notifications",
    response_model=list[NotificationView],
    tags=["admin"],
    summary="Messages to citizens and how their delivery went",
)
def list_notifications(
    principal: Admin,
    db: Db,
    status: Annotated[str | None, Query(pattern="^(pending|sending|sent|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationView]:
    return notifications.list_notifications(
        db, status=status, limit=limit, scope=scope_of(principal)
    )


@router.post(
    "/api/v1/admin/notifications/retry",
    response_model=RetryOut,
    tags=["admin"],
    summary="Send failed messages to citizens again",
)
def retry_notifications(
    principal: Admin, factory: Factory, settings: AppSettings, sms: Sms
) -> RetryOut:
    report = notifications.retry_failed_notifications(factory, settings, sms)
    return RetryOut(sent=report.sent, failed=report.failed)


@router.get(
    "/api/v1/admin/sms-outbox",
    response_model=list[SmsOutboxView],
    tags=["admin"],
    summary="Text messages written by the default SMS provider",
)
def sms_outbox(
    principal: Admin, db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[SmsOutboxView]:
    return notifications.list_sms_outbox(db, limit=limit, scope=scope_of(principal))
