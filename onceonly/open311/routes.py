"""Open311 GeoReport v2 under ``/open311/v2/``, to the letter of the published specification
(http://wiki.open311.org/GeoReport_v2 and its Service Discovery page).

Every resource answers as ``.json`` or ``.xml``; XML is built with ElementTree (escaping is
the library's), declared UTF-8, element order as the specification's examples show. Errors
use the specification's shape (``[{"code":400,"description":"..."}]`` or
``<errors><error>...``) with the reason in words, Chinese first, naming the field. Texts meant
for people (service names, descriptions, notices) are Chinese first with English after " / ".
Personal fields of a request never leave through this interface.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from onceonly.catalog import service as catalog
from onceonly.catalog.loader import current_version
from onceonly.catalog.service import AttributeView, ServiceView
from onceonly.errors import FieldError, Problem
from onceonly.open311 import federation as routing
from onceonly.open311 import keys, service
from onceonly.open311.parsing import (
    MAX_IDS,
    NOT_IN_XML,
    ParseError,
    collect_attributes,
    format_datetime,
    parse_list,
    parse_w3c_datetime,
)
from onceonly.open311.service import Filer, RequestView, words
from onceonly.web.deps import Db, get_settings

_ERRORS_JSON = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
_BOTH = {"application/json": {"schema": {}}, "text/xml": {"schema": {"type": "string"}}}
GEOREPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The GeoReport v2 answer, as .json or .xml", "content": _BOTH},
    "4XX": {
        "description": "The specification's error document (400, 403, 404, 429 with "
        "Retry-After), each reason naming the field, Chinese first",
        "content": {
            "application/json": {"schema": _ERRORS_JSON},
            "text/xml": {"schema": {"type": "string"}},
        },
    },
}
"""What every GeoReport route answers (the document says so, and the fuzzer holds us to it)."""

router = APIRouter(prefix="/open311/v2", tags=["open311"], responses=GEOREPORT_RESPONSES)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}
Format = Literal["json", "xml"]
Node = dict[str, Any]
"""One element: ordered (name -> value); a value is text, a number, a bool, ``None`` (empty
element / null), a nested ``Node`` or a ``list`` rendered as repeated children."""


class _Repeat:
    """A JSON array whose XML form repeats ``item`` elements inside the parent."""

    def __init__(self, item: str, values: Sequence[Any]) -> None:
        self.item = item
        self.values = list(values)


def bilingual(zh: str | None, en: str | None) -> str | None:
    """Chinese first, then English, for people reading a GeoReport answer in any app."""
    if not zh and not en:
        return None
    if not en or zh == en:
        return zh
    return f"{zh} / {en}" if zh else en


# --- rendering ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return NOT_IN_XML.sub("\ufffd", str(value))  # a row from a peer or a case note, too


def _xml_fill(parent: ET.Element, node: Node) -> None:
    for name, value in node.items():
        if isinstance(value, _Repeat):
            holder = ET.SubElement(parent, name)
            for item in value.values:
                child = ET.SubElement(holder, value.item)
                if isinstance(item, dict):
                    _xml_fill(child, item)
                else:
                    child.text = _text(item)
            continue
        child = ET.SubElement(parent, name)
        if isinstance(value, dict):
            _xml_fill(child, value)
        else:
            child.text = _text(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, _Repeat):
        return [_json_value(v) for v in value.values]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


def render(
    fmt: Format, root: str, item: str | None, body: Node | list[Node], status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """``body`` as JSON (a list of objects, or one object) or as XML under ``<root>``, each
    list entry an ``<item>`` element."""
    if fmt == "json":
        data = [_json_value(n) for n in body] if isinstance(body, list) else _json_value(body)
        content = json.dumps(data, ensure_ascii=False).encode("utf-8")
    else:
        element = ET.Element(root)
        if isinstance(body, list):
            for node in body:
                _xml_fill(ET.SubElement(element, item or "item"), node)
        else:
            _xml_fill(element, body)
        content = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
            element, encoding="unicode"
        ).encode("utf-8")
    return Response(content, status_code=status, media_type=CONTENT_TYPES[fmt], headers=headers)


def errors_response(fmt: Format, status: int, descriptions: Sequence[str],
                    retry_after: int | None = None) -> Response:  # fmt: skip
    """The specification's error document: one ``error`` per reason, ``code`` the status."""
    body = [{"code": status, "description": d} for d in descriptions]
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return render(fmt, "errors", "error", body, status, headers)


