"""Public catalog pages and JSON API: no sign-in, since the catalog is public information."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from onceonly.catalog import service
from onceonly.catalog.schema import LOCAL_AGENCY_KINDS
from onceonly.catalog.service import (
    ApplicationItemView,
    CatalogNotFound,
    DatasetView,
    JurisdictionView,
)
from onceonly.errors import not_found
from onceonly.i18n import t
from onceonly.web.deps import Db, language
from onceonly.web.templating import render

router = APIRouter()

Lang = Annotated[str, Depends(language)]

_NOT_FOUND = {
    "application_item": "catalog.not_found.item",
    "dataset": "catalog.not_found.dataset",
    "jurisdiction": "catalog.not_found.jurisdiction",
}
_PROBLEM: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown code (RFC 9457 problem document)"}
}


def _missing(kind: str, code: str, lang: str) -> Exception:
    return not_found(t(_NOT_FOUND[kind], lang, code=code), lang)


def _item_or_404(db: Session, code: str, lang: str) -> ApplicationItemView:
    item = service.get_application_item(db, code)
    if item is None:
        raise _missing("application_item", code, lang)
    return item


def _dataset_or_404(db: Session, code: str, jurisdiction: str | None, lang: str) -> DatasetView:
    try:
        dataset = service.get_dataset(db, code, jurisdiction)
    except CatalogNotFound as exc:
        raise _missing(exc.kind, exc.code, lang) from exc
    if dataset is None:
        raise _missing("dataset", code, lang)
    return dataset


def _search(
    db: Session, q: str, agency_kind: str | None, jurisdiction: str | None, lang: str
) -> list[ApplicationItemView]:
    try:
        return service.search_application_items(db, q, agency_kind, jurisdiction)
    except CatalogNotFound as exc:
        raise _missing(exc.kind, exc.code, lang) from exc


def _kind_order(kind: str) -> int:
    return LOCAL_AGENCY_KINDS.index(kind) if kind in LOCAL_AGENCY_KINDS else len(LOCAL_AGENCY_KINDS)


# --- pages -----------------------------------------------------------------------------------


@router.get("/catalog", response_class=HTMLResponse, include_in_schema=False)
def catalog_page(request: Request, db: Db, lang: Lang, q: str = "") -> HTMLResponse:
    items = _search(db, q, None, None, lang)
    groups: dict[str, list[ApplicationItemView]] = {}
    for item in sorted(items, key=lambda i: _kind_order(i.agency_kind)):
        groups.setdefault(item.agency_kind, []).append(item)
    return render(
        request,
        "catalog/index.html",
        q=q,
        groups=groups,
        count=len(items),
        datasets=service.list_datasets(db),
        loaded=bool(service.list_jurisdictions(db)),
    )


@router.get("/catalog/items/{code}", response_class=HTMLResponse, include_in_schema=False)
def item_page(request: Request, db: Db, lang: Lang, code: str) -> HTMLResponse:
    item = _item_or_404(db, code, lang)
    places = {j.code: j for j in service.list_jurisdictions(db)}
    # each piece's fields, predicate and parameters are named by its dataset's standard
    datasets = {e.dataset: service.get_dataset(db, e.dataset) for e in item.required_evidence}
    return render(request, "catalog/item.html", item=item, places=places, datasets=datasets)


@router.get("/catalog/datasets/{code}", response_class=HTMLResponse, include_in_schema=False)
def dataset_page(
    request: Request, db: Db, lang: Lang, code: str, jurisdiction: str | None = None
) -> HTMLResponse:
    dataset = _dataset_or_404(db, code, jurisdiction, lang)
    places = {j.code: j for j in service.list_jurisdictions(db)}
    owner = service.get_agency(db, dataset.owner_agency) if dataset.owner_agency else None
    return render(request, "catalog/dataset.html", dataset=dataset, places=places, owner=owner)


@router.get("/catalog/jurisdictions", response_class=HTMLResponse, include_in_schema=False)
def jurisdictions_page(request: Request, db: Db) -> HTMLResponse:
    everything = service.list_jurisdictions(db)
    return render(
        request,
        "catalog/jurisdictions.html",
        current=[j for j in everything if j.is_current],
        former=[j for j in everything if not j.is_current],
        places={j.code: j for j in everything},
    )


# --- JSON API --------------------------------------------------------------------------------


@router.get(
    "/api/v1/catalog/application-items",
    response_model=list[ApplicationItemView],
    tags=["catalog"],
    responses=_PROBLEM,
    summary="Search application items",
)
def api_items(
    db: Db,
    lang: Lang,
    q: Annotated[str, Query(description="Substring of the code or the Chinese/English name.")] = "",
    agency_kind: Annotated[str | None, Query(description="Only items of this agency kind.")] = None,
    jurisdiction: Annotated[
        str | None, Query(description="Only items offered in this jurisdiction.")
    ] = None,
) -> list[ApplicationItemView]:
    """Application items with their required evidence and legal bases."""
    return _search(db, q, agency_kind, jurisdiction, lang)


@router.get(
    "/api/v1/catalog/application-items/{code}",
    response_model=ApplicationItemView,
    tags=["catalog"],
    responses=_PROBLEM,
    summary="One application item",
)
def api_item(db: Db, lang: Lang, code: str) -> ApplicationItemView:
    """The item's required evidence: dataset, fields or predicate, legal basis, paper replaced."""
    return _item_or_404(db, code, lang)


@router.get(
    "/api/v1/catalog/datasets",
    response_model=list[DatasetView],
    tags=["catalog"],
    summary="Datasets and their field standard",
)
def api_datasets(db: Db) -> list[DatasetView]:
    """Every dataset with its core fields, local extensions and predicates."""
    return service.list_datasets(db)


@router.get(
    "/api/v1/catalog/datasets/{code}",
    response_model=DatasetView,
    tags=["catalog"],
    responses=_PROBLEM,
    summary="One dataset",
)
def api_dataset(
    db: Db,
    lang: Lang,
    code: str,
    jurisdiction: Annotated[
        str | None, Query(description="Include this jurisdiction's extension fields in fields.")
    ] = None,
) -> DatasetView:
    """The dataset's field standard, personal-data markers, extensions and predicates."""
    return _dataset_or_404(db, code, jurisdiction, lang)


@router.get(
    "/api/v1/catalog/jurisdictions",
    response_model=list[JurisdictionView],
    tags=["catalog"],
    summary="Jurisdictions with merger lineage",
)
def api_jurisdictions(db: Db) -> list[JurisdictionView]:
    """Central level, current local governments and the former ones they were merged from."""
    return service.list_jurisdictions(db)
