"""The clerk's counter (一處收件、全程服務): queue, new case, the case page with every piece of
evidence fetched at once, relay, decision, search and printable pages.

Plain HTML forms that work without JavaScript; every step goes through the cases service (and
the cases API's evidence step), commits, then tells the citizen. A refused step re-renders the
page with the reason next to the field it concerns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from onceonly.accounts.deps import Principal, require_roles
from onceonly.cases import service
from onceonly.cases.guards import CAUTION_KINDS, Caution, open_warnings
from onceonly.cases.kinship import fetch_relatives
from onceonly.cases.schemas import MAX_NOTE_CHARS, CaseView, SearchFilters
from onceonly.cases.steps import (
    Step,
    ask_case_evidence,
    case_actor,
    fetch_case_evidence,
    sms_provider,
)
from onceonly.catalog import service as catalog
from onceonly.counter import lookup
from onceonly.counter.evidence import agency_name, evidence_cards, transcript_card
from onceonly.counter.kinchart import build_chart
from onceonly.counter.pages import (
    actions_for,
    consent_request_lines,
    event_lines,
    relay_targets,
    request_rules_for,
)
from onceonly.db import transaction
from onceonly.errors import FieldError, Problem, not_found
from onceonly.exchange import pdf
from onceonly.exchange.service import exchange_for, transcript_keys
from onceonly.i18n import t
from onceonly.i18n.punctuation import join_words
from onceonly.open311 import service as open311
from onceonly.web.deps import Db, done_code, get_session_factory, language
from onceonly.web.params import Seq
from onceonly.web.templating import render

router = APIRouter(include_in_schema=False)

Clerk = Annotated[Principal, Depends(require_roles("clerk"))]
Lang = Annotated[str, Depends(language)]

FORM_PROBLEMS = (409, 413, 415, 422)
"""Refusals shown on the page next to the form; others (403, 404) become the error page."""


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render (a language chosen with ``?lang=`` is remembered for every page alike, by
    :mod:`onceonly.web.language_choice`)."""
    return render(request, name, status, **context)


def _step(request: Request, user: Principal, lang: str) -> Step:
    return Step(
        case_actor(user),
        get_session_factory(request),
        request.app.state.settings,
        sms_provider(request.app.state),
        lang,
    )


def _errors(problem: Problem, prefix: str) -> dict[str, str]:
    """Field errors keyed ``<form>.<field>``; a problem naming no field goes to ``<form>``."""
    if problem.errors:
        return {f"{prefix}.{e.field}": e.reason for e in problem.errors}
    return {prefix: problem.detail or problem.title}


def _agency(db: Session, user: Principal) -> catalog.AgencyView | None:
    return catalog.get_agency(db, user.agency_code)


# --- home: queue and a new case -------------------------------------------------------------


def _item_choices(
    db: Session, agency: catalog.AgencyView | None, query: str, selected: str
) -> tuple[list[catalog.ApplicationItemView], list[catalog.ApplicationItemView]]:
    """Items offered by the clerk's agency kind in its jurisdiction first; with a query, the
    other matching items after them."""
    mine: list[catalog.ApplicationItemView] = []
    if agency is not None:
        mine = catalog.search_application_items(
            db, query, agency_kind=agency.kind, jurisdiction=agency.jurisdiction
        )
    codes = {i.code for i in mine}
    others = []
    if query.strip():
        others = [i for i in catalog.search_application_items(db, query) if i.code not in codes]
        others = others[:30]
    if selected and selected not in codes and all(i.code != selected for i in others):
        chosen = catalog.get_application_item(db, selected)
        if chosen is not None:
            others.insert(0, chosen)
    return mine, others


def _home(
    request: Request,
    db: Session,
    user: Principal,
    lang: str,
    *,
    query: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    cautions: list[Caution] | None = None,
    status: int = 200,
) -> HTMLResponse:
    form = form or {}
    agency = _agency(db, user)
    queue = [(c, c.opening_agency != c.agency) for c in service.queue_for(db, user.agency_code)]
    mine, others = _item_choices(db, agency, query, form.get("application_item", ""))
    return page(
        request,
        "counter/home.html",
        status,
        agency_label=agency_name(db, user.agency_code, lang),
        queue=queue,
        item_names=_item_names(db, lang, [c.application_item for c, _ in queue]),
        agency_name=lambda code: agency_name(db, code, lang),
        query=query,
        mine=mine,
        others=others,
        form=form,
        errors=errors or {},
        cautions=cautions or [],
    )


