"""The household-registration clerk's tell-us-once pages (通報) at the counter: choose the kind
of event, fill in its fields, see which agencies will be told, send, and get a reference
number; and find any report again by that number.

Plain HTML forms, like the case pages: a refused event re-renders the form with each reason
next to its field. Everything goes through :mod:`onceonly.notify.intake`, the same service the
API uses. The confirmation step carries a fresh ``Idempotency-Key``, so sending twice (a
double click, a reload) records the event once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import CENTRAL, Scope, scope_of
from onceonly.accounts.users import get_user
from onceonly.catalog import service as catalog
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import Problem
from onceonly.i18n import t
from onceonly.notify import intake, outbox, relays
from onceonly.notify.events import LifeEventIn
from onceonly.notify.kinds import EVENT_KINDS, HOUSEHOLD_KINDS, EventKind
from onceonly.notify.register_log import Reader
from onceonly.notify.routes import cities_served_here, register_of
from onceonly.web.deps import Db, language
from onceonly.web.templating import render

router = APIRouter(include_in_schema=False)

Clerk = Annotated[Principal, Depends(require_roles("clerk"))]
Lang = Annotated[str, Depends(language)]

PAGE = "/counter/tell-us-once"
JURISDICTION_FIELDS = frozenset({"to_jurisdiction", "from_jurisdiction"})


def _office(db: Session, user: Principal, lang: str) -> catalog.AgencyView:
    """The clerk's agency, when it records registration events; a 403 page otherwise."""
    agency = catalog.get_agency(db, user.agency_code)
    if agency is None or agency.kind not in intake.REPORTING_AGENCY_KINDS:
        raise Problem(
            403,
            "not-a-reporting-office",
            t("problem.forbidden", lang),
            t("notify.error.not_reporting_office", lang, agency=user.agency_code),
        )
    return agency


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: str(v).strip() for k, v in data.items() if isinstance(v, str)}


def _event(form: dict[str, str], user: Principal) -> LifeEventIn:
    kind = EVENT_KINDS.get(form.get("kind", ""))
    fields = kind.fields if kind else ()
    return LifeEventIn(
        kind=form.get("kind", ""),
        national_id=form.get("national_id", ""),
        payload={f: form[f] for f in fields if form.get(f)},
        recorded_by=user.username,
    )


def _contact(form: dict[str, str], lang: str) -> intake.Contact | None:
    return intake.checked_contact(
        form.get("contact_email"),
        form.get("contact_mobile"),
        form.get("contact_language") or lang,
        lang,
    )


FORM_PROBLEM = "form"
"""The key of a reason that names no field (the register not answering, say)."""

CONTACT_LABELS = {
    "contact_mobile": "counter.open.mobile",
    "contact_email": "counter.open.email",
}
"""The contact fields' labels, as the form shows them."""


def _errors(problem: Problem) -> dict[str, str]:
    """Reasons keyed by form field (``payload.x`` is the form's ``x``)."""
    if not problem.errors:
        return {FORM_PROBLEM: problem.detail or problem.title}
    return {e.field.removeprefix("payload."): e.reason for e in problem.errors}


@dataclass(frozen=True)
class SummaryLine:
    """One line of the form's error summary: the field in the words of its label, linking to
    it, and what is wrong; a reason naming no field of the form is said on its own."""

    text: str
    target: str | None


def _summary(errors: dict[str, str], kind: EventKind | None, lang: str) -> list[SummaryLine]:
    """The error summary above the form, in the form's order, each field named by its label."""
    labels = {"kind": t("notify.counter.kind", lang)}
    labels["national_id"] = t("notify.field.national_id", lang)
    for name in kind.fields if kind else ():
        labels[name] = t(f"notify.field.{name}", lang)
    labels |= {name: t(key, lang) for name, key in CONTACT_LABELS.items()}
    order = list(labels)
    lines = []
    for name, reason in sorted(
        errors.items(), key=lambda item: order.index(item[0]) if item[0] in labels else -1
    ):
        if name not in labels:
            lines.append(SummaryLine(reason, None))
            continue
        target = "f-kind-choice" if name == "kind" else f"f-{name}"
        text = t("notify.counter.error_line", lang, field=labels[name], reason=reason)
        lines.append(SummaryLine(text, target))
    return lines


