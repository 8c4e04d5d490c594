"""The clerical review page: pairs of legacy records linkage was unsure about, for an
administrator or a civil-affairs clerk of the merged jurisdiction to judge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal, require_roles
from onceonly.consolidate import review
from onceonly.consolidate.models import ReviewItem
from onceonly.errors import Problem, not_found
from onceonly.i18n import t
from onceonly.web.deps import get_db, get_language
from onceonly.web.templating import render

router = APIRouter(tags=["consolidate"])
Db = Annotated[Session, Depends(get_db)]
Lang = Annotated[str, Depends(get_language)]
Reviewer = Annotated[Principal, Depends(require_roles("admin", "clerk"))]
REVIEW_AGENCY_KIND = "civil_affairs"


def may_review(principal: Principal, jurisdiction: str) -> bool:
    """Admins review every plan; a clerk only the merged jurisdiction's, at civil affairs."""
    if principal.role == "admin":
        return True
    return principal.agency_code == f"{jurisdiction}.{REVIEW_AGENCY_KIND}"


def _forbidden(lang: str) -> Problem:
    return Problem(
        403, "forbidden", t("problem.forbidden", lang), t("consolidate.review.forbidden", lang)
    )


def _jurisdiction_of(principal: Principal) -> str | None:
    jurisdiction, _, kind = principal.agency_code.partition(".")
    return jurisdiction if kind == REVIEW_AGENCY_KIND else None


@router.get("/consolidate/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(request: Request, principal: Reviewer, db: Db, lang: Lang) -> HTMLResponse:
    if principal.role != "admin" and _jurisdiction_of(principal) is None:
        raise _forbidden(lang)
    items = [i for i in review.pending(db, limit=200) if may_review(principal, i.jurisdiction)]
    shown = items[:50]
    return render(
        request,
        "consolidate/review.html",
        items=shown,
        fields={item.id: _shown_fields(item) for item in shown},
        counts=review.counts(db),
    )


def _shown_fields(item: ReviewItem) -> list[str]:
    """The pair's own fields (a person's or a parcel's), without the pipeline's columns."""
    return [n for n in item.left if not n.startswith("_") or n == "_record_id"]


@router.post("/consolidate/review/{item_id}", include_in_schema=False)
def decide_pair(
    item_id: int,
    principal: Reviewer,
    db: Db,
    lang: Lang,
    decision: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    item = db.get(ReviewItem, item_id)
    if item is None:
        raise not_found(t("consolidate.review.unknown_item", lang, id=item_id), lang)
    if not may_review(principal, item.jurisdiction):
        raise _forbidden(lang)
    try:
        review.decide(db, item_id, decision, principal.username)
    except review.ReviewError as error:
        raise Problem(422, "invalid-decision", t(error.key, lang, **error.params)) from error
    db.commit()
    return RedirectResponse("/consolidate/review", status_code=303)