def _item_names(db: Session, lang: str, codes: list[str]) -> dict[str, str]:
    """What each case is for, in words (a citizen's report: its Open311 service's name)."""
    return {code: service.item_name(db, code, lang) for code in set(codes)}


@router.get("/counter", response_class=HTMLResponse)
def counter_home(
    request: Request, user: Clerk, db: Db, lang: Lang, q: str = "", item: str = ""
) -> HTMLResponse:
    return _home(request, db, user, lang, query=q, form={"application_item": item})


@router.post("/counter/cases", response_class=HTMLResponse)
def open_case(
    request: Request,
    user: Clerk,
    lang: Lang,
    application_item: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
    contact_mobile: Annotated[str, Form()] = "",
    contact_language: Annotated[str, Form()] = "zh-TW",
    q: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "application_item": application_item,
        "subject": subject,
        "contact_email": contact_email,
        "contact_mobile": contact_mobile,
        "contact_language": contact_language,
    }
    # A second open case, or a citizen the register says has died or does not hold: say so
    # before anything is created. The clerk confirms on the same form; the warnings are
    # worked out again then, and any the clerk has not seen yet are shown first.
    confirmed_kinds = {k for k in confirmed.split(",") if k in CAUTION_KINDS}
    with transaction(get_session_factory(request)) as db:
        cautions = open_warnings(
            db, exchange_for(request.app.state).providers, user, application_item, subject, lang
        )
        if any(c.kind not in confirmed_kinds for c in cautions):
            return _home(request, db, user, lang, query=q, form=form, cautions=cautions, status=409)
    acknowledged = [c.kind for c in cautions]
    step = _step(request, user, lang)
    try:
        if not application_item:
            raise Problem(
                422,
                "validation",
                t("problem.validation", lang),
                errors=[_missing("application_item", lang)],
            )
        view = step(
            lambda db: service.open_case(
                db,
                step.actor,
                application_item=application_item,
                subject=subject,
                contact_email=contact_email or None,
                contact_mobile=contact_mobile or None,
                contact_language=contact_language,
                acknowledged=acknowledged,
                lang=lang,
            )
        )
    except Problem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        with get_session_factory(request)() as db:
            errors = {e.field: e.reason for e in problem.errors} or {"form": problem.detail}
            return _home(
                request, db, user, lang, query=q, form=form, errors=errors, status=problem.status
            )
    return RedirectResponse(f"/counter/cases/{view.number}?done=opened", status_code=303)


def _missing(name: str, lang: str) -> FieldError:
    return FieldError(name, t("counter.open.choose_item", lang), "missing")


# --- search ---------------------------------------------------------------------------------


@router.get("/counter/cases", response_class=HTMLResponse)
def search(request: Request, user: Clerk, db: Db, lang: Lang) -> HTMLResponse:
    raw = {k: v.strip() for k, v in request.query_params.items() if k != "lang" and v.strip()}
    errors: dict[str, str] = {}
    result = None
    try:
        filters = SearchFilters.model_validate(raw)
    except ValidationError as invalid:
        for error in invalid.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors[name] = (
                t(f"counter.search.invalid.{name}", lang)
                if name
                in (
                    "opened_from",
                    "opened_to",
                    "state",
                    "page",
                )
                else str(error["msg"])
            )
        filters = SearchFilters()
    if not errors:
        try:
            result = service.search_cases(db, case_actor(user), filters, lang=lang)
        except Problem as problem:
            if problem.status != 422:
                raise
            errors = {e.field: e.reason for e in problem.errors}
    agency = _agency(db, user)
    items = (
        catalog.search_application_items(db, "", jurisdiction=agency.jurisdiction) if agency else []
    )
    return page(
        request,
        "counter/search.html",
        422 if errors else 200,
        form=raw,
        errors=errors,
        result=result,
        items=items,
        item_names=_item_names(db, lang, [c.application_item for c in result.items])
        if result
        else {},
        agency_name=lambda code: agency_name(db, code, lang),
        states=("open", "gathering", "decided", "closed"),
        query_without_page=urlencode({k: v for k, v in raw.items() if k != "page"}),
    )


