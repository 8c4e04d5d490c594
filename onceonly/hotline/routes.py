"""``/hotline``: the 1999 citizen hotline's intake page.

A hotline clerk (a clerk of an agency of kind ``hotline_1999``) finds the caller's earlier
requests by phone or e-mail, files a new one for any city or county (on this node or, through
the federation, on the node serving it) after reading the service's FAQ answer to the caller,
and transfers a call with its case to another city. Refusals re-show the page with the field
and the reason, in the page's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onceonly.accounts.deps import Principal, require_roles
from onceonly.counter.routes import FORM_PROBLEMS, page
from onceonly.errors import Problem
from onceonly.hotline import service as hotline
from onceonly.i18n import t
from onceonly.open311 import service as open311
from onceonly.web.deps import get_session_factory, language

router = APIRouter(include_in_schema=False)

Clerk = Annotated[Principal, Depends(require_roles("clerk"))]
Lang = Annotated[str, Depends(language)]


def _hotline_clerk(user: Principal, lang: str) -> None:
    if not hotline.is_hotline_clerk(user):
        raise Problem(
            403, "not-hotline", t("problem.forbidden", lang), t("hotline.error.not_hotline", lang)
        )


def _page(
    request: Request,
    user: Principal,
    lang: str,
    *,
    phone: str = "",
    email: str = "",
    jurisdiction: str = "",
    service: str = "",
    errors: dict[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    notices: list[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    errors = dict(errors or {})
    remote = hotline.remote_of(request.app.state)
    own_city = user.agency_code.split(".", 1)[0]
    with get_session_factory(request)() as db:
        cities = hotline.cities(db, lang)
        chosen_city = jurisdiction or own_city
        found: list[hotline.CallerRow] = []
        searched = bool(phone.strip() or email.strip())
        if searched:
            try:
                found = hotline.find_caller(
                    db, remote, phone=phone, email=email, lang=lang, own_city=own_city
                )
            except Problem as problem:
                errors.update({f"find.{e.field}": e.reason for e in problem.errors})
        services = hotline.services_of(db, chosen_city, lang)
        definition = None
        if service:
            try:
                definition = hotline.service_form(db, remote, chosen_city, service, lang)
            except Problem as problem:
                errors.update({e.field: e.reason for e in problem.errors})
        return page(
            request,
            "hotline/home.html",
            status,
            cities=cities,
            services=services,
            chosen={"jurisdiction": chosen_city, "service": service},
            caller={"phone": phone, "email": email},
            searched=searched,
            found=found,
            definition=definition,
            errors=errors,
            form=form or {},
            notices=notices or [],
        )


@router.get("/hotline", response_class=HTMLResponse)
def intake(
    request: Request,
    user: Clerk,
    lang: Lang,
    phone: str = "",
    email: str = "",
    jurisdiction: str = "",
    service: str = "",
    filed: str = "",
    transferred: str = "",
    to: str = "",
) -> HTMLResponse:
    _hotline_clerk(user, lang)
    notices = []
    if filed:
        notices.append(t("hotline.file.filed", lang, id=filed[:40]))
    if transferred:
        with get_session_factory(request)() as db:
            city = hotline.city_name(db, to[:80], lang)
        notices.append(t("hotline.transfer.done", lang, id=transferred[:40], city=city))
    return _page(
        request,
        user,
        lang,
        phone=phone[:40],
        email=email[:254],
        jurisdiction=jurisdiction[:80],
        service=service[:80],
        notices=notices,
    )


@router.post("/hotline/requests")
async def file_request(request: Request, user: Clerk, lang: Lang) -> Response:
    _hotline_clerk(user, lang)
    data = await request.form()
    jurisdiction = str(data.get("jurisdiction") or "")[:80]
    service_code = str(data.get("service_code") or "")[:80]
    fields = {
        name: str(data.get(name) or "")
        for name in hotline.REQUEST_FIELDS
        if str(data.get(name) or "").strip()
    }
    attributes = hotline.attributes_of(data.multi_items())
    try:
        filed = hotline.file_request(
            get_session_factory(request),
            hotline.remote_of(request.app.state),
            user,
            jurisdiction=jurisdiction,
            service_code=service_code,
            fields=fields,
            attributes=attributes,
            lang=lang,
        )
    except Problem as problem:
        if problem.status not in (400, 503, *FORM_PROBLEMS):
            raise
        errors = {e.field: e.reason for e in problem.errors} or {"service": problem.detail}
        form: dict[str, Any] = dict(fields) | {f"attribute[{k}]": v for k, v in attributes.items()}
        return _page(
            request,
            user,
            lang,
            phone=fields.get("phone", ""),
            email=fields.get("email", ""),
            jurisdiction=jurisdiction,
            service=service_code,
            errors=errors,
            form=form,
            status=problem.status,
        )
    # the caller's "opened" e-mail/SMS, as for an app's filing (a case held here only)
    open311.send_notices(request.app.state, request.app.state.settings, filed)
    query = {
        "phone": fields.get("phone", ""),
        "email": fields.get("email", ""),
        "filed": filed.service_request_id,
    }
    return RedirectResponse("/hotline?" + urlencode(query), status_code=303)


@router.post("/hotline/requests/{request_id}/transfer")
async def transfer(request: Request, request_id: str, user: Clerk, lang: Lang) -> Response:
    _hotline_clerk(user, lang)
    data = await request.form()
    phone = str(data.get("phone") or "")[:40]
    email = str(data.get("email") or "")[:254]
    try:
        done, city = hotline.transfer(
            get_session_factory(request),
            hotline.remote_of(request.app.state),
            user,
            request_id=request_id[:40],
            to_jurisdiction=str(data.get("to_jurisdiction") or "")[:80],
            note=str(data.get("note") or "")[:500],
            lang=lang,
        )
    except Problem as problem:
        if problem.status not in (400, 403, 404, 503, *FORM_PROBLEMS):
            raise
        errors = {f"transfer.{e.field}": e.reason for e in problem.errors} or {
            "transfer": problem.detail
        }
        return _page(
            request, user, lang, phone=phone, email=email, errors=errors, status=problem.status
        )
    query = {"phone": phone, "email": email, "transferred": done, "to": city}
    return RedirectResponse("/hotline?" + urlencode(query), status_code=303)
