"""Open311 requests for cities another federation node serves.

The directory's snapshot says which node serves which jurisdiction. A request filed here (by
an app's GeoReport POST or by a 1999 hotline clerk) for a city served elsewhere is forwarded,
signed and over mutual TLS like every peer call (:data:`FORWARD_PATH`), to that node, which
allocates the ``service_request_id``, opens the case at its agency and answers with the
request. This node keeps a *pointer* row (``held_by_node`` set, no case), so the caller's
earlier requests are found here and ``GET requests/{id}`` is answered by asking the owner
(:data:`STATUS_PATH`), with a short cache. When the owner cannot be reached the caller is
told so (503: asking again later helps), never shown a stale "open" as if fresh.

A 1999 transfer moves a request with its case to another city's agency: on this node when
this node serves that city too, else to the node serving it (:data:`TRANSFER_PATH`); either
way the request keeps its ``service_request_id`` and this node's row becomes a pointer.

The receiving side (the peer listener's handlers) is here too: it checks that the sending
node is a member (the listener did: signature, certificate, nonce) and that the city is one
this node serves.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.homes import HOTLINE_KIND
from onceonly.cases import service as cases
from onceonly.catalog import service as catalog
from onceonly.db import transaction, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.federation.node import NodeConfig
from onceonly.federation.peer_http import PeerError, PeerResponse
from onceonly.federation.remote import RemoteNodes, json_object
from onceonly.federation.snapshot import NodeEntry, Snapshot, SnapshotRefused
from onceonly.i18n import t
from onceonly.open311 import keys
from onceonly.open311 import service as open311
from onceonly.open311.models import ServiceRequest

FORWARD_PATH = "/federation/v1/open311/requests"
STATUS_PATH = "/federation/v1/open311/requests/status"
TRANSFER_PATH = "/federation/v1/open311/transfers"
STATUS_CACHE_SECONDS = 10.0
"""How long an owner's answer on a request's status is reused: a list page asks once."""
MAX_STATUS_IDS = 200


class Unreachable(Exception):
    """The node holding the request cannot be asked now (down, no snapshot, no node serves
    the city); asking again later may help."""

    def __init__(self, node: str, detail: str, *, no_node: bool = False) -> None:
        super().__init__(detail)
        self.node = node
        self.detail = detail
        self.no_node = no_node


class Refused(Exception):
    """The owning node answered with a refusal (a field it found wrong, an unknown service):
    final, shown to the filer with the owner's reasons."""

    def __init__(self, node: str, status: int, answer: dict[str, Any]) -> None:
        super().__init__(str(answer.get("detail") or answer.get("title") or status))
        self.node = node
        self.status = status
        self.answer = answer


# --- what travels between nodes ----------------------------------------------------------


class ForwardedRequest(BaseModel):
    """A GeoReport create for a city the receiving node serves, as the filer sent it."""

    forward_id: str = Field(min_length=8, max_length=64)
    """The sender's key for this create: sent again after a lost answer, it files once."""
    jurisdiction: str = Field(max_length=80)
    service_code: str = Field(max_length=80)
    fields: dict[str, str] = Field(default_factory=dict)
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    filed_by: dict[str, str] = Field(default_factory=dict)
    """``{"username", "label"}`` of the hotline clerk or the app on the sending node."""
    lang: str = "zh-TW"


class StatusAsk(BaseModel):
    """How the requests ``ids`` stand at the node holding them."""

    ids: list[str] = Field(min_length=1, max_length=MAX_STATUS_IDS)


class TransferredRequest(BaseModel):
    """A request moved with its case to a city the receiving node serves; it keeps its id."""

    service_request_id: str = Field(max_length=40)
    to_jurisdiction: str = Field(max_length=80)
    from_jurisdiction: str = Field(max_length=80)
    service_code: str = Field(max_length=80)
    fields: dict[str, str] = Field(default_factory=dict)
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    requested_at: AwareDatetime
    note: str = Field(max_length=500)
    transferred_by: dict[str, str] = Field(default_factory=dict)


# --- the filing side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """The other node serving a city, with the snapshot that says so."""

    node: NodeEntry
    snapshot: Snapshot


