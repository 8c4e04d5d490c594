"""``/stats``: the effectiveness dashboard for administrators and auditors (each tenant's
supervisors), with a table and CSV beside every chart; charts are SVG drawn here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.cases import service as cases
from onceonly.catalog import service as catalog
from onceonly.counter.evidence import agency_name
from onceonly.counter.routes import FORM_PROBLEMS, page
from onceonly.db import transaction, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.stats import assumptions, publication
from onceonly.stats import service as stats
from onceonly.web.deps import get_session_factory, get_settings, language

router = APIRouter()

Reader = Annotated[Principal, Depends(require_roles("admin", "auditor"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Lang = Annotated[str, Depends(language)]
DEFAULT_DAYS = 84
PROBLEM: dict[str, object] = {"content": {"application/problem+json": {}}}
API_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {
        "description": "A bad date, a start after the end, or a code the catalog does not "
        "know, naming the field (RFC 9457 problem document)",
        **PROBLEM,
    }
}


def _documented(
    since: Annotated[
        date | None, Query(description="First day, Asia/Taipei (default: 84 days ago)")
    ] = None,
    until: Annotated[date | None, Query(description="Last day, inclusive (default: today)")] = None,
    jurisdiction: Annotated[
        str | None,
        Query(
            max_length=60,
            description="A catalog jurisdiction code (GET /api/v1/catalog/jurisdictions), "
            "or unknown",
        ),
    ] = None,
    agency: Annotated[
        str | None, Query(max_length=120, description="A catalog agency code")
    ] = None,
    item: Annotated[
        str | None,
        Query(
            max_length=120,
            description="A catalog application item code (GET /api/v1/catalog/application-items)",
        ),
    ] = None,
) -> None:
    """The filters as the API document shows them; :func:`_filters` reads and checks them
    (the pages share it)."""


Query_ = Annotated[None, Depends(_documented)]


def _choices(request: Request) -> dict[str, dict[str, tuple[str, str, str]]]:
    """Each filter's choices from the catalog: code -> (name_zh, name_en, group)."""
    with get_session_factory(request)() as db:
        cities = {
            j.code: (j.name_zh, j.name_en, "")
            for j in catalog.list_jurisdictions(db)
            if j.merged_into is None
        }
        agencies = {
            a.code: (a.name_zh, a.name_en, a.jurisdiction) for a in catalog.list_agencies(db)
        }
        items = {
            i.code: (i.name_zh, i.name_en, "") for i in catalog.search_application_items(db, "")
        }
    cities[stats.UNKNOWN] = (t("stats.unknown", "zh-TW"), t("stats.unknown", "en"), "")
    return {"jurisdiction": cities, "agency": agencies, "item": items}


def _filters(request: Request, lang: str) -> tuple[stats.Filters, dict[str, str]]:
    """The query's filters; a bad date is a 422 naming the field."""
    query = request.query_params
    today = utcnow().astimezone(stats.TAIPEI).date()
    errors: list[FieldError] = []
    days: dict[str, date] = {}
    for name, default in (("since", today - timedelta(days=DEFAULT_DAYS)), ("until", today)):
        text = (query.get(name) or "").strip()
        try:
            days[name] = date.fromisoformat(text) if text else default
        except ValueError:
            errors.append(FieldError(name, t("stats.error.date", lang)))
    if not errors:
        errors += stats.period_errors(days["since"], days["until"], lang)
    if errors:
        raise validation_problem(errors, lang)
    raw = {k: (query.get(k) or "").strip() for k in ("jurisdiction", "agency", "item")}
    choices = _choices(request)
    for name in ("jurisdiction", "agency", "item"):
        if raw[name] and raw[name] not in choices[name]:
            errors.append(FieldError(name, t("stats.error.choice", lang)))
    if errors:
        raise validation_problem(errors, lang)
    filters = stats.Filters(
        days["since"],
        days["until"],
        raw["jurisdiction"] or None,
        raw["agency"] or None,
        raw["item"] or None,
    )
    return filters, {**raw, "since": days["since"].isoformat(), "until": days["until"].isoformat()}


@router.get("/stats", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, user: Reader, lang: Lang) -> HTMLResponse:
    return _dashboard(request, user, lang)


@router.post("/stats/assumptions", include_in_schema=False)
async def change_assumptions(request: Request, user: Admin, lang: Lang) -> Response:
    """The platform's administrators change the savings assumptions; a bad value re-shows
    the dashboard with the field named."""
    form = await request.form()
    values = {a.name: str(form.get(a.name) or "") for a in assumptions.ASSUMPTIONS}
    try:
        with transaction(get_session_factory(request)) as db:
            assumptions.set_assumptions(
                db, values, scope=scope_of(user), by=user.username, lang=lang
            )
    except Problem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        errors = {e.field: e.reason for e in problem.errors} or {"": problem.detail}
        return _dashboard(request, user, lang, errors=errors, typed=values, status=problem.status)
    return RedirectResponse("/stats?done=assumptions", status_code=303)


