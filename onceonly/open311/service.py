"""Open311 service requests: the public service functions both the GeoReport v2 routes and the
1999 hotline call.

A request becomes a case (``cases.open_service_request_case``) in the queue of the agency of
the service's ``agency_kind`` in the request's jurisdiction; its status, notes, responsible
agency and update time are read from that case every time, so the counter's relay,
decide and close show in the GeoReport answer at once. Personal fields (name, e-mail, phone,
device and account ids) are kept on the request row and shown only to the app whose key filed
it and to hotline staff (:meth:`RequestView.public` drops them).

Functions take an open session and never commit. Errors are :class:`~onceonly.errors.Problem`
with field errors; with ``lang=None`` every reason is in both languages, Chinese first (the
GeoReport ``description``), otherwise in ``lang`` (the hotline's page).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import hosted_tenants
from onceonly.cases import service as cases
from onceonly.catalog import service as catalog
from onceonly.catalog.service import AttributeView, ServiceView
from onceonly.db import as_utc, utcnow
from onceonly.domain.roc_date import TAIWAN, roc_year
from onceonly.errors import FieldError, Problem
from onceonly.i18n import t
from onceonly.open311.models import RequestCounter, ServiceRequest
from onceonly.open311.parsing import NOT_IN_XML, ParseError, parse_w3c_datetime

__all__ = [
    "MAX_WINDOW",
    "PERSONAL_FIELDS",
    "Filer",
    "RequestView",
    "ServiceDefinitionView",
    "ServiceView",
    "TokenView",
    "create_request",
    "get_request",
    "list_requests",
    "list_services",
    "mobile_or_none",
    "request_for_case",
    "request_for_token",
    "requests_of_caller",
    "send_notices",
    "served_jurisdictions",
    "service_definition",
    "words",
]

MAX_WINDOW = timedelta(days=90)
"""GeoReport: ``start_date``..``end_date`` spans at most 90 days; no dates: the last 90."""
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000
PERSONAL_FIELDS = ("first_name", "last_name", "email", "phone", "device_id", "account_id")
_OPTIONAL_LIMITS = {
    "address_string": 500,
    "address_id": 120,
    "zipcode": 10,
    "media_url": 2000,
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "phone": 32,
    "device_id": 200,
    "account_id": 200,
}
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()\-#]{5,30}")


def words(key: str, lang: str | None = None, **params: Any) -> str:
    """A message in ``lang``, or with ``lang=None`` Chinese first, then English."""
    if lang is None:
        return f"{t(key, 'zh-TW', **params)} / {t(key, 'en', **params)}"
    return t(key, lang, **params)


def _problem(status: int, kind: str, errors: list[FieldError], lang: str | None) -> Problem:
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    return Problem(status, kind, words(f"open311.problem.{kind}", lang), detail, errors)


def _bad(field: str, key: str, lang: str | None, **params: Any) -> FieldError:
    return FieldError(field, words(key, lang, field=field, **params))


# --- who files and who reads ---------------------------------------------------------------------


@dataclass(frozen=True)
class Filer:
    """Who files or reads: an app by its API key (for one city) or a hotline staff member
    (any city the node serves)."""

    kind: Literal["api_key", "hotline"]
    name: str
    """The app's name, or the staff member's username."""
    api_key_id: int | None = None
    jurisdiction: str | None = None
    """The key's city, or the city whose 1999 hotline the staff member works at."""

    @property
    def filed_by(self) -> str:
        return f"key:{self.api_key_id}" if self.kind == "api_key" else self.name

    def sees_personal(self, row: ServiceRequest) -> bool:
        if self.kind == "hotline":
            return True
        return self.api_key_id is not None and self.api_key_id == row.api_key_id


# --- views -------------------------------------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ServiceDefinitionView(_View):
    service_code: str
    jurisdiction: str
    attributes: tuple[AttributeView, ...]


