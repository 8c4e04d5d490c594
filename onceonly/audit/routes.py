"""The audit log for auditors: search entries (API and page) and read the current head.

Dates are calendar days in Taiwan time (UTC+8, no daylight saving), both ends inclusive.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.principal import NODE_OPERATOR
from onceonly.accounts.tenancy import scope_of
from onceonly.accounts.users import CITIZEN_USERNAME_PREFIX
from onceonly.audit.log import AuditEntryView, EntryFilter, find_entries, head
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import FieldError, validation_problem
from onceonly.i18n import t
from onceonly.web.deps import Db, get_language
from onceonly.web.params import page_query
from onceonly.web.templating import render

router = APIRouter(tags=["audit"])

Auditor = Annotated[Principal, Depends(require_roles("auditor", "admin"))]
TAIWAN = timezone(timedelta(hours=8), "Asia/Taipei")
MAX_PER_PAGE = 200


class AuditEntryOut(BaseModel):
    seq: int
    request_id: str
    recorded_at: datetime
    event: str
    actor_username: str
    actor_badge: str | None
    actor_role: str | None
    actor_agency: str | None
    application_item: str | None
    case_id: str | None
    subject: str | None
    dataset: str | None
    fields: list[str] | None
    predicate: str | None
    predicate_params: dict[str, Any] | None
    owner_agency: str | None
    legal_basis: str | None
    decision: str
    reason_zh: str
    reason_en: str
    details: dict[str, Any]
    entry_format: int
    actor_commitment: str | None
    """Format 2: what the hash covers instead of the username (matches a citizen's proof)."""
    prev_hash: str
    entry_hash: str


class AuditEntryPage(BaseModel):
    items: list[AuditEntryOut]
    page: int
    per_page: int
    total: int
    pages: int


class AuditHeadOut(BaseModel):
    count: int
    seq: int
    head_hash: str
    recorded_at: datetime | None


def _out(entry: AuditEntryView) -> AuditEntryOut:
    values = {name: getattr(entry, name) for name in AuditEntryOut.model_fields}
    values["fields"] = list(entry.fields) if entry.fields is not None else None
    values["predicate_params"] = (
        dict(entry.predicate_params) if entry.predicate_params is not None else None
    )
    values["details"] = dict(entry.details)
    return AuditEntryOut(**values)


def _criteria(
    lang: str,
    subject: str | None,
    dataset: str | None,
    agency: str | None,
    since: date | None,
    until: date | None,
) -> EntryFilter:
    if since and until and since > until:
        raise validation_problem([FieldError("since", t("audit.filter.bad_range", lang))], lang)
    return EntryFilter(
        subject=subject.strip().upper() if subject and subject.strip() else None,
        dataset=dataset.strip() if dataset and dataset.strip() else None,
        agency=agency.strip() if agency and agency.strip() else None,
        since=datetime.combine(since, time(), TAIWAN) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), TAIWAN) if until else None,
    )


class _Search:
    """Query parameters shared by the API and the page."""

    def __init__(
        self,
        request: Request,
        subject: Annotated[str | None, Query(description="National ID of the citizen.")] = None,
        dataset: Annotated[str | None, Query(description="Dataset code.")] = None,
        agency: Annotated[
            str | None, Query(description="Agency code: the requesting or the owning agency.")
        ] = None,
        since: Annotated[date | None, Query(description="First day (Taiwan time).")] = None,
        until: Annotated[date | None, Query(description="Last day, inclusive.")] = None,
        page: Annotated[int, page_query(MAX_PER_PAGE)] = 1,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
    ) -> None:
        self.lang = get_language(request)
        self.criteria = _criteria(self.lang, subject, dataset, agency, since, until)
        self.form = {
            "subject": subject or "",
            "dataset": dataset or "",
            "agency": agency or "",
            "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else "",
        }
        self.page = page
        self.per_page = per_page

    def run(self, db: Session, user: Principal) -> AuditEntryPage:
        """The page of entries ``user`` may see: those of their tenant only."""
        offset = (self.page - 1) * self.per_page
        criteria = dataclasses.replace(self.criteria, scope=scope_of(user))
        entries, total = find_entries(db, criteria, limit=self.per_page, offset=offset)
        return AuditEntryPage(
            items=[_out(entry) for entry in entries],
            page=self.page,
            per_page=self.per_page,
            total=total,
            pages=max(1, math.ceil(total / self.per_page)),
        )


Search = Annotated[_Search, Depends()]


@router.get(
    "/api/v1/audit/entries",
    response_model=AuditEntryPage,
    summary="Search the audit log (auditors)",
    description="Entries newest first, filtered by subject, dataset, agency and date range.",
)
def list_entries(user: Auditor, db: Db, search: Search) -> AuditEntryPage:
    return search.run(db, user)


@router.get(
    "/api/v1/audit/head",
    response_model=AuditHeadOut,
    summary="Current head of the audit log (auditors)",
    description=(
        "How many entries there are and the hash of the newest. Recorded elsewhere, it anchors "
        "later checks: `onceonly audit verify --file export.jsonl --anchor SEQ:HASH`."
    ),
)
def audit_head(user: Auditor, db: Db) -> AuditHeadOut:
    current = head(db)
    return AuditHeadOut(
        count=current.count,
        seq=current.seq,
        head_hash=current.entry_hash,
        recorded_at=current.recorded_at,
    )


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, user: Auditor, db: Db, search: Search) -> HTMLResponse:
    result = search.run(db, user)
    return render(
        request,
        "audit/entries.html",
        result=result,
        form=search.form,
        head=head(db),
        mask=mask_national_id,
        actor=lambda entry: actor_in_words(entry.actor_username, entry.actor_badge, search.lang),
        query_for=lambda page: _query_string(search.form, page, search.per_page),
    )


def actor_in_words(username: str, badge: str | None, lang: str) -> str:
    """Who acted, as the audit page names them: a member of staff by badge; the node's own
    doings (its operator at the command line, the system sending notices), another node,
    another log and a citizen in words, never by the name the entry records for them
    (``node-operator``, ``cli:household_office``, ``system``, ``citizen-a123456789``)."""
    if badge:
        return badge
    if username == "system":
        return t("audit.actor.system", lang)
    if username == NODE_OPERATOR or username.startswith("cli:"):
        return t("audit.actor.operator", lang)
    if username.startswith("node:"):
        return t("audit.actor.node", lang, node=username.removeprefix("node:"))
    if username.startswith("log:"):
        return t("audit.actor.log", lang, origin=username.removeprefix("log:"))
    if username.startswith(CITIZEN_USERNAME_PREFIX):
        citizen = mask_national_id(username.removeprefix(CITIZEN_USERNAME_PREFIX))
        return t("audit.actor.citizen", lang, citizen=citizen)
    return username


def _query_string(form: dict[str, str], page: int, per_page: int) -> str:
    from urllib.parse import urlencode

    values = {k: v for k, v in form.items() if v}
    values.update(page=str(page), per_page=str(per_page))
    return "?" + urlencode(values)