def _page(
    request: Request,
    db: Session,
    user: Principal,
    lang: str,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    form = form or {}
    kind = EVENT_KINDS.get(form.get("kind", ""))
    return render(
        request,
        "notify/counter.html",
        status,
        kinds=HOUSEHOLD_KINDS,
        kind=kind,
        form=form,
        errors=errors or {},
        summary=_summary(errors or {}, kind, lang),
        jurisdictions=[j for j in catalog.list_jurisdictions(db) if j.code != CENTRAL],
        jurisdiction_fields=JURISDICTION_FIELDS,
        office=catalog.get_agency(db, user.agency_code),
        **context,
    )


@router.get(PAGE, response_class=HTMLResponse)
def tell_us_once(
    request: Request, user: Clerk, db: Db, lang: Lang, kind: str = "", reference: str = ""
) -> HTMLResponse:
    _office(db, user, lang)
    if reference:
        return _report_page(request, db, user, lang, reference)
    chosen = kind if kind in HOUSEHOLD_KINDS else ""
    return _page(request, db, user, lang, form={"kind": chosen})


@router.post(f"{PAGE}/preview", response_class=HTMLResponse)
async def preview(request: Request, user: Clerk, db: Db, lang: Lang) -> HTMLResponse:
    form = await _form(request)
    return await run_in_threadpool(_preview, request, user, db, lang, form)


def _preview(
    request: Request, user: Principal, db: Session, lang: str, form: dict[str, str]
) -> HTMLResponse:
    """Every check, nothing recorded: the clerk and the informant see who will be told."""
    _office(db, user, lang)
    contact_errors: dict[str, str] = {}
    try:
        _contact(form, lang)
    except Problem as problem:  # said together with the event's own problems, if any
        if problem.status != 422:
            raise
        contact_errors = _errors(problem)
    try:
        told = intake.preview_event(
            db,
            _event(form, user),
            register_of(request, db),
            user.agency_code,
            lang=lang,
            reader=Reader.of(user),
        )
    except Problem as problem:
        if problem.status not in (422, 503):
            raise
        errors = _errors(problem) | contact_errors
        return _page(request, db, user, lang, form=form, errors=errors, status=422)
    if contact_errors:
        return _page(request, db, user, lang, form=form, errors=contact_errors, status=422)
    return _page(
        request,
        db,
        user,
        lang,
        form=form,
        confirm=True,
        recipients=told,
        relayed_to=_relayed_to(request, db, form, lang),
        subject=mask_national_id(form.get("national_id", "")),
        idempotency_key=str(uuid.uuid4()),
    )


@router.post(PAGE, response_class=HTMLResponse)
async def send(request: Request, user: Clerk, db: Db, lang: Lang) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_send, request, user, db, lang, form)


def _send(
    request: Request, user: Principal, db: Session, lang: str, form: dict[str, str]
) -> Response:
    _office(db, user, lang)
    try:
        accepted = intake.report_event(
            db,
            _event(form, user),
            register_of(request, db),
            user.agency_code,
            idempotency_key=form.get("idempotency_key") or None,
            contact=_contact(form, lang),
            lang=lang,
            served_here=cities_served_here(request),
            reader=Reader.of(user),
        )
    except Problem as problem:
        if problem.status not in (422, 503):
            raise
        return _page(request, db, user, lang, form=form, errors=_errors(problem), status=422)
    return RedirectResponse(f"{PAGE}?reference={accepted.reference}&sent=1", status_code=303)


def _report_page(
    request: Request, db: Session, user: Principal, lang: str, reference: str
) -> HTMLResponse:
    """One report by its reference number, with every agency's status in words; a report
    of another tenant reads exactly like a number that does not exist."""
    event = intake.find_by_reference(db, reference)
    scope = scope_of(user)
    visible = event is not None and (
        scope.tenant == CENTRAL
        or event.jurisdiction == scope.tenant
        or any(scope.sees_agency(r.agency_code) for r in intake.recipients_of(db, event.id))
        or _recorded_in(db, event.recorded_by, scope)
    )
    if event is None or not visible:
        return _page(
            request,
            db,
            user,
            lang,
            errors={"reference": t("notify.error.no_reference", lang, reference=reference)},
            form={"reference": reference},
            status=404,
        )
    status = next(s for s in outbox.citizen_events(db, event.national_id) if s.id == event.id)
    return render(
        request,
        "notify/report.html",
        report=status,
        reference=intake.reference_of(event.id),
        subject=mask_national_id(event.national_id),
        names={
            a.agency_code: intake.recipient_name(db, a.agency_code, lang) for a in status.agencies
        },
        sent=request.query_params.get("sent") == "1",
        back=PAGE,
        relay=relays.relay_of(db, event.id),
        city_name=lambda code: _city_name(db, code, lang),
    )


def _recorded_in(db: Session, recorded_by: str | None, scope: Scope) -> bool:
    """Whether a clerk of ``scope``'s tenant recorded the event: a 新北市 office registering
    the death of a person registered in 臺北市 finds its own report again."""
    recorder = get_user(db, recorded_by) if recorded_by else None
    return recorder is not None and scope.sees_agency(recorder.agency_code)


def _relayed_to(request: Request, db: Session, form: dict[str, str], lang: str) -> str | None:
    """The city, in words, whose node will be told of this 遷入's 遷出 half, if any."""
    served_here = cities_served_here(request)
    old = form.get("from_jurisdiction", "")
    if form.get("kind") != "move_in" or served_here is None or not old or old in served_here:
        return None
    return _city_name(db, old, lang)


def _city_name(db: Session, code: str, lang: str) -> str:
    city = catalog.get_jurisdiction(db, code)
    if city is None:
        return code
    return city.name_en if lang == "en" else city.name_zh
