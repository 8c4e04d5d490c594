"""The administrators' pages of what citizens were sent where nothing really leaves: the SMS
outbox (``/admin/sms``, the default SMS provider) and the mail sink (``/admin/mail``, when
``Settings.mail_sink_dir`` names one). Each shows only the administrator's tenant's messages
(``cases.notifications.tenant_sent``); the platform's operator is told why there are none."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.cases import notifications
from onceonly.cases.caught_mail import caught_mail
from onceonly.config import Settings
from onceonly.domain.roc_date import TAIWAN
from onceonly.web.deps import Db, settings_of
from onceonly.web.templating import render

router = APIRouter(include_in_schema=False)

Admin = Annotated[Principal, Depends(require_roles("admin"))]
Limit = Annotated[int, Query(ge=1, le=500)]


def taipei_time(at: datetime) -> str:
    """A UTC time as people here read it: Asia/Taipei, labelled by the template."""
    return at.astimezone(TAIWAN).strftime("%Y-%m-%d %H:%M:%S")


@router.get("/admin/sms", response_class=HTMLResponse)
def sms_page(request: Request, principal: Admin, db: Db, limit: Limit = 100) -> HTMLResponse:
    scope = scope_of(principal)
    messages = notifications.list_sms_outbox(db, limit=limit, scope=scope)
    return render(
        request, "cases/sms.html", messages=messages, operator=scope.tenant is None, at=taipei_time
    )


@router.get("/admin/mail", response_class=HTMLResponse)
def mail_page(
    request: Request,
    principal: Admin,
    db: Db,
    settings: Annotated[Settings, Depends(settings_of)],
    limit: Limit = 100,
) -> HTMLResponse:
    scope = scope_of(principal)
    directory = settings.mail_sink_dir
    messages = caught_mail(db, directory, scope, limit) if directory else []
    return render(
        request,
        "cases/mail.html",
        messages=messages,
        sink=directory is not None,
        operator=scope.tenant is None,
        at=taipei_time,
    )