def problem_response(fmt: Format, problem: Problem) -> Response:
    descriptions = [e.reason for e in problem.errors] or [problem.detail or problem.title]
    status = problem.status if problem.status in (400, 403, 404, 429) else 400
    if problem.status >= 500:
        status = problem.status
    return errors_response(fmt, status, descriptions, problem.retry_after)


def _fmt(value: str) -> Format | None:
    return "json" if value == "json" else "xml" if value == "xml" else None


def _bad_format(value: str) -> Response:
    return errors_response("xml", 404, [words("open311.error.format", None, field=f".{value}")])


def _fail(status: int, field: str, key: str, **params: Any) -> Problem:
    reason = words(key, None, field=field, **params)
    return Problem(status, "bad-request", reason, reason, [FieldError(field, reason)])


# --- the jurisdiction and the caller -----------------------------------------------------------


def resolve_jurisdiction(request: Request, db: Session, given: str | None) -> str:
    """The ``jurisdiction_id`` named (one this node serves, else 404), or the only one served;
    400 when the node serves several and none is named."""
    served = service.served_jurisdictions(db, get_settings(request))
    value = (given or "").strip()
    if not value:
        if len(served) == 1:
            return served[0]
        raise _fail(
            400, "jurisdiction_id", "open311.error.jurisdiction_required",
            codes=", ".join(served),
        )  # fmt: skip
    if value not in served and not routing.served_elsewhere(request.app.state, db, value):
        raise _fail(404, "jurisdiction_id", "open311.error.unknown_jurisdiction", code=value)
    return value


def _reader(db: Session, api_key: list[str], jurisdiction: str) -> Filer | None:
    """A read needs no key; a key given is checked and counted against its read quota. Given
    twice, it is refused: the entrance's limit and the app must read the same one."""
    if len(api_key) > 1:
        raise _fail(400, "api_key", "open311.error.repeated")
    if not api_key or not api_key[0].strip():
        return None
    return keys.authenticate(db, api_key[0], jurisdiction, write=False)


def _guarded(fmt_value: str, call: Callable[[Format], Response]) -> Response:
    fmt = _fmt(fmt_value)
    if fmt is None:
        return _bad_format(fmt_value)
    try:
        return call(fmt)
    except Problem as problem:
        return problem_response(fmt, problem)


# --- views as GeoReport nodes ------------------------------------------------------------------


def service_node(view: ServiceView) -> Node:
    return {
        "service_code": view.code,
        "service_name": bilingual(view.name_zh, view.name_en),
        "description": bilingual(view.description_zh, view.description_en),
        "metadata": any(a.variable for a in view.attributes),
        "type": view.type,
        "keywords": ", ".join(view.keywords),
        "group": view.group,
    }


def attribute_node(view: AttributeView) -> Node:
    return {
        "variable": view.variable,
        "code": view.code,
        "datatype": view.datatype,
        "required": view.required,
        "datatype_description": bilingual(
            view.datatype_description_zh, view.datatype_description_en
        ),
        "order": view.order,
        "description": bilingual(view.description_zh, view.description_en),
        "values": _Repeat(
            "value", [{"key": v.key, "name": bilingual(v.name_zh, v.name_en)} for v in view.values]
        ),
    }