# --- the case page --------------------------------------------------------------------------


def _keys(request: Request, db: Session) -> Callable[[], dict[str, Any]]:
    """The keys transcripts on this node may be signed with (other nodes' too, on a
    federation node), looked up only when a page shows a transcript, and once per page."""
    return functools.cache(lambda: transcript_keys(exchange_for(request.app.state), db))


def _case_context(
    request: Request, db: Session, user: Principal, number: str, lang: str
) -> tuple[CaseView, dict[str, Any]]:
    actor = case_actor(user)
    case = service.get_case(db, actor, number, lang=lang)
    item = catalog.get_application_item(db, case.application_item)
    keys = _keys(request, db)
    cards = evidence_cards(db, request.app.state.settings, case, lang, keys)
    named = item or catalog.get_service(db, case.application_item)
    found = (
        open311.request_for_case(db, case.service_request_id, lang)
        if case.service_request_id
        else None
    )
    source = service.kinship_source(db, actor, number, lang)

    def place(code: str) -> str:
        found = catalog.get_jurisdiction(db, code)
        return (found.name_en if lang == "en" else found.name_zh) if found else code

    held = service.lookups(db, actor, number, lang=lang)
    answers = (
        lookup.cards(
            db,
            request.app.state.settings,
            held,
            keys(),
            lang,
            lambda c: agency_name(db, c, lang),
        )
        if held
        else []
    )
    kin = build_chart(source.subject, source.records, lang, place) if source else None
    kin_names = {p.key: p.name for p in kin.people} if kin else {}
    return case, {
        "kin": kin,
        "kin_can_fetch": bool(source and source.can_fetch),
        "kin_asked": [
            {
                "name": kin_names.get(row.national_id, t("counter.kin.no_name", lang)),
                "status": t(f"counter.status.{row.status}", lang),
                "offices": join_words((agency_name(db, o, lang) for o in row.owners), lang) or "—",
            }
            for row in (source.asked if source else [])
        ],
        "case": case,
        "item": item,
        "item_name": (named.name_en if lang == "en" else named.name_zh)
        if named
        else case.application_item,
        "service_request": found[0] if found else None,
        "service_answers": found[1] if found else [],
        "cards": cards,
        "events": event_lines(db, case, service.timeline(db, actor, number, lang=lang), lang),
        "measures": service.measures(db, number, lang=lang),
        "actions": actions_for(case, user),
        "targets": relay_targets(db, user.agency_code),
        "agency_name": lambda code: agency_name(db, code, lang),
        "relayed_in": case.opening_agency != case.agency,
        "note_limit": MAX_NOTE_CHARS,
        "lookup_offered": lookup.offered(item),
        "ask_other": [
            e.evidence_type
            for e in case.evidence
            if catalog.asks_for_another_person(db, e.evidence_type)
        ],
        "lookup_kinds": lookup.KINDS,
        "lookups": answers,
        "jurisdictions": [j for j in catalog.list_jurisdictions(db) if j.kind != "central"],
    }


