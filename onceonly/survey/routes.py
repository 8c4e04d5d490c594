"""``/survey``: the staff survey pages. Clerks see the waves they are asked to answer (the
reminder) and answer each once, in their own browser session only (an API token, or any
credential someone else issued for the account, is refused); their tenant's administrators
open waves and read results with auditors; results come as the report's tables, SVG charts
drawn here and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.catalog import service as catalog
from onceonly.counter.evidence import agency_name
from onceonly.counter.routes import FORM_PROBLEMS, page
from onceonly.db import transaction, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.survey import service as survey
from onceonly.web.deps import done_code, get_session_factory, language
from onceonly.web.params import RowId

router = APIRouter(include_in_schema=False)

TAIPEI = ZoneInfo("Asia/Taipei")
Staff = Annotated[Principal, Depends(require_roles("clerk", "admin", "auditor"))]
Clerk = Annotated[Principal, Depends(require_roles("clerk"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("admin", "auditor"))]
Lang = Annotated[str, Depends(language)]


def _home(
    request: Request,
    user: Principal,
    lang: str,
    *,
    errors: dict[str, str] | None = None,
    form: Mapping[str, object] | None = None,
    status: int = 200,
) -> HTMLResponse:
    scope = scope_of(user)
    with get_session_factory(request)() as db:
        to_answer = survey.waves_to_answer(db, user.user_id, user.role, user.agency_code)
        waves = []
        agencies = []
        if user.role in ("admin", "auditor"):
            for wave in survey.list_waves(db, scope):
                answered = survey.participation_count(db, wave.id)
                waiting = len(survey.nonrespondents(db, wave))
                waves.append((wave, answered, waiting))
            if user.role == "admin" and scope.tenant:
                agencies = catalog.list_agencies(db, jurisdiction=scope.tenant)
        return page(
            request,
            "survey/home.html",
            status,
            to_answer=to_answer,
            waves=waves,
            agencies=agencies,
            agency_name=lambda code: agency_name(db, code, lang),
            errors=errors or {},
            form=form or {},
            done=done_code(request, "survey.done"),
            now=utcnow(),
        )


@router.get("/survey", response_class=HTMLResponse)
def survey_home(request: Request, user: Staff, lang: Lang) -> HTMLResponse:
    return _home(request, user, lang)


def _closing(value: str, lang: str) -> datetime:
    """A closing date (``YYYY-MM-DD``) as the end of that day in Taipei; the calendar's last
    day has no end (it overflowed into a 500), so it is refused like a bad date."""
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=TAIPEI).astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise validation_problem(
            [FieldError("closes_at", t("survey.error.closes_at", lang))], lang
        ) from error


@router.post("/survey/waves")
async def open_wave(request: Request, user: Admin, lang: Lang) -> Response:
    form = await request.form()
    title = str(form.get("title") or "")
    agencies = [str(a) for a in form.getlist("agencies")]
    closes = str(form.get("closes_at") or "")
    try:
        closes_at = _closing(closes, lang)
        with transaction(get_session_factory(request)) as db:
            survey.open_wave(
                db,
                scope=scope_of(user),
                opened_by=user.username,
                title=title,
                agencies=agencies,
                closes_at=closes_at,
                lang=lang,
            )
    except Problem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        errors = {f"open.{e.field}": e.reason for e in problem.errors}
        data = {"title": title, "agencies": agencies, "closes_at": closes}
        return _home(request, user, lang, errors=errors, form=data, status=problem.status)
    return RedirectResponse("/survey?done=opened", status_code=303)


@router.post("/survey/waves/{wave_id}/close")
def close_wave(request: Request, wave_id: RowId, user: Admin, lang: Lang) -> Response:
    """End a wave's collection now; one another administrator closed first is no error."""
    try:
        with transaction(get_session_factory(request)) as db:
            survey.close_wave(db, wave_id, scope=scope_of(user), closed_by=user.username, lang=lang)
    except Problem as problem:
        if problem.status != 409:
            raise
        return RedirectResponse("/survey?done=already_closed", status_code=303)
    return RedirectResponse("/survey?done=closed", status_code=303)


def _form(
    request: Request,
    user: Principal,
    wave_id: int,
    lang: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with get_session_factory(request)() as db:
        wave = survey.get_wave(db, wave_id, scope_of(user), lang)
        survey.check_eligible(wave, user.user_id, user.role, user.agency_code, lang)
        survey.check_not_handed_over(db, wave, user.user_id, lang)
        answered = survey.has_answered(db, wave.id, user.user_id)
        roster = survey.roster(db, wave)
    return page(
        request,
        "survey/form.html",
        status,
        wave=wave,
        instrument=survey.load_instrument(wave.instrument),
        answered=answered,
        own_session=survey.own_session(user),
        roster=roster,
        min_cell=survey.MIN_CELL,
        recent_days=survey.RECENT_DAYS,
        errors=errors or {},
        values=values or {},
    )


@router.get("/survey/waves/{wave_id}", response_class=HTMLResponse)
def answer_form(request: Request, wave_id: RowId, user: Clerk, lang: Lang) -> HTMLResponse:
    return _form(request, user, wave_id, lang)


@router.post("/survey/waves/{wave_id}")
async def answer(request: Request, wave_id: RowId, user: Clerk, lang: Lang) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        with transaction(get_session_factory(request)) as db:
            wave = survey.get_wave(db, wave_id, scope_of(user), lang)
            survey.check_own_session(user, lang)  # before anything else: a token is told so
            answers = survey.parse_answers(survey.load_instrument(wave.instrument), form, lang)
            survey.answer(db, wave, user, answers, lang=lang)
    except Problem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        errors = {e.field: e.reason for e in problem.errors} or {
            "answers": problem.detail or problem.title
        }
        return _form(
            request, user, wave_id, lang, errors=errors, values=form, status=problem.status
        )
    return RedirectResponse("/survey?done=answered", status_code=303)


def _results(request: Request, user: Principal, wave_id: int, lang: str) -> survey.Results:
    with get_session_factory(request)() as db:
        wave = survey.get_wave(db, wave_id, scope_of(user), lang)
        return survey.results(db, wave)


@router.get("/survey/waves/{wave_id}/results", response_class=HTMLResponse)
def results_page(request: Request, wave_id: RowId, user: Reader, lang: Lang) -> HTMLResponse:
    res = _results(request, user, wave_id, lang)
    with get_session_factory(request)() as db:
        kinds = {a.kind: a for a in catalog.list_agencies(db)}
        cities = {j.code: j for j in catalog.list_jurisdictions(db)}
    return page(
        request,
        "survey/results.html",
        res=res,
        min_cell=survey.MIN_CELL,
        kind_name=lambda code: _kind_label(kinds.get(code), code, lang),
        city_name=lambda code: (
            (cities[code].name_en if lang == "en" else cities[code].name_zh)
            if code in cities
            else code
        ),
    )


def _kind_label(agency: catalog.AgencyView | None, code: str, lang: str) -> str:
    """An agency kind in words: the name of one agency of that kind, less its city prefix."""
    if agency is None:
        return code
    return code if lang == "en" else agency.name_zh.split("政府", 1)[-1]


@router.get("/survey/waves/{wave_id}/results.csv")
def results_csv(request: Request, wave_id: RowId, user: Reader, lang: Lang) -> Response:
    res = _results(request, user, wave_id, lang)
    rows = survey.results_csv_rows(res)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=survey.CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="survey-wave-{wave_id}.csv"'},
    )
