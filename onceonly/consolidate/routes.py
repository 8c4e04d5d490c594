"""The clerical review page: pairs of legacy records linkage was unsure about, for the
merged jurisdiction's clerks to judge: people at its household registration office (戶政) or
civil affairs department (民政), parcels at its land office (地政). The jurisdiction's own
administrators may review both; the platform's administrators, who see no tenant's personal
data, none."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import tenant_of_agency
from onceonly.catalog import service as catalog
from onceonly.consolidate import review
from onceonly.consolidate.models import PENDING, ReviewItem
from onceonly.consolidate.sources import RECORD_ID
from onceonly.errors import Problem, not_found
from onceonly.i18n import t
from onceonly.web.deps import Db, language
from onceonly.web.params import RowId
from onceonly.web.templating import render

router = APIRouter(tags=["consolidate"])
Lang = Annotated[str, Depends(language)]
Reviewer = Annotated[Principal, Depends(require_roles("admin", "clerk"))]
REVIEWER_KINDS = {
    "person": ("household_office", "civil_affairs"),
    "parcel": ("land_office",),
}
"""The agency kinds whose clerks judge pairs of each entity."""


def entity_of(item: ReviewItem) -> str:
    return "parcel" if "parcel_no" in item.left else "person"


def may_review(principal: Principal, item: ReviewItem) -> bool:
    if tenant_of_agency(principal.agency_code) != item.jurisdiction:
        return False
    if principal.role == "admin":
        return True
    kind = principal.agency_code.partition(".")[2]
    return kind in REVIEWER_KINDS[entity_of(item)]


def _reviews_anything(principal: Principal) -> bool:
    kind = principal.agency_code.partition(".")[2]
    return principal.role == "admin" or any(kind in k for k in REVIEWER_KINDS.values())


def _forbidden(lang: str) -> Problem:
    return Problem(
        403, "forbidden", t("problem.forbidden", lang), t("consolidate.review.forbidden", lang)
    )


def _reviewable(db: Db, item_id: int, principal: Principal, lang: str) -> ReviewItem:
    """The pair ``principal`` may judge. A clerk who judges no pairs at all is refused; one
    who judges pairs elsewhere hears the same "no such pair" as for an id that was never
    issued, so counting ids tells nobody which other governments have pairs waiting."""
    if not _reviews_anything(principal):
        raise _forbidden(lang)
    item = db.get(ReviewItem, item_id)
    if item is None or not may_review(principal, item):
        raise not_found(t("consolidate.review.unknown_item", lang, id=item_id), lang)
    return item


@router.get("/consolidate/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(request: Request, principal: Reviewer, db: Db, lang: Lang) -> HTMLResponse:
    if not _reviews_anything(principal):
        raise _forbidden(lang)
    tenant = tenant_of_agency(principal.agency_code) or ""
    mine = [i for i in review.of_jurisdiction(db, tenant) if may_review(principal, i)]
    shown = [i for i in mine if i.status == PENDING][:50]
    label, value = _words(db, lang)
    return render(
        request,
        "consolidate/review.html",
        items=shown,
        label=label,
        value=value,
        entity_of=entity_of,
        fields={item.id: _shown_fields(item) for item in shown},
        held={
            item.id: [
                (record_id, values, review.held_fields(values))
                for record_id, values in ((item.left_id, item.left), (item.right_id, item.right))
                if values.get(review.HELD)
            ]
            for item in shown
        },
        counts=Counter(i.status for i in mine),
    )


DATASET_OF = {"person": "household_registration", "parcel": "land_registration"}
"""The common standard a pair of each entity was mapped to (the demo plans' targets)."""


def _words(db: Db, lang: str) -> tuple[Callable[[str, str], str], Callable[[str, str, Any], str]]:
    """``label(entity, field)`` and ``value(entity, field, v)``: a pair's fields and values as
    the clerk reads them, named by the catalog's standard (性別：女, not ``sex: F``; 臺南市,
    not ``tainan-city``)."""
    specs = {entity: catalog.get_dataset(db, code) for entity, code in DATASET_OF.items()}
    english = lang == "en"
    places = {j.code: j.name_en if english else j.name_zh for j in catalog.list_jurisdictions(db)}

    def spec(entity: str, name: str) -> catalog.FieldView | None:
        dataset = specs.get(entity)
        return dataset.field(name) if dataset is not None else None

    def label(entity: str, name: str) -> str:
        if name == RECORD_ID:
            return t("consolidate.review.record_id", lang)
        found = spec(entity, name)
        if found is None:
            return name
        return found.label_en if english else found.label_zh

    def value(entity: str, name: str, v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return t("consolidate.review.yes" if v else "consolidate.review.no", lang)
        found = spec(entity, name)
        for entry in (found.code_list or ()) if found is not None else ():
            if entry.code == v:
                return entry.label_en if english else entry.label_zh
        if found is not None and found.code_list_source == "jurisdictions":
            return places.get(str(v), str(v))
        return str(v)

    return label, value


def _shown_fields(item: ReviewItem) -> list[str]:
    """The pair's own fields (a person's or a parcel's), without the pipeline's columns."""
    return [n for n in item.left if not n.startswith("_") or n == RECORD_ID]


@router.post("/consolidate/review/{item_id}/fix", include_in_schema=False)
async def fix_held_record(
    item_id: RowId, request: Request, principal: Reviewer, db: Db, lang: Lang
) -> RedirectResponse:
    """A clerk's values for a held-back record's failed fields (form fields ``fix.<field>``,
    plus ``record_id``): the next run normalises them and, if they read, loads the row."""
    _reviewable(db, item_id, principal, lang)
    form = await request.form()
    values = {str(k)[4:]: str(v) for k, v in form.multi_items() if str(k).startswith("fix.")}
    try:
        review.fix(db, item_id, str(form.get("record_id", "")), values, principal.username)
    except review.ReviewError as error:
        raise Problem(422, "invalid-fix", t(error.key, lang, **error.params)) from error
    db.commit()
    return RedirectResponse("/consolidate/review", status_code=303)


@router.post("/consolidate/review/{item_id}", include_in_schema=False)
def decide_pair(
    item_id: RowId,
    principal: Reviewer,
    db: Db,
    lang: Lang,
    decision: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _reviewable(db, item_id, principal, lang)
    try:
        review.decide(db, item_id, decision, principal.username)
    except review.ReviewError as error:
        raise Problem(422, "invalid-decision", t(error.key, lang, **error.params)) from error
    db.commit()
    return RedirectResponse("/consolidate/review", status_code=303)