class RequestView(_View):
    """One service request as GeoReport reports it, with the personal fields (``None`` in
    :meth:`public`)."""

    service_request_id: str
    jurisdiction: str
    service_code: str
    service_name_zh: str
    service_name_en: str
    status: Literal["open", "closed"]
    status_notes: str | None = None
    description: str | None = None
    agency: str | None = None
    agency_responsible: str | None = None
    service_notice_zh: str | None = None
    service_notice_en: str | None = None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    attributes: dict[str, Any] = {}
    token: str
    case_number: str | None = None
    held_by_node: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None

    def public(self) -> RequestView:
        """The view without personal fields, case number or attribute answers (an answer such
        as a plate number may be personal too)."""
        return self.model_copy(
            update={
                **dict.fromkeys(PERSONAL_FIELDS),
                "case_number": None,
                "attributes": {},
            }
        )


class TokenView(_View):
    token: str
    service_request_id: str | None


# --- jurisdictions and services ----------------------------------------------------------------


def served_jurisdictions(session: Session, settings: Any) -> list[str]:
    """The cities and counties this node answers for: those of ``node.json``, or on a
    stand-alone deployment every current local jurisdiction of the catalog."""
    hosted = hosted_tenants(settings)
    if hosted is not None:
        return [code for code in hosted if code != "central"]
    return [
        j.code
        for j in catalog.list_jurisdictions(session)
        if j.kind in ("special_municipality", "county", "city")
    ]


def list_services(session: Session, jurisdiction: str) -> list[ServiceView]:
    """The service types offered in ``jurisdiction``, with its own extensions."""
    return catalog.list_services(session, jurisdiction)


def _service(session: Session, jurisdiction: str, code: str, lang: str | None) -> ServiceView:
    service = catalog.get_service(session, code, jurisdiction)
    if service is None:
        raise _problem(
            404,
            "not-found",
            [_bad("service_code", "open311.error.unknown_service", lang, code=code)],
            lang,
        )
    return service


def service_definition(
    session: Session, jurisdiction: str, code: str, *, lang: str | None = None
) -> ServiceDefinitionView:
    """The attributes a request of ``code`` in ``jurisdiction`` answers; 404 if not offered."""
    service = _service(session, jurisdiction, code, lang)
    return ServiceDefinitionView(
        service_code=service.code, jurisdiction=jurisdiction, attributes=service.attributes
    )


# --- creating ----------------------------------------------------------------------------------


