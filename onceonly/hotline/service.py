"""What the 1999 intake page needs, on top of :mod:`onceonly.open311.service` (requests and
service definitions) and :mod:`onceonly.open311.federation` (cities another node serves)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.homes import HOTLINE_KIND
from onceonly.accounts.principal import Principal
from onceonly.accounts.tenancy import tenant_of_agency
from onceonly.catalog import service as catalog
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.federation.remote import RemoteNodes
from onceonly.i18n import t, taipei_time
from onceonly.open311 import federation as routing
from onceonly.open311 import service as open311

REQUEST_FIELDS = (
    "description",
    "address_string",
    "lat",
    "long",
    "first_name",
    "last_name",
    "phone",
    "email",
)
"""The GeoReport request fields the intake form has (besides the service's attributes)."""


def is_hotline_clerk(user: Principal) -> bool:
    return user.role == "clerk" and user.agency_code.endswith("." + HOTLINE_KIND)


def remote_of(app_state: Any) -> RemoteNodes | None:
    """The app's way to the other nodes, ``None`` when it stands alone."""
    return routing.remote_of(app_state)


def _name(view: Any, lang: str) -> str:
    return str(view.name_en if lang == "en" else view.name_zh)


def cities(session: Session, lang: str) -> list[tuple[str, str]]:
    """Every city and county today (not the merged ones, not the central government)."""
    return [
        (j.code, _name(j, lang))
        for j in catalog.list_jurisdictions(session)
        if j.merged_into is None and j.code != "central"
    ]


def city_name(session: Session, code: str, lang: str) -> str:
    found = catalog.get_jurisdiction(session, code)
    return _name(found, lang) if found else code


def services_of(session: Session, jurisdiction: str, lang: str) -> list[tuple[str, str]]:
    if catalog.get_jurisdiction(session, jurisdiction) is None:
        return []
    return [(s.code, _name(s, lang)) for s in open311.list_services(session, jurisdiction)]


@dataclass(frozen=True)
class AttributeField:
    code: str
    label: str
    hint: str
    required: bool
    multi: bool
    values: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceForm:
    code: str
    answer: str
    expected_days: int | None
    attributes: list[AttributeField]
    elsewhere: str | None
    """Said when another node serves the city: it will file and number the request."""


def _require_city(session: Session, jurisdiction: str, lang: str) -> None:
    if not jurisdiction:
        raise validation_problem(
            [FieldError("jurisdiction", t("hotline.file.pick_city", lang))], lang
        )
    if catalog.get_jurisdiction(session, jurisdiction) is None:
        raise validation_problem(
            [FieldError("jurisdiction", t("hotline.file.unknown_city", lang, city=jurisdiction))],
            lang,
        )


def service_form(
    session: Session, remote: RemoteNodes | None, jurisdiction: str, code: str, lang: str
) -> ServiceForm:
    """The FAQ answer and the fields of service ``code`` in ``jurisdiction``."""
    _require_city(session, jurisdiction, lang)
    try:
        definition = open311.service_definition(session, jurisdiction, code, lang=lang)
    except Problem as problem:
        if problem.status != 404:
            raise
        city = city_name(session, jurisdiction, lang)
        raise validation_problem(
            [
                FieldError(
                    "service", t("hotline.file.unknown_service", lang, city=city, service=code)
                )
            ],
            lang,
        ) from problem
    service = catalog.get_service(session, code, jurisdiction)
    answer = ""
    expected = None
    if service is not None:
        answer = str((service.answer_en if lang == "en" else service.answer_zh) or "")
        expected = service.expected_days
    en = lang == "en"
    attributes = [
        AttributeField(
            code=a.code,
            label=a.description_en if en else a.description_zh,
            hint=(a.datatype_description_en if en else a.datatype_description_zh) or "",
            required=a.required,
            multi=a.datatype == "multivaluelist",
            values=[(v.key, v.name_en if en else v.name_zh) for v in a.values],
        )
        for a in sorted(definition.attributes, key=lambda a: a.order)
        if a.variable
    ]
    elsewhere = None
    try:
        owner = routing.owner_of(remote, jurisdiction)
    except routing.Unreachable:
        owner = None
    if owner is not None:
        elsewhere = t(
            "hotline.file.elsewhere",
            lang,
            city=city_name(session, jurisdiction, lang),
            node=owner.node.name,
        )
    return ServiceForm(code, answer, expected, attributes, elsewhere)


def attributes_of(items: Iterable[tuple[str, Any]]) -> dict[str, list[str]]:
    """``attribute[code]`` and ``attribute[code][]`` form fields, as GeoReport posts them."""
    found: dict[str, list[str]] = defaultdict(list)
    for name, value in items:
        if not name.startswith("attribute[") or not isinstance(value, str):
            continue
        code = name[len("attribute[") :].removesuffix("[]").removesuffix("]")
        if code and value.strip():
            found[code[:80]].append(value.strip()[:500])
    return dict(found)


@dataclass(frozen=True)
class CallerRow:
    service_request_id: str
    jurisdiction: str
    city: str
    service: str
    status_words: str
    status_notes: str
    agency: str
    filed: str
    held: str
    transferable: bool


def find_caller(
    session: Session,
    remote: RemoteNodes | None,
    *,
    phone: str,
    email: str,
    lang: str,
    own_city: str,
) -> list[CallerRow]:
    """The caller's requests this node holds or points at, newest first; the ones another
    node holds with the status that node reports now (or "not available" when it is down)."""
    views = open311.requests_of_caller(
        session, phone=phone.strip() or None, email=email.strip() or None, city=own_city
    )
    remote_ids: dict[str, list[str]] = defaultdict(list)
    for view in views:
        if view.held_by_node:
            remote_ids[view.held_by_node].append(view.service_request_id)
    statuses: dict[str, dict[str, Any]] = {}
    node_names: dict[str, str] = {}
    for node_id, ids in remote_ids.items():
        node_names[node_id] = node_id
        if remote is None:
            continue
        try:
            statuses.update(routing.ask_status(remote, node_id, ids))
            node_names[node_id] = routing.node_name(remote, node_id)
        except (routing.Unreachable, routing.Refused):
            continue
    rows = []
    for view in views:
        service_name = view.service_name_en if lang == "en" else view.service_name_zh
        if view.held_by_node:
            now = statuses.get(view.service_request_id)
            status = str(now["status"]) if now else ""
            notes = str(now.get("status_notes") or "") if now else ""
            agency = str(now.get("agency_responsible") or "") if now else ""
            held = node_names.get(view.held_by_node, view.held_by_node)
            jurisdiction = (
                str(now.get("jurisdiction_id") or view.jurisdiction) if now else view.jurisdiction
            )
        else:
            status, notes = view.status, view.status_notes or ""
            agency, held = view.agency_responsible or "", t("hotline.held.here", lang)
            jurisdiction = view.jurisdiction
        rows.append(
            CallerRow(
                service_request_id=view.service_request_id,
                jurisdiction=jurisdiction,
                city=city_name(session, jurisdiction, lang),
                service=service_name,
                status_words=t(f"hotline.status.{status}", lang)
                if status
                else t("hotline.status.unknown", lang),
                status_notes=notes,
                agency=agency,
                filed=taipei_time(view.requested_datetime, lang),
                held=held,
                transferable=(
                    not view.held_by_node and status == "open" and jurisdiction == own_city
                ),
            )
        )
    return rows


def _filer(user: Principal) -> dict[str, str]:
    return {"username": user.username, "agency": user.agency_code, "kind": "hotline"}


def file_request(
    sessions: sessionmaker[Session],
    remote: RemoteNodes | None,
    user: Principal,
    *,
    jurisdiction: str,
    service_code: str,
    fields: Mapping[str, str],
    attributes: Mapping[str, list[str]],
    lang: str,
) -> open311.RequestView:
    """File the caller's request here or at the node serving ``jurisdiction``."""
    with sessions() as session:
        _require_city(session, jurisdiction, lang)
        if not service_code:
            raise validation_problem(
                [FieldError("service", t("hotline.file.pick_service", lang))], lang
            )
    view = routing.create_anywhere(
        sessions,
        remote,
        jurisdiction=jurisdiction,
        service_code=service_code,
        fields=fields,
        attributes=attributes,
        filer=open311.Filer(
            kind="hotline", name=user.username, jurisdiction=tenant_of_agency(user.agency_code)
        ),
        lang=lang,
    )
    return view


def transfer(
    sessions: sessionmaker[Session],
    remote: RemoteNodes | None,
    user: Principal,
    *,
    request_id: str,
    to_jurisdiction: str,
    note: str,
    lang: str,
) -> tuple[str, str]:
    """Transfer the call: the request and its case go to ``to_jurisdiction``'s agency for
    that service (on this node or the one serving it), keeping the id; (id, city code)."""
    routing.transfer(
        sessions,
        remote,
        request_id=request_id,
        to_jurisdiction=to_jurisdiction,
        note=note,
        by={"username": user.username, "agency": user.agency_code, "badge": user.badge},
        lang=lang,
    )
    return request_id, to_jurisdiction