def request_node(view: RequestView) -> Node:
    """The fields and order of the specification's GET Service Request response; nothing
    personal (the view is made public first, whoever asks)."""
    view = view.public()
    return {
        "service_request_id": view.service_request_id,
        "status": view.status,
        "status_notes": view.status_notes,
        "service_name": bilingual(view.service_name_zh, view.service_name_en),
        "service_code": view.service_code,
        "description": view.description,
        "agency_responsible": view.agency_responsible,
        "service_notice": bilingual(view.service_notice_zh, view.service_notice_en),
        "requested_datetime": view.requested_datetime,
        "updated_datetime": view.updated_datetime,
        "expected_datetime": view.expected_datetime,
        "address": view.address,
        "address_id": view.address_id,
        "zipcode": view.zipcode,
        "lat": view.lat,
        "long": view.long,
        "media_url": view.media_url,
    }


# --- routes ------------------------------------------------------------------------------------


@router.get("/discovery.{fmt}", summary="GeoReport v2 service discovery")
def discovery(request: Request, db: Db, fmt: str) -> Response:
    def answer(f: Format) -> Response:
        version = catalog_changeset(db)
        url = str(request.url_for("discovery", fmt=f)).rsplit("/", 1)[0]
        return render(
            f,
            "discovery",
            None,
            {
                "changeset": version,
                "contact": words("open311.discovery.contact", None),
                "key_service": words("open311.discovery.key_service", None),
                "endpoints": _Repeat(
                    "endpoint",
                    [
                        {
                            "specification": SPECIFICATION,
                            "url": url,
                            "changeset": version,
                            "type": "production",
                            "formats": _Repeat("format", ["text/xml", "application/json"]),
                        }
                    ],
                ),
            },
        )

    return _guarded(fmt, answer)


def catalog_changeset(db: Session) -> str:
    """When the service list last changed: the catalog's load time, sortable."""
    version = current_version(db)
    return format_datetime(version.loaded_at) if version else ""


@router.get("/services.{fmt}", summary="GeoReport v2 service list")
def services(request: Request, db: Db, fmt: str) -> Response:
    def answer(f: Format) -> Response:
        jurisdiction = resolve_jurisdiction(
            request, db, request.query_params.get("jurisdiction_id")
        )
        views = service.list_services(db, jurisdiction)
        return render(f, "services", "service", [service_node(v) for v in views])

    return _guarded(fmt, answer)


@router.get("/services/{service_code}.{fmt}", summary="GeoReport v2 service definition")
def service_definition(request: Request, db: Db, service_code: str, fmt: str) -> Response:
    def answer(f: Format) -> Response:
        jurisdiction = resolve_jurisdiction(
            request, db, request.query_params.get("jurisdiction_id")
        )
        definition = service.service_definition(db, jurisdiction, service_code)
        return render(
            f,
            "service_definition",
            None,
            {
                "service_code": definition.service_code,
                "attributes": _Repeat(
                    "attribute", [attribute_node(a) for a in definition.attributes]
                ),
            },
        )

    return _guarded(fmt, answer)


def _dates(request: Request) -> tuple[datetime | None, datetime | None]:
    found: dict[str, datetime | None] = {}
    for name in ("start_date", "end_date"):
        raw = (request.query_params.get(name) or "").strip()
        try:
            found[name] = parse_w3c_datetime(raw) if raw else None
        except ParseError as exc:
            raise _fail(400, name, exc.key) from exc
    return found["start_date"], found["end_date"]


@router.get("/requests.{fmt}", summary="GeoReport v2 service requests")
def list_requests(request: Request, db: Db, fmt: str) -> Response:
    def answer(f: Format) -> Response:
        query = request.query_params
        jurisdiction = resolve_jurisdiction(request, db, query.get("jurisdiction_id"))
        viewer = _reader(db, query.getlist("api_key"), jurisdiction)
        start, end = _dates(request)
        ids = parse_list(query.get("service_request_id") or "")
        if len(ids) > MAX_IDS:  # each id is a query parameter and maybe a peer's status ask
            raise _fail(400, "service_request_id", "open311.error.too_many_ids", limit=MAX_IDS)
        statuses = parse_list(query.get("status") or "") or None
        views = service.list_requests(
            db,
            jurisdiction=jurisdiction,
            ids=ids or None,
            service_codes=parse_list(query.get("service_code") or "") or None,
            start=start,
            end=end,
            statuses=None,  # filtered below, once pointers' statuses are read (#21)
            viewer=viewer,
        )
        views = routing.current(request.app.state, db, views)
        views = [v for v in views if not statuses or v.status in statuses]
        return render(f, "service_requests", "request", [request_node(v) for v in views])

    return _guarded(fmt, answer)