def owner_of(remote: RemoteNodes | None, jurisdiction: str) -> Owner | None:
    """The node serving ``jurisdiction`` when it is not this one (``None``: here, or this
    deployment stands alone); :class:`Unreachable` when the directory cannot say."""
    if remote is None or jurisdiction in remote.config.jurisdictions:
        return None
    try:
        snapshot = remote.snapshots.current()
    except SnapshotRefused as exc:
        raise Unreachable(jurisdiction, f"directory snapshot: {exc.code}") from exc
    node = snapshot.node_serving(jurisdiction)
    if node is None:
        raise Unreachable(jurisdiction, f"no node serves {jurisdiction}", no_node=True)
    if node.id == remote.config.id:
        return None
    return Owner(node, snapshot)


def _post(remote: RemoteNodes, owner: Owner, path: str, body: Mapping[str, Any]) -> PeerResponse:
    raw = json.dumps(body, ensure_ascii=False).encode()
    try:
        return remote.post_signed(owner.snapshot, owner.node, path, raw)
    except PeerError as exc:
        raise Unreachable(owner.node.name, str(exc)[:300]) from exc


def _answer(owner: Owner, response: PeerResponse, ok: int = 200) -> dict[str, Any]:
    answer = json_object(response)
    if response.status_code == ok:
        return answer
    refusal = response.status_code in (400, 403, 404, 409, 422, 429)
    if refusal and "/federation-" not in str(answer.get("type", "")):
        raise Refused(owner.node.name, response.status_code, answer)
    # 401/403 (a certificate or snapshot lagging there), 5xx: may pass; say so, retry later
    detail = str(answer.get("detail") or answer.get("title") or response.status_code)
    raise Unreachable(owner.node.name, detail[:300])


def forward_create(
    remote: RemoteNodes,
    owner: Owner,
    *,
    jurisdiction: str,
    service_code: str,
    fields: Mapping[str, str],
    attributes: Mapping[str, list[str]],
    filed_by: Mapping[str, str],
    lang: str,
    forward_id: str | None = None,
) -> dict[str, Any]:
    """The owning node's answer to a create: ``{"request": {...}, "node": id}``, the
    request as its public view plus its ``token``."""
    body = ForwardedRequest(
        forward_id=forward_id or str(uuid.uuid4()),
        jurisdiction=jurisdiction,
        service_code=service_code,
        fields=dict(fields),
        attributes={k: list(v) for k, v in attributes.items()},
        filed_by=dict(filed_by),
        lang=lang,
    )
    return _answer(owner, _post(remote, owner, FORWARD_PATH, body.model_dump()), ok=201)


