"""The citizen portal (``/me``), card sign-in, and the auditors' flag queue (``/audit/flags``).

A page of the portal asked for by a browser that is not signed in answers 401 with the card
sign-in form itself (then comes back to the page), rather than the staff password form; API
callers get the usual 401 problem document.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from onceonly.accounts import sessions as browser_sessions
from onceonly.accounts.deps import (
    SESSION_COOKIE,
    OptionalUser,
    Principal,
    require_roles,
    set_session_cookie,
)
from onceonly.accounts.routes import safe_next
from onceonly.audit.proofs import proof_for_subject
from onceonly.audit.tree_routes import names_clerk_problem
from onceonly.audit.tree_store import proof_entry
from onceonly.audit.verify import ActorNotRedactable
from onceonly.catalog import service as catalog
from onceonly.citizens import accesses, banners, consents, flags, previews
from onceonly.citizens.accounts import ensure_citizen, national_id_of
from onceonly.citizens.identity import SignInFailed, providers
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.exchange import pdf
from onceonly.exchange.service import exchange_for, transcript_keys
from onceonly.i18n import t
from onceonly.validation_words import ApiInput
from onceonly.web.deps import Db, get_language, get_session_factory, settings_of
from onceonly.web.errors import wants_html
from onceonly.web.params import Page, RowId, Seq
from onceonly.web.templating import render

PER_PAGE = 50


class _SignInNeeded(Exception):
    pass


class CitizenRoute(APIRoute):
    """Renders the card sign-in page (401) when a portal page needs a signed-in citizen."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except _SignInNeeded:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return _signin_page(request, safe_next(target), 401)

        return route


router = APIRouter(route_class=CitizenRoute)

AppSettings = Annotated[Settings, Depends(settings_of)]
AuditorUser = Annotated[Principal, Depends(require_roles("auditor"))]


class Citizen:
    """The signed-in citizen and the national ID they stand for."""

    def __init__(self, principal: Principal, national_id: str) -> None:
        self.principal = principal
        self.national_id = national_id


async def _citizen(request: Request, user: OptionalUser) -> Citizen:
    lang = get_language(request)
    if user is None:
        if wants_html(request) and request.method == "GET":
            raise _SignInNeeded()
        raise Problem(
            401, "unauthenticated", t("problem.unauthenticated", lang), t("citizens.auth", lang)
        )
    national_id = national_id_of(user)
    if national_id is None:
        raise Problem(
            403,
            "forbidden",
            t("problem.forbidden", lang),
            t("citizens.only", lang),
            extra={"required_roles": ["citizen"], "role": user.role},
        )
    return Citizen(user, national_id)


CitizenUser = Annotated[Citizen, Depends(_citizen)]


def _signin_page(request: Request, next_url: str, status: int = 200) -> HTMLResponse:
    return render(request, "citizens/signin.html", status, next=next_url)


# --- sign-in -------------------------------------------------------------------------------