def _dashboard(
    request: Request,
    user: Principal,
    lang: str,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    filters, form = _filters(request, lang)
    with get_session_factory(request)() as db:
        saved = stats.savings(db, filters, scope_of(user))
        assumed = assumptions.assumptions(db)
        found = stats.rows(db, filters, scope_of(user))
        refused = stats.refusals(db, filters, scope_of(user))
        turned = stats.turnaround(db, filters, scope_of(user))
        events = stats.tell_us_once(db, filters, scope_of(user))
        labels = _labels(
            db,
            lang,
            {row.agency for row in found} | {r.owner for r in turned},
            {row.application_item for row in found},
        )
    return page(
        request,
        "stats/dashboard.html",
        status,
        user=user,
        saved=saved,
        assumed=assumed,
        assumptions=assumptions.ASSUMPTIONS,
        can_edit=scope_of(user).operator and user.role == "admin",
        errors=errors or {},
        typed=typed or {a: f"{v:g}" for a, v in assumed.values.items()},
        done=request.query_params.get("done"),
        choices=_choices(request),
        rows=found,
        refused=refused,
        refused_top=max((r.pieces for r in refused), default=1),
        turned=turned,
        events=events,
        totals=stats.totals(found),
        ways=stats.WAYS,
        form=form,
        query=request.url.query,
        **labels,
    )


def _labels(
    db: Session, lang: str, agencies: set[str], items: Iterable[str] = ()
) -> dict[str, Any]:
    """The templates' ways of naming what the rows hold by code, in the page's language;
    ``items``: what the cases were for, application items or (a service request's case)
    Open311 service types."""
    datasets = {d.code: d for d in catalog.list_datasets(db)}
    item_names = {code: cases.item_name(db, code, lang) for code in items}
    cities = {j.code: j for j in catalog.list_jurisdictions(db)}
    names = {code: agency_name(db, code, lang) for code in agencies}

    def named(table: dict[str, Any], code: str, unknown: str) -> str:
        if code not in table:
            return unknown
        return str(table[code].name_en if lang == "en" else table[code].name_zh)

    return {
        "kind_label": lambda kind: kind_label(kind, lang),
        "duration": lambda seconds: duration(seconds, lang),
        "dataset_label": lambda code: named(datasets, code, code),
        "item_label": lambda code: item_names.get(code, code),
        "city_label": lambda code: named(cities, code, t("stats.unknown", lang)),
        "agency_label": lambda code: names.get(code, code),
    }


def _answer(filters: stats.Filters, rows: Iterable[Any], **extra: object) -> dict[str, object]:
    """An API answer: its period (whole days, Taipei time) and its rows."""
    return {
        "timezone": "Asia/Taipei",
        "since": filters.since.isoformat(),
        "until": filters.until.isoformat(),
        **extra,
        "rows": [row.as_dict() for row in rows],
    }


@router.get("/stats.csv", include_in_schema=False)
def dashboard_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.rows(db, filters, scope_of(user))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=stats.FIELDS)
    writer.writeheader()
    writer.writerows(row.as_dict() for row in found)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases-by-week.csv"'},
    )