class StatusCache:
    """The owners' last answers, per (node, id), for :data:`STATUS_CACHE_SECONDS`."""

    def __init__(self, seconds: float = STATUS_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def get(self, node: str, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            kept = self._kept.get((node, request_id))
        if kept is None or time.monotonic() - kept[0] > self.seconds:
            return None
        return kept[1]

    def put(self, node: str, view: dict[str, Any]) -> None:
        with self._lock:
            if len(self._kept) > 10_000:
                self._kept.clear()
            self._kept[(node, str(view.get("service_request_id")))] = (time.monotonic(), view)

    def forget(self, request_id: str) -> None:
        with self._lock:
            for key in [k for k in self._kept if k[1] == request_id]:
                del self._kept[key]


STATUS_CACHE = StatusCache()


def ask_status(
    remote: RemoteNodes, node_id: str, ids: list[str], cache: StatusCache | None = STATUS_CACHE
) -> dict[str, dict[str, Any]]:
    """The public views of ``ids`` as the node ``node_id`` holding them reports, by id;
    :class:`Unreachable` when it cannot be asked now. An id it does not know is left out."""
    found: dict[str, dict[str, Any]] = {}
    missing = []
    for request_id in ids:
        kept = cache.get(node_id, request_id) if cache else None
        if kept is not None:
            found[request_id] = kept
        else:
            missing.append(request_id)
    if not missing:
        return found
    try:
        snapshot = remote.snapshots.current()
    except SnapshotRefused as exc:
        raise Unreachable(node_id, f"directory snapshot: {exc.code}") from exc
    node = snapshot.node(node_id)
    if node is None:
        raise Unreachable(node_id, f"node {node_id} is no longer a member")
    owner = Owner(node, snapshot)
    for start in range(0, len(missing), MAX_STATUS_IDS):
        chunk = missing[start : start + MAX_STATUS_IDS]
        answer = _answer(owner, _post(remote, owner, STATUS_PATH, {"ids": chunk}))
        for view in answer.get("requests") or []:
            if isinstance(view, dict) and view.get("service_request_id") in chunk:
                found[str(view["service_request_id"])] = view
                if cache:
                    cache.put(node_id, view)
    return found


def send_transfer(remote: RemoteNodes, owner: Owner, body: TransferredRequest) -> dict[str, Any]:
    """The receiving node's answer to a transfer: ``{"request": {...}, "node": id}``."""
    return _answer(owner, _post(remote, owner, TRANSFER_PATH, body.model_dump(mode="json")), ok=201)


def node_name(remote: RemoteNodes | None, node_id: str) -> str:
    """A member node's name in words, as the directory lists it (its id when unknown)."""
    if remote is None:
        return node_id
    try:
        node = remote.snapshots.current().node(node_id)
    except SnapshotRefused:
        return node_id
    return node.name if node is not None else node_id


def unreachable_problem(exc: Unreachable, session: Session, lang: str | None) -> Problem:
    """503 naming the node (or the city no node serves now): asking again later helps."""
    if exc.no_node:
        city = catalog.get_jurisdiction(session, exc.node)
        name = (city.name_en if lang == "en" else city.name_zh) if city else exc.node
        detail = t("hotline.fed.no_node", lang, city=name)
    else:
        detail = t("hotline.fed.unreachable", lang, node=exc.node)
    return Problem(
        503, "node-unreachable", t("hotline.fed.unavailable", lang), detail, retry_after=30
    )


def refused_problem(exc: Refused, lang: str | None) -> Problem:
    """The owner's refusal with its field errors, as if refused here."""
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("reason", "")))
        for e in exc.answer.get("errors") or []
        if isinstance(e, dict)
    ]
    detail = t("hotline.fed.refused", lang, node=exc.node, detail=str(exc))
    status = exc.status if exc.status in (400, 403, 404, 409, 422, 429) else 422
    retry = exc.answer.get("retry_after")
    return Problem(
        status,
        str(exc.answer.get("code") or "refused"),
        detail,
        detail,
        errors=errors,
        retry_after=retry if isinstance(retry, int) else None,
    )


# --- filing anywhere ---------------------------------------------------------------------

POINTER_FIELDS = (
    "description",
    "address_string",
    "address_id",
    "zipcode",
    "media_url",
    "first_name",
    "last_name",
    "email",
    "phone",
    "device_id",
    "account_id",
)