@router.post("/requests.{fmt}", summary="GeoReport v2 create a service request")
async def create_request(request: Request, fmt: str) -> Response:
    fmt_checked = _fmt(fmt)
    if fmt_checked is None:
        return _bad_format(fmt)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return errors_response(
            fmt_checked, 400, [words("open311.error.body", None, field="Content-Type")]
        )
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return await _run_in_threadpool(request, fmt_checked, pairs)


async def _run_in_threadpool(
    request: Request, fmt: Format, pairs: list[tuple[str, str]]
) -> Response:
    return await run_in_threadpool(_create, request, fmt, pairs)


def _create(request: Request, fmt: Format, pairs: list[tuple[str, str]]) -> Response:
    """File the request in one transaction (the key's write counted, the request and its
    case written, or nothing), then send the filer the case's notices."""
    fields = {k: v for k, v in pairs if not k.startswith("attribute[")}
    factory = request.app.state.sessions
    with factory() as db:
        try:
            jurisdiction = resolve_jurisdiction(request, db, fields.get("jurisdiction_id"))
            api_key = (fields.get("api_key") or "").strip()
            if not api_key:
                raise _fail(400, "api_key", "open311.error.key_missing")
            if jurisdiction not in service.served_jurisdictions(db, get_settings(request)):
                # #21: the node serving that city checks the key, numbers and holds it
                return routing.forwarded_create_response(
                    request.app.state, fmt, jurisdiction, fields, collect_attributes(pairs),
                    api_key, render, problem_response,
                )  # fmt: skip
            filer = keys.authenticate(db, api_key, jurisdiction, write=True)
            view = service.create_request(
                db,
                jurisdiction=jurisdiction,
                service_code=fields.get("service_code") or "",
                fields=fields,
                attributes=collect_attributes(pairs),
                filed_by=filer,
            )
            kind = catalog.get_service(db, view.service_code)
            db.commit()
        except Problem as problem:
            db.rollback()
            return problem_response(fmt, problem)
    service.send_notices(request.app.state, get_settings(request), view)
    node: Node = {}
    if kind is None or kind.type == "realtime":
        node["service_request_id"] = view.service_request_id
    elif kind.type == "batch":
        node["token"] = view.token
    node["service_notice"] = bilingual(view.service_notice_zh, view.service_notice_en)
    node["account_id"] = (fields.get("account_id") or "").strip() or None
    return render(fmt, "service_requests", "request", [node])


@router.get("/requests/{service_request_id}.{fmt}", summary="GeoReport v2 one service request")
def get_request(request: Request, db: Db, service_request_id: str, fmt: str) -> Response:
    def answer(f: Format) -> Response:
        query = request.query_params
        jurisdiction = resolve_jurisdiction(request, db, query.get("jurisdiction_id"))
        viewer = _reader(db, query.getlist("api_key"), jurisdiction)
        view = service.get_request(db, jurisdiction, service_request_id, viewer)
        (view,) = routing.current(request.app.state, db, [view])  # #21: read from the holder
        return render(f, "service_requests", "request", [request_node(view)])

    return _guarded(fmt, answer)


@router.get("/tokens/{token}.{fmt}", summary="GeoReport v2 service_request_id from a token")
def token(request: Request, db: Db, token: str, fmt: str) -> Response:
    def answer(f: Format) -> Response:
        jurisdiction = resolve_jurisdiction(
            request, db, request.query_params.get("jurisdiction_id")
        )
        found = service.request_for_token(db, jurisdiction, token)
        return render(
            f,
            "service_requests",
            "request",
            [{"service_request_id": found.service_request_id, "token": found.token}],
        )

    return _guarded(fmt, answer)
