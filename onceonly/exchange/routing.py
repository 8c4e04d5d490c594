"""Which owners hold each piece: the central owner, the local owner where the citizen is
registered (asked of the household register), every land office, or the office of the
parcel's jurisdiction."""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.domain import subjects
from onceonly.exchange import fanout
from onceonly.exchange.context import Exchange
from onceonly.exchange.fanout import RemoteNodes
from onceonly.exchange.owner_calls import Asking
from onceonly.exchange.piece import Piece
from onceonly.i18n import both
from onceonly.providers.base import ProviderUnavailable
from onceonly.providers.registry import ProviderDirectory

RESIDENCE_DATASET = "household_registration"
"""Where a citizen is registered decides which local owner holds their local records."""


def registered_jurisdiction(
    exchange: Exchange,
    session: Session,
    cat: catalog.CachedCatalog,
    pieces: list[Piece],
    subject: str,
) -> str | ProviderUnavailable | None:
    """The subject's registered jurisdiction, asked of the household-registration owner only
    when some dataset is held where the citizen lives. It routes the request and is never
    returned; the audit entries of the pieces it routed say so."""
    if not any(p.live and p.dataset.owner_scope == "residence" for p in pieces):
        return None
    registry = cat.dataset(session, RESIDENCE_DATASET)
    owner = registry.owner_agency if registry else None
    provider = exchange.providers.for_owner(owner) if owner else None
    if provider is None:
        return ProviderUnavailable(
            owner or RESIDENCE_DATASET, both("connectors.unavailable.not_connected"), 3600
        )
    asking = Asking(exchange.pool)
    future = asking.ask(provider, provider.fetch, RESIDENCE_DATASET, subject, ["jurisdiction"])
    deadline = time.monotonic() + exchange.settings.provider_timeout_seconds
    asking.answer_local(deadline)
    try:
        record = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return ProviderUnavailable(provider.owner, both("call_failure.timeout"))
    except ProviderUnavailable as exc:
        return exc
    return str(record.fields.get("jurisdiction")) if record else None


def route(
    session: Session,
    cat: catalog.CachedCatalog,
    providers: ProviderDirectory,
    piece: Piece,
    residence: str | ProviderUnavailable | None,
    remote: RemoteNodes | None = None,
) -> None:
    """Which owners hold the piece: the central owner, the owner where the citizen lives, or
    every owner of the dataset connected to this node (land is searched everywhere), plus,
    on a federation node, every other node holding it (:mod:`onceonly.exchange.fanout`)."""
    dataset = piece.dataset
    if dataset.owner_scope == "central":
        piece.owners = [dataset.owner_agency or ""]
        return
    if dataset.owner_scope == "residence":
        if isinstance(residence, ProviderUnavailable):
            piece.stop(
                "unavailable",
                "exchange.owner_unavailable",
                residence.retry_after,
                owner=residence.owner,
                reason=residence.reason,
            )
            return
        if residence is None:
            piece.stop("not_found", "exchange.no_residence")
            return
        if not dataset.is_digitised_in(residence):
            piece.stop("not_digitised", "exchange.not_digitised", jurisdiction=residence)
            return
        try:
            piece.owners = [cat.owner_agency_for(session, dataset.code, residence)]
        except catalog.CatalogNotFound:
            piece.stop("not_found", "exchange.no_local_owner", jurisdiction=residence)
            return
        piece.routed_by_residence = True
        return
    if dataset.not_digitised_in or not dataset.digitised:
        places = ", ".join(sorted(dataset.not_digitised_in)) or "*"
        piece.stop("not_digitised", "exchange.not_digitised", jurisdiction=places)
        return
    piece.owners = providers.owners_of(dataset.code)
    located = fanout.locate(remote, dataset.code) if remote is not None else None
    if isinstance(located, fanout.Refusal):
        piece.refuse(located)
        return
    piece.elsewhere = located
    if not piece.owners and piece.elsewhere is None:
        piece.stop("unavailable", "exchange.owner_not_connected", 3600, owner=dataset.code)


def route_thing(
    session: Session, cat: catalog.CachedCatalog, piece: Piece, about: subjects.Subject
) -> None:
    """A parcel or building goes to the land office of its jurisdiction (of today: a former
    county's code goes to its successor), a house number to that of its city; on another
    node the request is forwarded there like any piece whose owner is elsewhere."""
    jurisdiction = about.jurisdiction or _jurisdiction_of_city(session, about.value)
    if jurisdiction is None:
        piece.stop("not_found", "exchange.subject.no_jurisdiction", subject=about.label())
        return
    try:
        piece.owners = [cat.owner_agency_for(session, piece.dataset.code, jurisdiction)]
    except catalog.CatalogNotFound:
        piece.stop("not_found", "exchange.no_local_owner", jurisdiction=jurisdiction)


def _jurisdiction_of_city(session: Session, address: str) -> str | None:
    """The jurisdiction whose name an address (as it reads today) begins with."""
    for jurisdiction in catalog.list_jurisdictions(session):
        if jurisdiction.merged_into is None and address.startswith(jurisdiction.name_zh):
            return jurisdiction.code
    return None