def _clip(value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def create_anywhere(
    sessions: sessionmaker[Session],
    remote: RemoteNodes | None,
    *,
    jurisdiction: str,
    service_code: str,
    fields: Mapping[str, str],
    attributes: Mapping[str, list[str]],
    filer: open311.Filer,
    lang: str | None,
    api_key: str | None = None,
) -> open311.RequestView:
    """File a request here, or at the node serving ``jurisdiction`` and keep a pointer row
    here (with the caller's contact, so the hotline finds it). Refusals there come back as
    the same field errors; a node that cannot be reached is a 503."""
    try:
        owner = owner_of(remote, jurisdiction)
    except Unreachable as exc:
        with sessions() as session:
            raise unreachable_problem(exc, session, lang) from exc
    if owner is None or remote is None:
        with transaction(sessions) as session:
            return open311.create_request(
                session,
                jurisdiction=jurisdiction,
                service_code=service_code,
                fields=fields,
                attributes=attributes,
                filed_by=filer,
                lang=lang,
            )
    forward_id = uuid.uuid4().hex
    filed_by = {"kind": filer.kind, "username": filer.name}
    if api_key:
        filed_by["api_key"] = api_key
    try:
        answer = forward_create(
            remote,
            owner,
            jurisdiction=jurisdiction,
            service_code=service_code,
            fields=fields,
            attributes=attributes,
            filed_by=filed_by,
            lang=lang or "zh-TW",
            forward_id=forward_id,
        )
        view = open311.RequestView.model_validate(answer.get("request") or {})
    except Unreachable as exc:
        with sessions() as session:
            raise unreachable_problem(exc, session, lang) from exc
    except Refused as exc:
        raise refused_problem(exc, lang) from exc
    except ValueError as exc:  # an answer that is not a request
        with sessions() as session:
            raise unreachable_problem(
                Unreachable(owner.node.name, str(exc)[:200]), session, lang
            ) from exc
    with transaction(sessions) as session:
        row = ServiceRequest(
            service_request_id=view.service_request_id,
            jurisdiction=jurisdiction,
            service_code=view.service_code,
            case_number=None,
            held_by_node=owner.node.id,
            token=view.token or forward_id,
            api_key_id=filer.api_key_id,
            filed_by=filer.filed_by[:120],
            filed_in=filer.jurisdiction,
            attributes={k: (v[0] if len(v) == 1 else list(v)) for k, v in attributes.items()},
            requested_at=view.requested_datetime,
            updated_at=view.updated_datetime,
            expected_at=view.expected_datetime,
            lat=_float(fields.get("lat")),
            long=_float(fields.get("long")),
            **{name: _clip(fields.get(name), 500) for name in POINTER_FIELDS},
        )
        session.add(row)
        session.flush()
        STATUS_CACHE.put(owner.node.id, view.public().model_dump(mode="json"))
        return open311.get_request(session, jurisdiction, view.service_request_id, filer)


def fresh_views(
    remote: RemoteNodes | None,
    views: list[open311.RequestView],
    cache: StatusCache | None = STATUS_CACHE,
) -> list[open311.RequestView]:
    """``views`` with each pointer's status, notes, agency and times as the node holding
    the request reports them now (personal fields stay as this node keeps them);
    :class:`Unreachable` when a node holding one cannot be asked."""
    by_node: dict[str, list[str]] = {}
    for view in views:
        if view.held_by_node:
            by_node.setdefault(view.held_by_node, []).append(view.service_request_id)
    if not by_node:
        return views
    if remote is None:
        raise Unreachable(next(iter(by_node)), "this deployment is not a federation node")
    found: dict[str, dict[str, Any]] = {}
    for node_id, ids in by_node.items():
        answered = ask_status(remote, node_id, ids, cache)
        missing = [i for i in ids if i not in answered]
        if missing:
            raise Unreachable(node_name(remote, node_id), f"{node_id} does not know {missing[0]}")
        found.update(answered)
    fresh = []
    for view in views:
        there = found.get(view.service_request_id) if view.held_by_node else None
        if there is None:
            fresh.append(view)
            continue
        update = {k: there.get(k) for k in CURRENT_FIELDS if k in there}
        fresh.append(open311.RequestView.model_validate(view.model_dump() | update))
    return fresh


CURRENT_FIELDS = (
    "status",
    "status_notes",
    "agency_responsible",
    "updated_datetime",
    "expected_datetime",
    "service_notice_zh",
    "service_notice_en",
)
"""What a pointer takes from the node holding the request: what changes as it is handled."""


# --- the 1999 transfer -------------------------------------------------------------------


def _transfer_problem(
    field: str, key: str, lang: str | None, status: int = 422, **params: Any
) -> Problem:
    if status == 422:
        return validation_problem([FieldError(field, t(key, lang, **params))], lang)
    return Problem(status, "transfer-refused", t(key, lang, **params), t(key, lang, **params))


def transfer(
    sessions: sessionmaker[Session],
    remote: RemoteNodes | None,
    *,
    request_id: str,
    to_jurisdiction: str,
    note: str,
    by: Mapping[str, str],
    lang: str | None,
) -> None:
    """Move the request held here, with its case, to the agency owning its service in
    ``to_jurisdiction``: on this node, or at the node serving that city (then the case here
    is closed with the hand-over noted, and this row points there). The id stays."""
    with sessions() as session:
        row = session.scalar(
            select(ServiceRequest).where(ServiceRequest.service_request_id == request_id.strip())
        )
        if row is None:
            raise Problem(404, "not-found", t("problem.not_found", lang), request_id)
        if row.held_by_node or row.case_number is None:
            name = node_name(remote, row.held_by_node or "")
            raise _transfer_problem(
                "transfer", "hotline.transfer.not_held_here", lang, 409, node=name
            )
        if by.get("agency") != f"{row.jurisdiction}.{HOTLINE_KIND}":  # that city's 1999 only
            here = catalog.get_jurisdiction(session, row.jurisdiction)
            words = (here.name_en if lang == "en" else here.name_zh) if here else row.jurisdiction
            raise _transfer_problem(
                "transfer", "hotline.transfer.not_your_city", lang, 403, city=words
            )
        view = open311.get_request(session, row.jurisdiction, row.service_request_id)
        if view.status != "open":
            raise _transfer_problem("transfer", "hotline.transfer.closed", lang, 409)
        city = catalog.get_jurisdiction(session, to_jurisdiction)
        if city is None:
            raise _transfer_problem(
                "to_jurisdiction", "hotline.file.unknown_city", lang, city=to_jurisdiction
            )
        if to_jurisdiction == row.jurisdiction:
            raise _transfer_problem("to_jurisdiction", "hotline.transfer.same_city", lang)
        if not note.strip():
            raise _transfer_problem("note", "hotline.transfer.note_required", lang)
        service = catalog.get_service(session, row.service_code, to_jurisdiction)
        agencies = (
            catalog.list_agencies(session, jurisdiction=to_jurisdiction, kind=service.agency_kind)
            if service
            else []
        )
        city_words = city.name_en if lang == "en" else city.name_zh
        if not agencies:
            raise _transfer_problem(
                "to_jurisdiction",
                "hotline.transfer.no_agency",
                lang,
                city=city_words,
                service=view.service_name_en if lang == "en" else view.service_name_zh,
            )
        target = agencies[0].code
        source_city = catalog.get_jurisdiction(session, row.jurisdiction)
        from_words = source_city.name_zh if source_city else row.jurisdiction
        timeline = t(
            "hotline.transfer.timeline",
            "zh-TW",
            source=from_words,
            target=city.name_zh,
            note=note.strip()[:400],
        )
        body = TransferredRequest(
            service_request_id=row.service_request_id,
            to_jurisdiction=to_jurisdiction,
            from_jurisdiction=row.jurisdiction,
            service_code=row.service_code,
            fields={
                name: str(getattr(row, name))
                for name in (*POINTER_FIELDS, "lat", "long")
                if getattr(row, name) not in (None, "")
            },
            attributes={
                k: (list(v) if isinstance(v, list) else [str(v)])
                for k, v in (row.attributes or {}).items()
            },
            requested_at=view.requested_datetime,
            note=timeline,
            transferred_by={k: str(v) for k, v in by.items()},
        )
        case_number = row.case_number
    try:
        owner = owner_of(remote, to_jurisdiction)
    except Unreachable as exc:
        with sessions() as session:
            raise unreachable_problem(exc, session, lang) from exc
    if owner is not None and remote is not None:
        try:
            send_transfer(remote, owner, body)
        except Unreachable as exc:
            with sessions() as session:
                raise unreachable_problem(exc, session, lang) from exc
        except Refused as exc:
            raise refused_problem(exc, lang) from exc
    actor = cases.CaseActor(
        username=by.get("username", ""), agency=by.get("agency", ""), badge=by.get("badge")
    )
    with transaction(sessions) as session:
        cases.transfer_service_request_case(
            session,
            actor,
            case_number,
            target,
            timeline,
            elsewhere=owner is not None,
            lang=lang,
        )
        moved = session.scalar(
            select(ServiceRequest).where(ServiceRequest.service_request_id == request_id.strip())
        )
        assert moved is not None
        moved.jurisdiction = to_jurisdiction
        moved.updated_at = utcnow()
        if owner is not None:
            moved.held_by_node = owner.node.id
    STATUS_CACHE.forget(request_id)


# --- the receiving side (the peer listener) ---------------------------------------------


class NotOurs(Exception):
    """A peer's Open311 call about a city this node (or the sender) does not serve."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def receive(
    sessions: sessionmaker[Session], node: NodeEntry, config: NodeConfig, asked: BaseModel
) -> tuple[int, dict[str, Any]]:
    """Answer a signed Open311 call of member node ``node`` (checked by the listener)."""
    if isinstance(asked, ForwardedRequest):
        return _receive_create(sessions, node, config, asked)
    if isinstance(asked, StatusAsk):
        return _receive_status(sessions, asked)
    if isinstance(asked, TransferredRequest):
        return _receive_transfer(sessions, node, config, asked)
    raise TypeError(type(asked).__name__)


def _receive_create(
    sessions: sessionmaker[Session], node: NodeEntry, config: NodeConfig, asked: ForwardedRequest
) -> tuple[int, dict[str, Any]]:
    if asked.jurisdiction not in config.jurisdictions:
        raise NotOurs("open311_city_not_here", asked.jurisdiction)
    lang = asked.lang if asked.lang in ("zh-TW", "en") else None
    with transaction(sessions) as session:
        again = session.scalar(
            select(ServiceRequest).where(ServiceRequest.token == asked.forward_id)
        )
        if again is not None:  # the answer was lost and the create sent again: filed once
            view = open311.get_request(session, again.jurisdiction, again.service_request_id)
        else:
            username = asked.filed_by.get("username", "")[:40]
            filer = open311.Filer(kind="hotline", name=f"{node.id}/{username}"[:64])
            if asked.filed_by.get("kind") == "api_key":  # an app's key, issued here
                filer = keys.authenticate(
                    session, asked.filed_by.get("api_key", ""), asked.jurisdiction, write=True
                )
            view = open311.create_request(
                session,
                jurisdiction=asked.jurisdiction,
                service_code=asked.service_code,
                fields=asked.fields,
                attributes=asked.attributes,
                filed_by=filer,
                lang=lang,
                contact_language=lang or "zh-TW",
            )
            row = session.scalar(
                select(ServiceRequest).where(
                    ServiceRequest.service_request_id == view.service_request_id
                )
            )
            assert row is not None
            row.token = asked.forward_id  # the same token on both nodes
            view = view.model_copy(update={"token": asked.forward_id})
    return 201, {"request": view.public().model_dump(mode="json"), "node": config.id}


def _receive_status(
    sessions: sessionmaker[Session], asked: StatusAsk
) -> tuple[int, dict[str, Any]]:
    with sessions() as session:
        rows = session.scalars(
            select(ServiceRequest).where(
                ServiceRequest.service_request_id.in_(asked.ids),
                ServiceRequest.held_by_node.is_(None),
            )
        )
        views = [
            open311.get_request(session, row.jurisdiction, row.service_request_id).public()
            for row in rows
        ]
    return 200, {"requests": [v.model_dump(mode="json") for v in views]}


def _receive_transfer(
    sessions: sessionmaker[Session],
    node: NodeEntry,
    config: NodeConfig,
    asked: TransferredRequest,
) -> tuple[int, dict[str, Any]]:
    if asked.from_jurisdiction not in node.jurisdictions:
        raise NotOurs("open311_city_not_of_node", asked.from_jurisdiction)
    if asked.to_jurisdiction not in config.jurisdictions:
        raise NotOurs("open311_city_not_here", asked.to_jurisdiction)
    with transaction(sessions) as session:
        row = session.scalar(
            select(ServiceRequest).where(
                ServiceRequest.service_request_id == asked.service_request_id
            )
        )
        if row is not None and row.held_by_node is None:  # sent again: taken once
            view = open311.get_request(session, row.jurisdiction, row.service_request_id)
            return 201, {"request": view.public().model_dump(mode="json"), "node": config.id}
        if row is not None and row.held_by_node != node.id:
            # a pointer here to another node: only the node holding the request moves it
            raise NotOurs("open311_not_held_by_sender", asked.service_request_id)
        service = catalog.get_service(session, asked.service_code, asked.to_jurisdiction)
        agencies = (
            catalog.list_agencies(
                session, jurisdiction=asked.to_jurisdiction, kind=service.agency_kind
            )
            if service
            else []
        )
        if service is None or not agencies:
            raise validation_problem(
                [FieldError("to_jurisdiction", t("hotline.fed.no_service", "en"))], "en"
            )
        username = asked.transferred_by.get("username", "")[:40]
        moment = utcnow()
        fields = asked.fields
        case = cases.open_service_request_case(
            session,
            agency=agencies[0].code,
            service_code=service.code,
            service_request_id=asked.service_request_id,
            opened_by=f"{node.id}/{username}"[:64],
            description=asked.note
            + ("\n" + fields["description"] if fields.get("description") else ""),
            location=fields.get("address_string") or None,
            contact_email=fields.get("email") or None,
            contact_mobile=open311.mobile_or_none(fields.get("phone")),
            now=moment,
        )
        if row is None:
            row = ServiceRequest(
                service_request_id=asked.service_request_id,
                service_code=service.code,
                token=uuid.uuid4().hex,
                filed_by=f"{node.id}/{username}"[:120],
                attributes={
                    k: (v[0] if len(v) == 1 else list(v)) for k, v in asked.attributes.items()
                },
                requested_at=asked.requested_at,
                expected_at=moment + timedelta(days=service.expected_days),
                lat=_float(fields.get("lat")),
                long=_float(fields.get("long")),
                **{name: _clip(fields.get(name), 500) for name in POINTER_FIELDS},
            )
            session.add(row)
        row.jurisdiction = asked.to_jurisdiction
        row.case_number = case.number
        row.held_by_node = None
        row.updated_at = moment
        session.flush()
        view = open311.get_request(session, row.jurisdiction, row.service_request_id)
    return 201, {"request": view.public().model_dump(mode="json"), "node": config.id}


# --- hooks of the GeoReport routes -------------------------------------------------------


def remote_of(app_state: Any) -> RemoteNodes | None:
    """The app's way to the other nodes (its exchange's), ``None`` when it stands alone."""
    from onceonly.exchange.service import exchange_for

    remote = exchange_for(app_state).remote
    return remote if isinstance(remote, RemoteNodes) else None


def served_elsewhere(app_state: Any, session: Session, jurisdiction: str) -> bool:
    """Whether another member node serves ``jurisdiction`` (a GeoReport call for it is
    forwarded there); a 503 when the directory cannot say now."""
    if catalog.get_jurisdiction(session, jurisdiction) is None:
        return False
    try:
        return owner_of(remote_of(app_state), jurisdiction) is not None
    except Unreachable as exc:
        if exc.no_node:
            return False
        raise unreachable_problem(exc, session, None) from exc


def current(
    app_state: Any, session: Session, views: list[open311.RequestView]
) -> list[open311.RequestView]:
    """``views`` with the pointers' status read from the nodes holding them; a 503 (in the
    spec's error format, by the routes) when one cannot be asked now."""
    if not any(v.held_by_node for v in views):
        return views
    try:
        return fresh_views(remote_of(app_state), views)
    except Unreachable as exc:
        raise unreachable_problem(exc, session, None) from exc


def forwarded_create_response(
    app_state: Any,
    fmt: Any,
    jurisdiction: str,
    fields: Mapping[str, str],
    attributes: Mapping[str, list[str]],
    api_key: str,
    render: Any,
    problem_response: Any,
) -> Any:
    """A GeoReport POST for a city another node serves: that node checks the app's key
    (issued there), numbers and holds the request; this one keeps a pointer. The answer is
    the same document a local create gives."""
    filer = open311.Filer(kind="api_key", name="forwarded", jurisdiction=jurisdiction)
    try:
        view = create_anywhere(
            app_state.sessions,
            remote_of(app_state),
            jurisdiction=jurisdiction,
            service_code=fields.get("service_code") or "",
            fields=fields,
            attributes=attributes,
            filer=filer,
            lang=None,
            api_key=api_key,
        )
    except Problem as problem:
        return problem_response(fmt, problem)
    node: dict[str, Any] = {"service_request_id": view.service_request_id}
    if view.service_notice_zh or view.service_notice_en:
        node["service_notice"] = f"{view.service_notice_zh} / {view.service_notice_en}"
    node["account_id"] = (fields.get("account_id") or "").strip() or None
    return render(fmt, "service_requests", "request", [node])