def _audience(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


class BeginOut(BaseModel):
    provider: str
    challenge_id: str
    challenge: str | None = Field(description="Text to sign with the card key (ECDSA P-256).")
    redirect_url: str | None = None
    expires_at: datetime


class CompleteIn(ApiInput):
    challenge_id: str = Field(min_length=1, max_length=64)
    certificate: str = Field(min_length=1, max_length=20000, description="PEM certificate.")
    signature: str = Field(
        min_length=1, max_length=200, description="base64url of the raw r||s signature."
    )
    next: str = "/me"


class CompleteOut(BaseModel):
    redirect: str
    name: str
    national_id_masked: str


@router.get("/citizen/login", response_class=HTMLResponse, include_in_schema=False)
def signin_page(request: Request, next: str = "/me") -> HTMLResponse:
    return _signin_page(request, safe_next(next))


@router.post(
    "/api/v1/citizen/sign-in/begin",
    response_model=BeginOut,
    tags=["citizen"],
    summary="Start signing in with the citizen digital certificate",
)
def signin_begin(request: Request, settings: AppSettings) -> BeginOut:
    provider = providers(settings)["card"]
    with transaction(get_session_factory(request)) as db:
        start = provider.begin(db, audience=_audience(request))
    return BeginOut(
        provider=start.provider,
        challenge_id=start.challenge_id,
        challenge=start.challenge,
        redirect_url=start.redirect_url,
        expires_at=start.expires_at,
    )


@router.post(
    "/api/v1/citizen/sign-in/complete",
    response_model=CompleteOut,
    tags=["citizen"],
    summary="Finish signing in: the signed challenge and the card's certificate",
    description="On success the response sets the session cookie of a citizen session.",
)
def signin_complete(request: Request, body: CompleteIn, settings: AppSettings) -> Response:
    lang = get_language(request)
    provider = providers(settings)["card"]
    failure: SignInFailed | None = None
    refused: Problem | None = None
    with transaction(get_session_factory(request)) as db:
        try:
            identity = provider.complete(db, body.model_dump(), audience=_audience(request))
            user = ensure_citizen(db, identity.national_id, identity.name, lang)
        except SignInFailed as error:
            failure = error  # the used challenge is committed all the same
        except Problem as problem:
            refused = problem  # and so it is when the account is not the card holder's
        else:
            old = request.cookies.get(SESSION_COOKIE)
            if old:
                browser_sessions.revoke_session(db, old)
            new_session = browser_sessions.create_session(db, user.id, settings.session_minutes)
    if refused is not None:
        raise refused
    if failure is not None:
        raise Problem(
            401, "sign-in-failed", t("citizens.signin.failed", lang), failure.reason(lang)
        )
    body_out = CompleteOut(
        redirect=safe_next(body.next),
        name=identity.name,
        national_id_masked=mask_national_id(identity.national_id),
    )
    response = JSONResponse(body_out.model_dump())
    set_session_cookie(response, request, new_session.token, settings.session_minutes)
    return response


# --- who looked ----------------------------------------------------------------------------

TAIWAN = accesses.TAIWAN


EARLIEST_DAY = date(1912, 1, 1)
LATEST_DAY = date(9998, 12, 31)
"""Days a filter or a consent may name: the day after 9999-12-31 does not exist (a 500)."""


def _day(value: str | None, name: str, lang: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as error:
        raise validation_problem([FieldError(name, t("citizens.filter.bad_date", lang))]) from error
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        reason = t("citizens.filter.out_of_range", lang, earliest=EARLIEST_DAY, latest=LATEST_DAY)
        raise validation_problem([FieldError(name, reason)], lang)
    return day


def _midnight(day: date) -> datetime:
    """The start of ``day`` in Taiwan, in UTC (stored times are UTC; SQLite compares digits)."""
    return datetime.combine(day, time(), TAIWAN).astimezone(UTC)


class _Filters:
    def __init__(
        self,
        request: Request,
        since: str | None = None,
        until: str | None = None,
        agency: str | None = None,
        dataset: str | None = None,
        page: Page = 1,
    ) -> None:
        lang = get_language(request)
        first, last = _day(since, "since", lang), _day(until, "until", lang)
        if first and last and first > last:
            raise validation_problem([FieldError("since", t("citizens.filter.bad_range", lang))])
        self.criteria = accesses.AccessFilter(
            since=_midnight(first) if first else None,
            until=_midnight(last + timedelta(days=1)) if last else None,
            agency=(agency or "").strip() or None,
            dataset=(dataset or "").strip() or None,
        )
        self.form = {
            "since": first.isoformat() if first else "",
            "until": last.isoformat() if last else "",
            "agency": (agency or "").strip(),
            "dataset": (dataset or "").strip(),
        }
        self.page = max(1, page)

    def query(self, **extra: object) -> str:
        values = {k: v for k, v in self.form.items() if v}
        values.update({k: str(v) for k, v in extra.items()})
        return "?" + urlencode(values) if values else ""


Filters = Annotated[_Filters, Depends()]


@router.get("/me", response_class=HTMLResponse, include_in_schema=False)
def my_data(request: Request, citizen: CitizenUser, db: Db, filters: Filters) -> HTMLResponse:
    lang = get_language(request)
    items, total = accesses.list_accesses(
        db,
        citizen.national_id,
        filters.criteria,
        lang,
        limit=PER_PAGE,
        offset=(filters.page - 1) * PER_PAGE,
    )
    own_flags = flags.flags_of_citizen(db, citizen.national_id)
    flag_by_seq: dict[int, flags.FlagView] = {}
    for flag in own_flags:
        flag_by_seq.setdefault(flag.entry_seq, flag)
    pending = [p for p in previews.list_previews(db, citizen.national_id) if p.status == "pending"]
    return render(
        request,
        "citizens/me.html",
        done=banners.flag_done(request, db, citizen.national_id, own_flags, lang),
        citizen=citizen,
        masked=mask_national_id(citizen.national_id),
        items=items,
        total=total,
        page=filters.page,
        pages=max(1, math.ceil(total / PER_PAGE)),
        filters=filters,
        flags=flag_by_seq,
        on_page={a.seq for a in items},
        can_flag=flags.flaggable,
        pending_previews=len(pending),
        asks=len(consents.open_asks(db, citizen.national_id)),
        agencies=_agency_choices(db, citizen.national_id, lang),
        datasets=[
            (d.code, d.name_en if lang == "en" else d.name_zh) for d in catalog.list_datasets(db)
        ],
    )


def _agency_choices(db: Session, national_id: str, lang: str) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for access in accesses.iter_accesses(db, national_id, accesses.AccessFilter(), lang):
        if access.agency and access.agency not in seen:
            seen[access.agency] = access.agency_name
        for code, name in zip(access.owners, access.owner_names, strict=False):
            seen.setdefault(code, name)
    return sorted(seen.items(), key=lambda kv: kv[1])


@router.get("/me/accesses.csv", include_in_schema=False)
def export_csv(request: Request, citizen: CitizenUser, db: Db, filters: Filters) -> Response:
    rows = accesses.iter_accesses(db, citizen.national_id, filters.criteria, get_language(request))
    return Response(
        accesses.export_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="my-data-accesses.csv"'},
    )


@router.get("/me/accesses.json", include_in_schema=False)
def export_json(request: Request, citizen: CitizenUser, db: Db, filters: Filters) -> Response:
    rows = accesses.iter_accesses(db, citizen.national_id, filters.criteria, get_language(request))
    return Response(
        accesses.export_json(rows),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-data-accesses.json"'},
    )


@router.get(
    "/api/v1/me/accesses",
    tags=["citizen"],
    summary="Who looked at my data (the signed-in citizen's audit entries)",
)
def api_accesses(request: Request, citizen: CitizenUser, db: Db, filters: Filters) -> Response:
    rows = accesses.iter_accesses(db, citizen.national_id, filters.criteria, get_language(request))
    return Response(accesses.export_json(rows), media_type="application/json")


@router.get("/me/accesses/{seq}/proof", include_in_schema=False)
def download_proof(
    request: Request, seq: Seq, citizen: CitizenUser, db: Db, settings: AppSettings
) -> Response:
    lang = get_language(request)
    entry = proof_entry(db, seq)
    if entry is None or entry.get("subject") != citizen.national_id:
        raise Problem(404, "not-found", t("citizens.flag.no_entry", lang, seq=seq))
    try:
        document = proof_for_subject(db, settings, seq, citizen.principal.username)
    except ActorNotRedactable as older:
        raise names_clerk_problem(seq, lang) from older
    return JSONResponse(
        document,
        headers={"Content-Disposition": f'attachment; filename="audit-proof-{seq}.json"'},
    )


@router.post("/me/accesses/{seq}/flag", include_in_schema=False)
def flag_access(
    request: Request,
    seq: Seq,
    citizen: CitizenUser,
    note: Annotated[str, Form()] = "",
) -> Response:
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        flag = flags.raise_flag(db, citizen.principal, citizen.national_id, seq, note, lang)
    done = banners.address("/me", banners.FLAG_RAISED, flag.id, lang)
    return RedirectResponse(done, status_code=303)


# --- consent -------------------------------------------------------------------------------


@router.get("/me/consents", response_class=HTMLResponse, include_in_schema=False)
def my_consents(request: Request, citizen: CitizenUser, db: Db) -> HTMLResponse:
    lang = get_language(request)
    cat = accesses._catalog.check(db)
    items = [
        (i.code, i.name_en if lang == "en" else i.name_zh)
        for i in catalog.search_application_items(db, "")
    ]
    own = consents.consents_of(db, citizen.national_id)
    return render(
        request,
        "citizens/consents.html",
        done=banners.consent_done(request, own),
        citizen=citizen,
        masked=mask_national_id(citizen.national_id),
        consents=own,
        asks=consents.open_asks(db, citizen.national_id),
        what=lambda ask: consents.in_words(db, ask, lang),
        items=items,
        named=lambda code: cat.name(db, code, lang),
    )


@router.post("/me/consents", include_in_schema=False)
def grant_consent(
    request: Request,
    citizen: CitizenUser,
    application_item: Annotated[str, Form()] = "",
    case_id: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    lang = get_language(request)
    last = _day(until, "until", lang)
    with transaction(get_session_factory(request)) as db:
        consent_id = consents.grant(
            db, citizen.principal, citizen.national_id, application_item, case_id, last, lang
        )
    done = banners.address("/me/consents", banners.CONSENT_GRANTED, consent_id, lang)
    return RedirectResponse(done, status_code=303)


@router.post("/me/consents/{consent_id}/revoke", include_in_schema=False)
def revoke_consent(request: Request, consent_id: RowId, citizen: CitizenUser) -> Response:
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        consents.revoke(db, citizen.principal, citizen.national_id, consent_id, lang)
    done = banners.address("/me/consents", banners.CONSENT_REVOKED, consent_id, lang)
    return RedirectResponse(done, status_code=303)


# --- preview -------------------------------------------------------------------------------


@router.get("/me/previews", response_class=HTMLResponse, include_in_schema=False)
def my_previews(request: Request, citizen: CitizenUser, db: Db) -> HTMLResponse:
    lang = get_language(request)
    cat = accesses._catalog.check(db)
    dataset_views = {d.code: d for d in catalog.list_datasets(db)}

    def label(dataset: str, field: str) -> str:
        view = dataset_views.get(dataset)
        found = view.field(field) if view else None
        if found is None:
            return field
        return str(getattr(found, "label_en" if lang == "en" else "label_zh", field))

    def predicate(dataset: str, code: str) -> str:
        view = dataset_views.get(dataset)
        found = view.predicate(code) if view else None
        if found is None:
            return code
        return found.name_en if lang == "en" else found.name_zh

    keys: dict[str, Any] = {}

    def no_pdf(held: object) -> str | None:
        """Why no PDF of a held transcript can be made here (the page then offers its file)."""
        if not keys:
            keys.update(transcript_keys(exchange_for(request.app.state), db))
        token = str(held.get("jws", "")) if isinstance(held, dict) else ""
        return pdf.why_no_pdf_for_token(db, request.app.state.settings, token, keys, lang)

    own = previews.list_previews(db, citizen.national_id)
    return render(
        request,
        "citizens/previews.html",
        done=banners.preview_done(request, own),
        predicate=predicate,
        no_pdf=no_pdf,
        citizen=citizen,
        masked=mask_national_id(citizen.national_id),
        previews=own,
        named=lambda code: cat.name(db, code, lang),
        label=label,
    )


def _held_transcript(db: Session, citizen: Citizen, preview_id: int, index: int, lang: str) -> str:
    """The ``index``-th transcript held in one of the citizen's own previews."""
    view = previews.get_preview(db, citizen.national_id, preview_id, lang)
    held = view.held.get("transcripts") or []
    if not 0 <= index < len(held) or not isinstance(held[index], dict):
        raise Problem(404, "not-found", t("counter.transcript.not_found", lang))
    return str(held[index].get("jws", ""))


@router.get("/me/previews/{preview_id}/transcripts/{index}/jws", include_in_schema=False)
def preview_transcript_jws(
    request: Request, preview_id: RowId, index: Seq, citizen: CitizenUser, db: Db
) -> Response:
    """The citizen's own transcript file, as the owner signed it."""
    token = _held_transcript(db, citizen, preview_id, index, get_language(request))
    name = pdf.download_name(f"P-{preview_id}", "preview", index, "jws")
    return Response(
        token, media_type=pdf.JWS_MEDIA_TYPE, headers=dict(pdf.attachment_headers(name))
    )


@router.get("/me/previews/{preview_id}/transcripts/{index}/pdf", include_in_schema=False)
def preview_transcript_pdf(
    request: Request, preview_id: RowId, index: Seq, citizen: CitizenUser
) -> Response:
    """The citizen's own transcript as a PDF signed by the owner, or why it cannot be."""
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        token = _held_transcript(db, citizen, preview_id, index, lang)
        view = previews.get_preview(db, citizen.national_id, preview_id, lang)
        jwks = transcript_keys(exchange_for(request.app.state), db)
        data = pdf.pdf_for_token(
            db, request.app.state.settings, token, jwks, str(request.base_url), lang
        )
    name = pdf.download_name(view.case_id, view.evidence_type, index, "pdf")
    return Response(data, media_type=pdf.PDF_MEDIA_TYPE, headers=dict(pdf.attachment_headers(name)))


def _decide_preview(request: Request, citizen: Citizen, preview_id: int, approve: bool) -> Response:
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        view = previews.decide_preview(db, citizen.national_id, preview_id, approve, lang)
        consents._log(
            db,
            citizen.principal,
            citizen.national_id,
            "preview.approved" if approve else "preview.declined",
            preview_id=view.id,
            application_item=view.application_item,
            case_id=view.case_id,
            dataset=view.dataset,
        )
    code = banners.PREVIEW_APPROVED if approve else banners.PREVIEW_DECLINED
    return RedirectResponse(banners.address("/me/previews", code, view.id, lang), status_code=303)


@router.post("/me/previews/{preview_id}/approve", include_in_schema=False)
def approve_preview(request: Request, preview_id: RowId, citizen: CitizenUser) -> Response:
    return _decide_preview(request, citizen, preview_id, True)


@router.post("/me/previews/{preview_id}/decline", include_in_schema=False)
def decline_preview(request: Request, preview_id: RowId, citizen: CitizenUser) -> Response:
    return _decide_preview(request, citizen, preview_id, False)


# --- auditors' queue -----------------------------------------------------------------------


@router.get("/audit/flags", response_class=HTMLResponse, include_in_schema=False)
def flag_queue(request: Request, auditor: AuditorUser, db: Db) -> HTMLResponse:
    from onceonly.audit.log import AuditEntryView
    from onceonly.audit.models import AuditEntry

    lang = get_language(request)
    queue = flags.flags_for_auditor(db, auditor)
    entries = {}
    for flag in queue:
        row = db.get(AuditEntry, flag.entry_seq)
        if row is not None:
            entries[flag.entry_seq] = accesses.describe(db, AuditEntryView.from_row(row), lang)
    return render(
        request,
        "citizens/flag_queue.html",
        queue=queue,
        entries=entries,
        mask=mask_national_id,
        jurisdiction=flags.jurisdiction_of(auditor.agency_code),
    )


@router.post("/audit/flags/{flag_id}/reply", include_in_schema=False)
def reply_to_flag(
    request: Request,
    flag_id: RowId,
    auditor: AuditorUser,
    reply: Annotated[str, Form()] = "",
) -> Response:
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        flags.reply_flag(db, auditor, flag_id, reply, lang)
    return RedirectResponse(f"/audit/flags?lang={lang}", status_code=303)


class FlagOut(BaseModel):
    id: int
    entry_seq: int
    subject_masked: str
    note: str
    status: str
    created_at: datetime
    reply: str | None
    replied_by_badge: str | None
    replied_by_agency: str | None
    replied_at: datetime | None
    jurisdictions: list[str]


@router.get(
    "/api/v1/audit/flags",
    response_model=list[FlagOut],
    tags=["audit"],
    summary="Citizens' flags in the auditor's queue (auditors)",
)
def api_flag_queue(auditor: AuditorUser, db: Db) -> list[FlagOut]:
    return [
        FlagOut(
            id=f.id,
            entry_seq=f.entry_seq,
            subject_masked=mask_national_id(f.subject),
            note=f.note,
            status=f.status,
            created_at=f.created_at,
            reply=f.reply,
            replied_by_badge=f.replied_by_badge,
            replied_by_agency=f.replied_by_agency,
            replied_at=f.replied_at,
            jurisdictions=list(f.jurisdictions),
        )
        for f in flags.flags_for_auditor(db, auditor)
    ]


@router.get("/me/reports", response_class=HTMLResponse, include_in_schema=False)
def my_reports(request: Request, citizen: CitizenUser, db: Db, kind: str = "") -> HTMLResponse:
    """Tell-us-once: the life events about me and each agency's status in words, my messages,
    and a form to report my own changes (the kinds the citizen reports themselves)."""
    return _reports_page(request, citizen, db, form={"kind": kind})


def _reports_page(
    request: Request,
    citizen: Citizen,
    db: Session,
    *,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    from onceonly.notify import intake, outbox
    from onceonly.notify.kinds import CITIZEN_KINDS, EVENT_KINDS

    lang = get_language(request)
    events = outbox.citizen_events(db, citizen.national_id)
    cat = accesses._catalog.check(db)
    sent = request.query_params.get("sent", "") if request.method == "GET" else ""
    return render(
        request,
        "citizens/reports.html",
        status,
        done=banners.report_done(sent, events, intake.reference_of),
        citizen=citizen,
        masked=mask_national_id(citizen.national_id),
        events=events,
        named=lambda code: cat.name(db, code, lang),
        reference=intake.reference_of,
        messages=outbox.citizen_messages(db, citizen.national_id),
        own_kinds=CITIZEN_KINDS,
        kind=EVENT_KINDS.get(form.get("kind", "")) if form.get("kind") in CITIZEN_KINDS else None,
        form=form,
        errors=errors or {},
        **context,
    )


def _own_report(
    request: Request, citizen: Citizen, db: Session, form: dict[str, str], *, send: bool
) -> Response:
    """Check (and with ``send``, record) the citizen's own report; a refusal re-renders the
    form with each reason next to its field."""
    from onceonly.exchange.service import exchange_for
    from onceonly.notify import intake
    from onceonly.notify.events import LifeEventIn
    from onceonly.notify.kinds import CITIZEN, CITIZEN_KINDS, EVENT_KINDS
    from onceonly.notify.register import household_register

    lang = get_language(request)
    kind = form.get("kind", "")
    fields = EVENT_KINDS[kind].fields if kind in CITIZEN_KINDS else ()
    event = LifeEventIn(
        kind=kind,
        national_id=citizen.national_id,
        payload={f: form[f] for f in fields if form.get(f)},
        recorded_by="citizen",
    )
    register = household_register(db, exchange_for(request.app.state).providers)
    caller = f"citizen:{citizen.national_id}"
    try:
        if not send:
            told = intake.preview_event(db, event, register, caller, source=CITIZEN, lang=lang)
            return _reports_page(
                request,
                citizen,
                db,
                form=form,
                confirm=True,
                recipients=told,
                idempotency_key=str(uuid.uuid4()),
            )
        accepted = intake.report_event(
            db,
            event,
            register,
            caller,
            source=CITIZEN,
            idempotency_key=form.get("idempotency_key") or None,
            lang=lang,
        )
    except Problem as problem:
        if problem.status not in (422, 503):
            raise
        errors = {e.field.removeprefix("payload."): e.reason for e in problem.errors}
        if not errors:
            errors = {"kind": problem.detail or problem.title}
        return _reports_page(request, citizen, db, form=form, errors=errors, status=422)
    return RedirectResponse(
        f"/me/reports?lang={lang}&sent={accepted.reference}#event-{accepted.event.seq}",
        status_code=303,
    )


@router.post("/me/reports/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_own_report(request: Request, citizen: CitizenUser, db: Db) -> Response:
    form = await _form_fields(request)
    return await run_in_threadpool(_own_report, request, citizen, db, form, send=False)


@router.post("/me/reports", include_in_schema=False)
async def send_own_report(request: Request, citizen: CitizenUser, db: Db) -> Response:
    form = await _form_fields(request)
    return await run_in_threadpool(_own_report, request, citizen, db, form, send=True)


async def _form_fields(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: str(v).strip() for k, v in data.items() if isinstance(v, str)}