def _case_page(
    request: Request,
    user: Principal,
    number: str,
    lang: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with transaction(get_session_factory(request)) as db:  # a carried piece's read is audited
        _, context = _case_context(request, db, user, number, lang)
        return page(
            request,
            "counter/case.html",
            status,
            errors=errors or {},
            form=form or {},
            done=done_code(request, "counter.done"),
            **context,
        )


@router.get("/counter/cases/{number}", response_class=HTMLResponse)
def case_page(request: Request, number: str, user: Clerk, lang: Lang) -> HTMLResponse:
    return _case_page(request, user, number, lang)


@router.get("/counter/cases/{number}/print", response_class=HTMLResponse)
def case_print(request: Request, number: str, user: Clerk, db: Db, lang: Lang) -> HTMLResponse:
    _, context = _case_context(request, db, user, number, lang)
    return page(request, "counter/print.html", **context)


def _held_transcript(
    db: Session, user: Principal, number: str, evidence_type: str, index: int, lang: str
) -> tuple[CaseView, str]:
    """The case (read as the clerk may read it: another agency's case is refused, another
    tenant's is not found) and its ``index``-th transcript of ``evidence_type``; refused
    when the clerk's agency may not see the piece's content."""
    case = service.get_case(db, case_actor(user), number, lang=lang)
    row = next((e for e in case.evidence if e.evidence_type == evidence_type), None)
    if row is not None and row.held_by:
        raise service.held_elsewhere(
            db, case.number, case.application_item, evidence_type, row.held_by, lang
        )
    if row is None or not 0 <= index < len(row.transcripts):
        raise not_found(t("counter.transcript.not_found", lang), lang)
    return case, row.transcripts[index].jws


@router.get("/counter/cases/{number}/transcripts/{evidence_type}/{index}")
def transcript_page(
    request: Request, number: str, evidence_type: str, index: Seq, user: Clerk, db: Db, lang: Lang
) -> HTMLResponse:
    case, token = _held_transcript(db, user, number, evidence_type, index, lang)
    keys = _keys(request, db)
    settings = request.app.state.settings
    card = transcript_card(db, settings, index, token, keys(), lang)
    cards = [
        c
        for c in evidence_cards(db, settings, case, lang, keys)
        if c.evidence_type == evidence_type
    ]
    return page(
        request,
        "counter/transcript.html",
        case=case,
        card=cards[0] if cards else None,
        transcript=card,
        token=token,
        base=f"/counter/cases/{case.number}/transcripts/{evidence_type}/{index}",
    )


@router.get("/counter/cases/{number}/transcripts/{evidence_type}/{index}/jws")
def transcript_jws(
    number: str, evidence_type: str, index: Seq, user: Clerk, db: Db, lang: Lang
) -> Response:
    """The transcript file itself, as the owner signed it (verifiable offline)."""
    case, token = _held_transcript(db, user, number, evidence_type, index, lang)
    return Response(
        token,
        media_type=pdf.JWS_MEDIA_TYPE,
        headers=dict(
            pdf.attachment_headers(pdf.download_name(case.number, evidence_type, index, "jws"))
        ),
    )


@router.get("/counter/cases/{number}/transcripts/{evidence_type}/{index}/pdf")
def transcript_pdf(
    request: Request, number: str, evidence_type: str, index: Seq, user: Clerk, lang: Lang
) -> Response:
    """The PDF transcript signed (PAdES) by the owner's key, or the reason it cannot be."""
    with transaction(get_session_factory(request)) as db:
        case, token = _held_transcript(db, user, number, evidence_type, index, lang)
        name = pdf.download_name(case.number, evidence_type, index, "pdf")
        data = pdf.pdf_for_token(
            db, request.app.state.settings, token, _keys(request, db)(), str(request.base_url), lang
        )
    return Response(data, media_type=pdf.PDF_MEDIA_TYPE, headers=dict(pdf.attachment_headers(name)))


def _held_lookup(
    db: Session, user: Principal, number: str, piece: int, index: int, lang: str
) -> tuple[str, str, str]:
    """The case number, the piece's evidence type and the ``index``-th transcript of a kept
    answer about a thing (read as the clerk may read the case)."""
    held = service.lookups(db, case_actor(user), number, lang=lang)
    row = next((h for h in held if h.id == piece), None)
    number = number.strip().upper()
    if row is not None and row.held_by:
        raise service.held_elsewhere(db, number, "", row.evidence_type, row.held_by, lang)
    if row is None or not 0 <= index < len(row.transcripts):
        raise not_found(t("counter.transcript.not_found", lang), lang)
    return number, f"{row.evidence_type}-{piece}", row.transcripts[index]


@router.get("/counter/cases/{number}/lookups/{piece}/{index}/jws")
def lookup_jws(number: str, piece: Seq, index: Seq, user: Clerk, db: Db, lang: Lang) -> Response:
    """A kept answer's transcript file, as the owner signed it (verifiable offline)."""
    case_number, name, token = _held_lookup(db, user, number, piece, index, lang)
    return Response(
        token,
        media_type=pdf.JWS_MEDIA_TYPE,
        headers=dict(pdf.attachment_headers(pdf.download_name(case_number, name, index, "jws"))),
    )


@router.get("/counter/cases/{number}/lookups/{piece}/{index}/pdf")
def lookup_pdf(
    request: Request, number: str, piece: Seq, index: Seq, user: Clerk, lang: Lang
) -> Response:
    """A kept answer's transcript as a PDF signed (PAdES) by the owner's key."""
    with transaction(get_session_factory(request)) as db:
        case_number, name, token = _held_lookup(db, user, number, piece, index, lang)
        data = pdf.pdf_for_token(
            db, request.app.state.settings, token, _keys(request, db)(), str(request.base_url), lang
        )
    filename = pdf.download_name(case_number, name, index, "pdf")
    return Response(
        data, media_type=pdf.PDF_MEDIA_TYPE, headers=dict(pdf.attachment_headers(filename))
    )


def _after(
    request: Request,
    user: Principal,
    number: str,
    lang: str,
    prefix: str,
    done: str,
    action: Callable[[], Any],
    form: dict[str, str] | None = None,
) -> Response:
    """Run one step; on success back to the case page, else the page with the reason."""
    try:
        action()
    except Problem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return _case_page(
            request,
            user,
            number,
            lang,
            errors=_errors(problem, prefix),
            form=form,
            status=problem.status,
        )
    anchor = {
        "fetched": "evidence",
        "paper": "evidence",
        "rule": "evidence",
        "consent_requested": "evidence",
        "kinship": "kinship",
    }.get(done, "top")
    return RedirectResponse(
        f"/counter/cases/{number.strip().upper()}?done={done}#{anchor}", status_code=303
    )


@router.post("/counter/cases/{number}/evidence")
def fetch_all(request: Request, number: str, user: Clerk, lang: Lang) -> Response:
    """Fetch every piece not yet held validly, all at once, as the cases API does."""
    step = _step(request, user, lang)
    return _after(
        request,
        user,
        number,
        lang,
        "fetch",
        "fetched",
        lambda: fetch_case_evidence(step, lambda: exchange_for(request.app.state), number),
    )


@router.post("/counter/cases/{number}/ask/{evidence_type}")
async def ask_about_another(
    request: Request, number: str, evidence_type: str, user: Clerk, lang: Lang
) -> Response:
    """Ask a predicate about the subject and a second person the clerk names (is this
    person within N degrees of kin?); the answer joins the case like any fetched piece."""
    posted = await request.form()
    other = posted.get("other")
    params = {"other": other.strip()} if isinstance(other, str) and other.strip() else {}
    step = _step(request, user, lang)

    def run() -> Response:
        try:
            ask_case_evidence(
                step, lambda: exchange_for(request.app.state), number, evidence_type, params
            )
        except Problem as problem:
            if problem.status not in FORM_PROBLEMS:
                raise
            errors = {f"ask.{e.field.rsplit('.', 1)[-1]}": e.reason for e in problem.errors} or {
                "ask": problem.detail or problem.title
            }
            return _case_page(
                request, user, number, lang, errors=errors,
                form={"ask.other": params.get("other", "")}, status=problem.status,
            )  # fmt: skip
        return RedirectResponse(
            f"/counter/cases/{number.strip().upper()}?done=fetched#evidence", status_code=303
        )

    return await run_in_threadpool(run)


@router.post("/counter/cases/{number}/kinship")
def fetch_kinship(request: Request, number: str, user: Clerk, lang: Lang) -> Response:
    """Ask each relative's household office (here or on another node) for their record."""
    step = _step(request, user, lang)
    return _after(
        request,
        user,
        number,
        lang,
        "kinship",
        "kinship",
        lambda: fetch_relatives(step, lambda: exchange_for(request.app.state), number),
    )


@router.post("/counter/cases/{number}/lookup")
async def lookup_thing(request: Request, number: str, user: Clerk, lang: Lang) -> Response:
    """At a land item: ask about a parcel, building or house number (or, for the person,
    fetch as usual) and show the answer on the case page."""
    posted = await request.form()
    form = {k: v for k, v in posted.items() if isinstance(v, str) and k != "csrf_token"}
    if form.get("kind") == "person":
        return await run_in_threadpool(fetch_all, request, number, user, lang)
    step = _step(request, user, lang)

    def run() -> Response:
        with get_session_factory(request)() as db:
            case = service.get_case(db, case_actor(user), number, lang=lang)
        try:
            lookup.ask(
                step, lambda: exchange_for(request.app.state), case.number,
                case.application_item, form,
            )  # fmt: skip
        except Problem as problem:
            if problem.status not in FORM_PROBLEMS:
                raise
            return _case_page(
                request, user, number, lang, errors=_errors(problem, "lookup"),
                form={f"lookup.{k}": v for k, v in form.items()}, status=problem.status,
            )  # fmt: skip
        return RedirectResponse(
            f"/counter/cases/{case.number}?done=lookup#lookup-answer", status_code=303
        )

    return await run_in_threadpool(run)


@router.post("/counter/cases/{number}/paper")
async def attach_paper(
    request: Request,
    number: str,
    user: Clerk,
    lang: Lang,
    evidence_type: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    data = await file.read(service.MAX_PAPER_BYTES + 1) if file is not None else b""
    step = _step(request, user, lang)

    def attach() -> None:
        step(
            lambda db: service.attach_paper(
                db,
                step.settings,
                step.actor,
                number,
                evidence_type,
                filename=(file.filename if file else "") or "",
                content_type=(file.content_type if file else "") or "",
                data=data,
                lang=lang,
            )
        )

    return await run_in_threadpool(
        _after, request, user, number, lang, f"paper-{evidence_type}", "paper", attach
    )


@router.post("/counter/cases/{number}/rule-request")
def rule_request(
    request: Request,
    number: str,
    user: Clerk,
    lang: Lang,
    evidence_type: Annotated[str, Form()] = "",
) -> Response:
    def ask() -> None:
        with transaction(get_session_factory(request)) as db:
            case = service.get_case(db, case_actor(user), number, lang=lang)
            request_rules_for(db, user, case, evidence_type, lang)

    return _after(request, user, number, lang, f"rule-{evidence_type}", "rule", ask)


def _change(
    request: Request,
    user: Principal,
    number: str,
    lang: str,
    prefix: str,
    done: str,
    change: Callable[[Session, service.CaseActor], CaseView],
    form: dict[str, str] | None = None,
) -> Response:
    """One state change of the case by the signed-in clerk, through the cases API's step."""
    step = _step(request, user, lang)
    return _after(
        request,
        user,
        number,
        lang,
        prefix,
        done,
        lambda: step(lambda db: change(db, step.actor)),
        form,
    )


@router.post("/counter/cases/{number}/consent-request")
def consent_request(request: Request, number: str, user: Clerk, lang: Lang) -> Response:
    """Send the citizen the request to consent, listing what would be fetched and the law."""
    return _change(
        request,
        user,
        number,
        lang,
        "consent",
        "consent_requested",
        lambda db, actor: service.request_consent(
            db,
            actor,
            number,
            consent_request_lines(db, service.get_case(db, actor, number, lang=lang)),
            lang=lang,
        ),
    )


@router.post("/counter/cases/{number}/relay")
def relay(
    request: Request,
    number: str,
    user: Clerk,
    lang: Lang,
    to_agency: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    return _change(
        request,
        user,
        number,
        lang,
        "relay",
        "relayed",
        lambda db, actor: service.relay_case(db, actor, number, to_agency, note, lang=lang),
        {"relay.to_agency": to_agency, "relay.note": note},
    )


@router.post("/counter/cases/{number}/decide")
def decide(
    request: Request,
    number: str,
    user: Clerk,
    lang: Lang,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _change(
        request,
        user,
        number,
        lang,
        "decide",
        "decided",
        lambda db, actor: service.decide_case(db, actor, number, decision, reason, lang=lang),
        {"decide.decision": decision, "decide.reason": reason},
    )


@router.post("/counter/cases/{number}/close")
def close(request: Request, number: str, user: Clerk, lang: Lang) -> Response:
    return _change(
        request,
        user,
        number,
        lang,
        "close",
        "closed",
        lambda db, actor: service.close_case(db, actor, number, lang=lang),
    )
