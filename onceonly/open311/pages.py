"""The tenant administrator's page for Open311 API keys: issue one per app for the city,
see quotas and today's use, revoke. Another city's keys are neither shown nor revocable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import CENTRAL, scope_of
from onceonly.catalog import service as catalog
from onceonly.db import transaction
from onceonly.errors import Problem, not_found
from onceonly.i18n import t
from onceonly.open311 import keys
from onceonly.web.deps import get_language, get_session_factory
from onceonly.web.params import RowId
from onceonly.web.templating import render

router = APIRouter(include_in_schema=False)
AdminUser = Annotated[Principal, Depends(require_roles("admin"))]


def _city(admin: Principal, lang: str) -> str:
    """The administrator's city; the platform's administrators (central) issue no city's key."""
    tenant = scope_of(admin).tenant
    if tenant is None or tenant == CENTRAL:
        raise Problem(
            403, "forbidden", t("problem.forbidden", lang), t("open311.admin.not_a_city", lang)
        )
    return tenant


def _page(
    request: Request, db: Session, city: str, status: int = 200, **context: object
) -> HTMLResponse:
    context.setdefault("errors", {})
    context.setdefault(
        "form", {"daily_writes": keys.DEFAULT_DAILY_WRITES, "daily_reads": keys.DEFAULT_DAILY_READS}
    )
    return render(
        request, "open311/admin_keys.html", status, city=city, keys=keys.list_keys(db, city),
        services=catalog.list_services(db, city), **context,
    )  # fmt: skip


@router.get("/admin/open311/keys", response_class=HTMLResponse)
def admin_keys(request: Request, admin: AdminUser) -> HTMLResponse:
    city = _city(admin, get_language(request))
    with transaction(get_session_factory(request)) as db:
        return _page(request, db, city)


@router.post("/admin/open311/keys", response_class=HTMLResponse)
def admin_issue_key(
    request: Request,
    admin: AdminUser,
    app_name: Annotated[str, Form()] = "",
    contact: Annotated[str, Form()] = "",
    daily_writes: Annotated[str, Form()] = "",
    daily_reads: Annotated[str, Form()] = "",
) -> HTMLResponse:
    lang = get_language(request)
    city = _city(admin, lang)
    form = {"app_name": app_name, "contact": contact, "daily_writes": daily_writes,
            "daily_reads": daily_reads}  # fmt: skip
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for name, default in (("daily_writes", keys.DEFAULT_DAILY_WRITES),
                          ("daily_reads", keys.DEFAULT_DAILY_READS)):  # fmt: skip
        raw = form[name].strip()
        if not raw:
            numbers[name] = default
        elif raw.isdigit() and int(raw) <= keys.MAX_DAILY:
            numbers[name] = int(raw)
        else:
            errors[name] = t("open311.admin.bad_number", lang, value=raw)
    if not app_name.strip():
        errors["app_name"] = t("open311.admin.app_required", lang)
    with transaction(get_session_factory(request)) as db:
        if errors:
            return _page(request, db, city, 422, errors=errors, form=form)
        view, plain = keys.issue_key(
            db, jurisdiction=city, app_name=app_name, contact=contact, issued_by=admin.username,
            daily_writes=numbers["daily_writes"], daily_reads=numbers["daily_reads"], lang=lang,
        )  # fmt: skip
    with transaction(get_session_factory(request)) as db:
        return _page(request, db, city, 201, new_key=plain, new_view=view)


@router.post("/admin/open311/keys/{key_id}/revoke")
def admin_revoke_key(request: Request, key_id: RowId, admin: AdminUser) -> RedirectResponse:
    lang = get_language(request)
    city = _city(admin, lang)
    with transaction(get_session_factory(request)) as db:
        try:
            keys.revoke_key(db, key_id, revoked_by=admin.username, jurisdiction=city, lang=lang)
        except Problem as problem:
            raise not_found(t("open311.keys.not_found", lang, id=key_id), lang) from problem
    return RedirectResponse(f"/admin/open311/keys?lang={lang}", status_code=303)