def _text(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(
    fields: Mapping[str, str], name: str, low: float, high: float, errors: list[FieldError],
    lang: str | None,
) -> float | None:  # fmt: skip
    raw = _text(fields, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        errors.append(_bad(name, "open311.error.coordinate", lang, low=low, high=high, value=raw))
        return None
    return value


def _check_attributes(
    service: ServiceView, answers: Mapping[str, Sequence[str]], lang: str | None
) -> tuple[dict[str, Any], list[FieldError]]:
    """The answers checked against the definition: required ones present, list answers among
    the listed keys (one for a singlevaluelist), numbers and datetimes well formed."""
    errors: list[FieldError] = []
    known = {a.code: a for a in service.attributes if a.variable}
    checked: dict[str, Any] = {}
    for code in answers:
        if code not in known:
            errors.append(_bad(f"attribute[{code}]", "open311.error.unknown_attribute", lang))
    for code, attribute in known.items():
        field = f"attribute[{code}]"
        values = [v.strip() for v in answers.get(code, ()) if v.strip()]
        if any(NOT_IN_XML.search(v) for v in values):
            errors.append(_bad(field, "open311.error.control", lang))
            continue
        if not values:
            if attribute.required:
                errors.append(_bad(field, "open311.error.attribute_required", lang))
            continue
        if attribute.datatype in ("singlevaluelist", "multivaluelist"):
            keys = [v.key for v in attribute.values]
            wrong = [v for v in values if v not in keys]
            if wrong:
                errors.append(
                    _bad(
                        field, "open311.error.attribute_value", lang,
                        value=", ".join(wrong), allowed=", ".join(keys),
                    )
                )  # fmt: skip
            elif attribute.datatype == "singlevaluelist" and len(values) > 1:
                errors.append(_bad(field, "open311.error.attribute_single", lang))
            else:
                single = attribute.datatype == "singlevaluelist"
                checked[code] = values[0] if single else list(dict.fromkeys(values))
            continue
        if len(values) > 1:
            errors.append(_bad(field, "open311.error.attribute_single", lang))
            continue
        value = values[0]
        if attribute.datatype == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                errors.append(_bad(field, "open311.error.attribute_number", lang, value=value))
                continue
        elif attribute.datatype == "datetime":
            try:
                parse_w3c_datetime(value)
            except ParseError as exc:
                errors.append(_bad(field, exc.key, lang))
                continue
        if len(value) > MAX_DESCRIPTION:
            errors.append(_bad(field, "open311.error.too_long", lang, limit=MAX_DESCRIPTION))
            continue
        checked[code] = value
    return checked, errors


def _check_fields(
    fields: Mapping[str, str], lang: str | None
) -> tuple[dict[str, Any], list[FieldError]]:
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for name in (*_OPTIONAL_LIMITS, "description"):
        if NOT_IN_XML.search(fields.get(name) or ""):
            errors.append(_bad(name, "open311.error.control", lang))
    if errors:
        return out, errors
    for name, limit in _OPTIONAL_LIMITS.items():
        value = _text(fields, name)
        if value is not None and len(value) > limit:
            errors.append(_bad(name, "open311.error.too_long", lang, limit=limit))
            value = None
        out[name] = value
    description = _text(fields, "description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        errors.append(_bad("description", "open311.error.too_long", lang, limit=MAX_DESCRIPTION))
    out["description"] = description
    out["lat"] = _number(fields, "lat", -90.0, 90.0, errors, lang)
    out["long"] = _number(fields, "long", -180.0, 180.0, errors, lang)
    has_lat, has_long = _text(fields, "lat") is not None, _text(fields, "long") is not None
    if has_lat != has_long:
        missing = "long" if has_lat else "lat"
        errors.append(_bad(missing, "open311.error.coordinate_pair", lang))
    if not (has_lat and has_long) and not out["address_string"] and not out["address_id"]:
        errors.append(_bad("lat", "open311.error.location_required", lang))
    if out["email"]:
        try:
            out["email"] = cases.normalise_email(out["email"])
        except Problem:
            errors.append(_bad("email", "open311.error.email", lang))
    if out["phone"] and not _PHONE_RE.fullmatch(out["phone"]):
        errors.append(_bad("phone", "open311.error.phone", lang))
    if out["media_url"]:
        parts = urlsplit(out["media_url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(_bad("media_url", "open311.error.media_url", lang))
    return out, errors


def _allocate_id(session: Session, jurisdiction: str, moment: datetime) -> str:
    """``<national ID letter or code>-311-<ROC year>-<6 digits>``, from a per-city counter
    whose UPDATE serialises concurrent filers."""
    view = catalog.get_jurisdiction(session, jurisdiction)
    prefix = view.national_id_letter if view and view.national_id_letter else jurisdiction
    prefix = f"{prefix.upper()}-311"[:24]
    year = roc_year(moment.astimezone(TAIWAN).date())
    statement = (
        update(RequestCounter)
        .where(RequestCounter.prefix == prefix, RequestCounter.roc_year == year)
        .values(last=RequestCounter.last + 1)
        .returning(RequestCounter.last)
        .execution_options(synchronize_session=False)
    )
    last = session.execute(statement).scalar()
    if last is None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        seed = insert(RequestCounter).values(prefix=prefix, roc_year=year, last=0)
        session.execute(seed.on_conflict_do_nothing(index_elements=["prefix", "roc_year"]))
        last = session.execute(statement).scalar_one()
    allocated = f"{prefix}-{year:03d}-{last:06d}"
    taken = select(ServiceRequest.id).where(ServiceRequest.service_request_id == allocated)
    if session.scalar(taken) is not None:  # a peer's transfer brought this id: skip it
        return _allocate_id(session, jurisdiction, moment)
    return allocated


def _location_words(values: Mapping[str, Any]) -> str | None:
    if values.get("address_string"):
        return str(values["address_string"])
    if values.get("lat") is not None and values.get("long") is not None:
        return f"{values['lat']:.6f}, {values['long']:.6f}"
    return str(values["address_id"]) if values.get("address_id") else None


def mobile_or_none(phone: str | None) -> str | None:
    """A caller's phone as the mobile number SMS notices go to; ``None`` for a landline."""
    if not phone:
        return None
    try:
        return cases.normalise_mobile(phone)
    except Problem:
        return None


def create_request(
    session: Session,
    *,
    jurisdiction: str,
    service_code: str,
    fields: Mapping[str, str],
    attributes: Mapping[str, Sequence[str]],
    filed_by: Filer,
    now: datetime | None = None,
    lang: str | None = None,
    contact_language: str = "zh-TW",
) -> RequestView:
    """File a request: check it as GeoReport v2 says (location as lat+long, address_string or
    address_id; required attributes; list answers among the keys), allocate its id and open
    its case at the owning agency. ``fields``: the form's other parameters by name."""
    if filed_by.kind == "api_key" and filed_by.jurisdiction != jurisdiction:
        raise _problem(
            403,
            "forbidden",
            [_bad("api_key", "open311.error.key_other_city", lang, jurisdiction=jurisdiction)],
            lang,
        )
    if not service_code.strip():
        raise _problem(
            400, "bad-request", [_bad("service_code", "open311.error.required", lang)], lang
        )
    service = _service(session, jurisdiction, service_code.strip(), lang)
    values, errors = _check_fields(fields, lang)
    answers, attribute_errors = _check_attributes(service, attributes, lang)
    errors += attribute_errors
    if errors:
        raise _problem(400, "bad-request", errors, lang)
    agencies = catalog.list_agencies(session, jurisdiction=jurisdiction, kind=service.agency_kind)
    agency = agencies[0].code
    moment = (now or utcnow()).astimezone(UTC)
    request_id = _allocate_id(session, jurisdiction, moment)
    view = cases.open_service_request_case(
        session,
        agency=agency,
        service_code=service.code,
        service_request_id=request_id,
        opened_by=filed_by.filed_by
        if filed_by.kind == "hotline"
        else f"open311:{filed_by.name}"[:64],
        description=values["description"],
        location=_location_words(values),
        contact_email=values["email"],
        contact_mobile=mobile_or_none(values["phone"]),
        contact_language=contact_language,
        now=moment,
        lang=lang,
    )
    row = ServiceRequest(
        service_request_id=request_id,
        jurisdiction=jurisdiction,
        service_code=service.code,
        case_number=view.number,
        held_by_node=None,
        token=secrets.token_hex(16),
        api_key_id=filed_by.api_key_id,
        filed_by=filed_by.filed_by[:120],
        filed_in=filed_by.jurisdiction,
        attributes=answers,
        requested_at=moment,
        updated_at=moment,
        expected_at=moment + timedelta(days=service.expected_days),
        **values,
    )
    session.add(row)
    session.flush()
    return _views(session, [row], filed_by)[0]


# --- reading -----------------------------------------------------------------------------------


def _views(
    session: Session, rows: Sequence[ServiceRequest], viewer: Filer | None
) -> list[RequestView]:
    held = cases.service_request_cases(
        session, [r.service_request_id for r in rows if r.case_number is not None]
    )
    services = {s.code: s for s in catalog.list_services(session)}
    views = []
    for row in rows:
        case = held.get(row.service_request_id)
        service = services.get(row.service_code)
        status: Literal["open", "closed"] = "open"
        notes = agency_name = None
        updated = as_utc(row.updated_at)
        if case is not None:
            status = "closed" if case.state in ("decided", "closed") else "open"
            notes = case.decision_reason if status == "closed" else None
            agency = catalog.get_agency(session, case.agency)
            agency_name = agency.name_zh if agency else case.agency
            updated = max(updated, case.updated_at)
        days = service.expected_days if service else None
        view = RequestView(
            service_request_id=row.service_request_id,
            jurisdiction=row.jurisdiction,
            service_code=row.service_code,
            service_name_zh=service.name_zh if service else row.service_code,
            service_name_en=service.name_en if service else row.service_code,
            status=status,
            status_notes=notes,
            description=row.description,
            agency=case.agency if case else None,
            agency_responsible=agency_name,
            service_notice_zh=t("open311.notice.expected", "zh-TW", days=days) if days else None,
            service_notice_en=t("open311.notice.expected", "en", days=days) if days else None,
            requested_datetime=as_utc(row.requested_at),
            updated_datetime=updated,
            expected_datetime=as_utc(row.expected_at) if row.expected_at else None,
            address=row.address_string,
            address_id=row.address_id,
            zipcode=row.zipcode,
            lat=row.lat,
            long=row.long,
            media_url=row.media_url,
            attributes=dict(row.attributes or {}),
            token=row.token,
            case_number=row.case_number,
            held_by_node=row.held_by_node,
            **{name: getattr(row, name) for name in PERSONAL_FIELDS},
        )
        views.append(view if viewer is not None and viewer.sees_personal(row) else view.public())
    return views


def list_requests(
    session: Session,
    *,
    jurisdiction: str,
    ids: Sequence[str] | None = None,
    service_codes: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: Sequence[str] | None = None,
    viewer: Filer | None = None,
    now: datetime | None = None,
    lang: str | None = None,
) -> list[RequestView]:
    """Requests of ``jurisdiction``, newest first, at most 1000. ``ids`` overrides every other
    filter; otherwise requested between ``start`` and ``end`` (at most 90 days apart; neither:
    the last 90 days), of ``service_codes``, in ``statuses`` (open/closed)."""
    query = select(ServiceRequest).where(ServiceRequest.jurisdiction == jurisdiction)
    if ids:
        query = query.where(ServiceRequest.service_request_id.in_(list(ids)))
        rows = list(session.scalars(query.order_by(ServiceRequest.requested_at.desc())))
        return _views(session, rows, viewer)
    errors: list[FieldError] = []
    for status in statuses or ():
        if status not in ("open", "closed"):
            errors.append(_bad("status", "open311.error.status", lang, value=status))
    moment = (now or utcnow()).astimezone(UTC)
    if start is None and end is None:
        start, end = moment - MAX_WINDOW, None
    elif start is not None and end is not None:
        if end < start:
            errors.append(_bad("end_date", "open311.error.end_before_start", lang))
        elif end - start > MAX_WINDOW:
            errors.append(_bad("end_date", "open311.error.window", lang, days=MAX_WINDOW.days))
    elif end is not None:
        start = end - MAX_WINDOW
    elif start is not None and moment - start > MAX_WINDOW:
        end = start + MAX_WINDOW
    if errors:
        raise _problem(400, "bad-request", errors, lang)
    if start is not None:
        query = query.where(ServiceRequest.requested_at >= start)
    if end is not None:
        query = query.where(ServiceRequest.requested_at <= end)
    if service_codes:
        query = query.where(ServiceRequest.service_code.in_(list(service_codes)))
    rows = list(
        session.scalars(
            query.order_by(ServiceRequest.requested_at.desc(), ServiceRequest.id.desc())
        )
    )
    views = _views(session, rows, viewer)
    if statuses:
        views = [v for v in views if v.status in statuses]
    return views[:MAX_RESULTS]


def get_request(
    session: Session,
    jurisdiction: str,
    service_request_id: str,
    viewer: Filer | None = None,
    *,
    lang: str | None = None,
) -> RequestView:
    """One request of ``jurisdiction`` by id, or 404."""
    row = session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.service_request_id == service_request_id.strip(),
            ServiceRequest.jurisdiction == jurisdiction,
        )
    )
    if row is None:
        raise _problem(
            404,
            "not-found",
            [
                _bad(
                    "service_request_id",
                    "open311.error.unknown_request",
                    lang,
                    id=service_request_id,
                )
            ],
            lang,
        )
    return _views(session, [row], viewer)[0]


def request_for_token(
    session: Session, jurisdiction: str, token: str, *, lang: str | None = None
) -> TokenView:
    """The id a token stands for (``None`` while another node has not yet allocated it)."""
    row = session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.token == token.strip(), ServiceRequest.jurisdiction == jurisdiction
        )
    )
    if row is None:
        raise _problem(404, "not-found", [_bad("token", "open311.error.unknown_token", lang)], lang)
    return TokenView(token=row.token, service_request_id=row.service_request_id or None)


def requests_of_caller(
    session: Session,
    *,
    phone: str | None = None,
    email: str | None = None,
    city: str,
    limit: int = 50,
) -> list[RequestView]:
    """A caller's earlier requests for ``city`` or filed by its hotline (held here or pointing
    at another node), newest first, with their personal fields: for that city's 1999 staff.
    Another city on the same node is another government; its callers are not shown."""
    conditions = []
    if phone and phone.strip():
        conditions.append(ServiceRequest.phone == phone.strip())
        mobile = mobile_or_none(phone)
        if mobile:
            conditions.append(ServiceRequest.phone == mobile)
    if email and email.strip():
        conditions.append(ServiceRequest.email == email.strip())
    if not conditions:
        return []
    rows = list(
        session.scalars(
            select(ServiceRequest)
            .where(
                or_(*conditions),
                or_(ServiceRequest.jurisdiction == city, ServiceRequest.filed_in == city),
            )
            .order_by(ServiceRequest.requested_at.desc(), ServiceRequest.id.desc())
            .limit(limit)
        )
    )
    return _views(session, rows, Filer(kind="hotline", name="hotline"))


def send_notices(app_state: Any, settings: Any, view: RequestView) -> None:
    """After the request committed: send the filer the case's "opened" e-mail/SMS (the
    case's own notices; failures stay queued for the retry job, as for every case)."""
    if view.case_number is None:
        return
    from onceonly.cases.notifications import deliver_pending
    from onceonly.cases.steps import sms_provider

    deliver_pending(
        app_state.sessions, settings, sms_provider(app_state), case_number=view.case_number
    )


def request_for_case(
    session: Session, service_request_id: str, lang: str = "zh-TW"
) -> tuple[RequestView, list[tuple[str, str]]] | None:
    """The request a case handles, with its personal fields (for the clerks handling the
    case), and its attribute answers as (question, answer) in words."""
    row = session.scalar(
        select(ServiceRequest).where(ServiceRequest.service_request_id == service_request_id)
    )
    if row is None:
        return None
    view = _views(session, [row], Filer(kind="hotline", name="case"))[0]
    en = lang == "en"
    definition = catalog.get_service(session, row.service_code)
    extra = catalog.get_service(session, row.service_code, row.jurisdiction)
    questions = {a.code: a for a in (extra or definition).attributes} if definition else {}
    answers: list[tuple[str, str]] = []
    for code, value in (row.attributes or {}).items():
        attribute = questions.get(code)
        if attribute is None:
            answers.append((code, ", ".join(value) if isinstance(value, list) else str(value)))
            continue
        names = {v.key: (v.name_en if en else v.name_zh) for v in attribute.values}
        values = value if isinstance(value, list) else [value]
        answers.append(
            (
                attribute.description_en if en else attribute.description_zh,
                ("、" if not en else ", ").join(names.get(str(v), str(v)) for v in values),
            )
        )
    return view, answers