def _csv(fields: tuple[str, ...], found: list[Any], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(row.as_dict() for row in found)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def kind_label(kind: str, lang: str) -> str:
    """A life event's kind in words (its code when the catalogue has no words for it)."""
    try:
        return t(f"notify.kind.{kind}", lang)
    except KeyError:
        return kind


def duration(seconds: int, lang: str) -> str:
    """A turnaround in the unit a reader thinks in: minutes, hours or days."""
    if seconds < 3600:
        return t("stats.duration.minutes", lang, n=round(seconds / 60, 1))
    if seconds < 86400:
        return t("stats.duration.hours", lang, n=round(seconds / 3600, 1))
    return t("stats.duration.days", lang, n=round(seconds / 86400, 1))


@router.get("/stats/refusals.csv", include_in_schema=False)
def refusals_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.refusals(db, filters, scope_of(user))
    return _csv(stats.REFUSAL_FIELDS, found, "refusals.csv")


@router.get("/stats/turnaround.csv", include_in_schema=False)
def turnaround_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.turnaround(db, filters, scope_of(user))
    return _csv(stats.TURNAROUND_FIELDS, found, "turnaround.csv")


@router.get("/api/v1/stats/cases", tags=["stats"], responses=API_RESPONSES)
def cases_api(request: Request, user: Reader, lang: Lang, documented: Query_) -> dict[str, object]:
    """Cases per week, item and agency, counted by workplace, registration and residence, for the
    caller's jurisdiction (node-wide for the platform's operator). Weeks are Mondays in
    Asia/Taipei."""
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.rows(db, filters, scope_of(user))
    return _answer(filters, found)


@router.get("/api/v1/stats/turnaround", tags=["stats"], responses=API_RESPONSES)
def turnaround_api(
    request: Request, user: Reader, lang: Lang, documented: Query_
) -> dict[str, object]:
    """Evidence turnaround per dataset and owner (median and nearest-rank p90, in seconds
    from the case's opening until the piece was in hand), online and on paper, counted each
    way for the caller's jurisdiction."""
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.turnaround(db, filters, scope_of(user))
    return _answer(filters, found)


@router.get("/stats/savings.csv", include_in_schema=False)
def savings_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.savings(db, filters, scope_of(user))
    return _csv(stats.SAVING_FIELDS, found, "savings.csv")


@router.get("/api/v1/stats/savings", tags=["stats"], responses=API_RESPONSES)
def savings_api(
    request: Request, user: Reader, lang: Lang, documented: Query_
) -> dict[str, object]:
    """Citizen trips and waiting time saved, per way and jurisdiction; each row carries the
    assumptions it used (``assumed_*``), which the platform's administrators may change."""
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.savings(db, filters, scope_of(user))
        assumed = assumptions.assumptions(db)
    return _answer(filters, found, assumptions=assumed.values)


@router.get("/stats/tell-us-once.csv", include_in_schema=False)
def events_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.tell_us_once(db, filters, scope_of(user))
    return _csv(stats.EVENT_FIELDS, found, "tell-us-once.csv")


@router.get("/api/v1/stats/tell-us-once", tags=["stats"], responses=API_RESPONSES)
def events_api(request: Request, user: Reader, lang: Lang, documented: Query_) -> dict[str, object]:
    """Tell-us-once events per kind, and the seconds from recording until every agency told
    had processed them (median and nearest-rank p90), by workplace, registration and residence."""
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.tell_us_once(db, filters, scope_of(user))
    return _answer(filters, found)


def _week_cache(request: Request) -> publication.WeekCache:
    """The application's cache of published weeks: one per application, so one per
    database (made on first use; two made at once by concurrent first requests only
    duplicate work)."""
    state = request.app.state
    cache: publication.WeekCache | None = getattr(state, "stats_weeks", None)
    if cache is None:
        cache = state.stats_weeks = publication.WeekCache()
    return cache


def _published(request: Request, lang: str) -> tuple[publication.Published, dict[str, str]]:
    """The public figures the query asks for, up to the last settled week as of now."""
    filters, form = _filters(request, lang)
    with get_session_factory(request)() as db:
        shown = publication.published(
            db,
            filters,
            lang,
            now=utcnow(),
            settle_days=get_settings(request).stats_settle_days,
            cache=_week_cache(request),
        )
    return shown, form


def public_notes(shown: publication.Published, lang: str) -> dict[str, str]:
    """The public view's two sentences, the same whatever the data: what is never published,
    and the last day the figures count."""
    return {
        "suppression": t("stats.public.suppression", lang, minimum=publication.MIN_CELL),
        "coverage": t(
            "stats.public.through",
            lang,
            through=shown.through.isoformat(),
            days=shown.settle_days,
        ),
    }


@router.get("/stats/public", response_class=HTMLResponse, include_in_schema=False)
def public_page(request: Request, lang: Lang) -> HTMLResponse:
    """Anyone's view: node-wide aggregates, only cells of at least the threshold, only weeks
    that ended and settled."""
    shown, form = _published(request, lang)
    with get_session_factory(request)() as db:
        labels = _labels(
            db,
            lang,
            {r.agency for r in shown.rows}
            | {w.cell.owner for w in shown.turnaround if isinstance(w.cell, stats.Turnaround)},
        )
    return page(
        request,
        "stats/public.html",
        shown=shown,
        notes=public_notes(shown, lang),
        minimum=publication.MIN_CELL,
        ways=stats.WAYS,
        form={
            **form,
            "since": shown.filters.since.isoformat(),
            "until": shown.filters.until.isoformat(),
        },
        **labels,
    )


@router.get("/api/v1/stats/public", tags=["stats"], responses=API_RESPONSES)
def public_api(request: Request, lang: Lang, documented: Query_) -> dict[str, object]:
    """Anyone's view, no sign-in: node-wide cases, evidence turnaround and tell-us-once
    events, each per week. The period is widened to whole weeks and cut at
    ``published_through``, the Sunday ending the last week that ended at least
    ``settle_days`` days ago (Asia/Taipei): a later ``until`` is answered up to that day,
    and ``until`` says so. Each week counts only what had happened before it was first
    published (its end plus ``settle_days``): evidence fetched, paper attached or agencies
    done later never change a published week. Every cell of fewer than ``minimum_cell``
    cases, pieces or events is left out, and so is any cell from which one of those could
    be worked out; how many were left out is never said (``suppression`` and ``coverage``
    say it in words, in the request's language, the same whatever the figures). The agency
    and item filters apply to the case rows only."""
    shown, _ = _published(request, lang)
    return {
        "timezone": "Asia/Taipei",
        "since": shown.filters.since.isoformat(),
        "until": shown.filters.until.isoformat(),
        "published_through": shown.through.isoformat(),
        "settle_days": shown.settle_days,
        "minimum_cell": publication.MIN_CELL,
        **public_notes(shown, lang),
        "rows": [row.as_dict() for row in shown.rows],
        "turnaround": [row.as_dict() for row in shown.turnaround],
        "tell_us_once": [row.as_dict() for row in shown.events],
    }
