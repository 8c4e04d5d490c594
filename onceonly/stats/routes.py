"""``/stats``: the effectiveness dashboard for administrators and auditors (each tenant's
supervisors), with a table and CSV beside every chart; charts are SVG drawn here."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.catalog import service as catalog
from onceonly.counter.evidence import agency_name
from onceonly.counter.routes import page
from onceonly.db import utcnow
from onceonly.errors import FieldError, validation_problem
from onceonly.i18n import t
from onceonly.stats import service as stats
from onceonly.web.deps import get_language, get_session_factory

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(require_roles("admin", "auditor"))]
Lang = Annotated[str, Depends(get_language)]
DEFAULT_DAYS = 84


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
    if not errors and days["since"] > days["until"]:
        errors.append(FieldError("since", t("stats.error.order", lang)))
    if errors:
        raise validation_problem(errors, lang)
    raw = {k: (query.get(k) or "").strip() for k in ("jurisdiction", "agency", "item")}
    filters = stats.Filters(
        days["since"],
        days["until"],
        raw["jurisdiction"] or None,
        raw["agency"] or None,
        raw["item"] or None,
    )
    return filters, {**raw, "since": days["since"].isoformat(), "until": days["until"].isoformat()}


@router.get("/stats", response_class=HTMLResponse)
def dashboard(request: Request, user: Reader, lang: Lang) -> HTMLResponse:
    filters, form = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.rows(db, filters, scope_of(user))
        refused = stats.refusals(db, filters, scope_of(user))
        turned = stats.turnaround(db, filters, scope_of(user))
        datasets = {d.code: d for d in catalog.list_datasets(db)}
        items = {i.code: i for i in catalog.search_application_items(db, "")}
        cities = {j.code: j for j in catalog.list_jurisdictions(db)}
        names = {
            code: agency_name(db, code, lang)
            for code in {row.agency for row in found} | {r.owner for r in turned}
        }
    return page(
        request,
        "stats/dashboard.html",
        rows=found,
        refused=refused,
        refused_top=max((r.pieces for r in refused), default=1),
        turned=turned,
        duration=lambda seconds: duration(seconds, lang),
        dataset_label=lambda code: (
            (datasets[code].name_en if lang == "en" else datasets[code].name_zh)
            if code in datasets
            else code
        ),
        totals=stats.totals(found),
        ways=stats.WAYS,
        form=form,
        query=request.url.query,
        agency_label=lambda code: names.get(code, code),
        item_label=lambda code: (
            (items[code].name_en if lang == "en" else items[code].name_zh)
            if code in items
            else code
        ),
        city_label=lambda code: (
            (cities[code].name_en if lang == "en" else cities[code].name_zh)
            if code in cities
            else t("stats.unknown", lang)
        ),
    )


@router.get("/stats.csv")
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


def duration(seconds: int, lang: str) -> str:
    """A turnaround in the unit a reader thinks in: minutes, hours or days."""
    if seconds < 3600:
        return t("stats.duration.minutes", lang, n=round(seconds / 60, 1))
    if seconds < 86400:
        return t("stats.duration.hours", lang, n=round(seconds / 3600, 1))
    return t("stats.duration.days", lang, n=round(seconds / 86400, 1))


@router.get("/stats/refusals.csv")
def refusals_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.refusals(db, filters, scope_of(user))
    return _csv(stats.REFUSAL_FIELDS, found, "refusals.csv")


@router.get("/stats/turnaround.csv")
def turnaround_csv(request: Request, user: Reader, lang: Lang) -> Response:
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.turnaround(db, filters, scope_of(user))
    return _csv(stats.TURNAROUND_FIELDS, found, "turnaround.csv")


@router.get("/api/v1/stats/cases", include_in_schema=True, tags=["stats"])
def cases_api(request: Request, user: Reader, lang: Lang) -> dict[str, object]:
    """Cases per week, item and agency, counted by workplace and by registration, for the
    caller's jurisdiction (node-wide for the platform's operator). Weeks are Mondays in
    Asia/Taipei."""
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.rows(db, filters, scope_of(user))
    return {
        "timezone": "Asia/Taipei",
        "since": filters.since.isoformat(),
        "until": filters.until.isoformat(),
        "rows": [row.as_dict() for row in found],
    }


@router.get("/api/v1/stats/turnaround", include_in_schema=True, tags=["stats"])
def turnaround_api(request: Request, user: Reader, lang: Lang) -> dict[str, object]:
    """Evidence turnaround per dataset and owner (median and nearest-rank p90, in seconds
    from the case's opening until the piece was in hand), online and on paper, counted each
    way for the caller's jurisdiction."""
    filters, _ = _filters(request, lang)
    with get_session_factory(request)() as db:
        found = stats.turnaround(db, filters, scope_of(user))
    return {
        "timezone": "Asia/Taipei",
        "since": filters.since.isoformat(),
        "until": filters.until.isoformat(),
        "rows": [row.as_dict() for row in found],
    }
