"""The public service functions of open311: create, list, read, tokens, the case behind it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from onceonly.cases import service as cases
from onceonly.cases.service import CaseActor
from onceonly.errors import Problem
from onceonly.open311 import service
from onceonly.open311.service import PERSONAL_FIELDS, Filer
from tests.open311.conftest import T0

APP = Filer(kind="api_key", name="街道通", api_key_id=None, jurisdiction="taipei-city")
HOTLINE = Filer(kind="hotline", name="hotline-1")
PWD = CaseActor("pwd-clerk", "taipei-city.public_works", "clerk", "P1")
PERSONAL = {
    "first_name": "小明",
    "last_name": "王",
    "email": "ming@example.tw",
    "phone": "0912345678",
    "device_id": "dev-1",
    "account_id": "acct-9",
}


def _file(db: Session, filer: Filer = HOTLINE, **extra: str) -> service.RequestView:
    fields = {"lat": "25.0375", "long": "121.5637", "description": "路燈整晚不亮", **PERSONAL}
    fields.update(extra)
    return service.create_request(
        db,
        jurisdiction="taipei-city",
        service_code="streetlight-out",
        fields=fields,
        attributes={"light_state": ["dark"], "pole_number": ["0123-456"]},
        filed_by=filer,
        now=T0,
    )


def test_services_per_city_with_extensions(db: Session) -> None:
    taipei = {s.code: s for s in service.list_services(db, "taipei-city")}
    tainan = {s.code: s for s in service.list_services(db, "tainan-city")}
    assert {"streetlight-out", "pothole", "illegal-parking", "noise", "garbage"} <= set(taipei)
    assert "dengue-breeding-site" in tainan and "dengue-breeding-site" not in taipei
    assert "dig_permit_number" in [a.code for a in taipei["pothole"].attributes]
    assert "dig_permit_number" not in [a.code for a in tainan["pothole"].attributes]
    definition = service.service_definition(db, "taipei-city", "pothole")
    assert [a.order for a in definition.attributes] == [1, 2, 3]
    with pytest.raises(Problem) as caught:
        service.service_definition(db, "taipei-city", "dengue-breeding-site")
    assert caught.value.status == 404


def test_create_opens_a_case_at_the_owning_agency(db: Session) -> None:
    view = _file(db)
    assert view.service_request_id == "A-311-115-000001"
    assert view.status == "open" and view.agency == "taipei-city.public_works"
    assert view.agency_responsible == "臺北市政府工務局"
    assert view.expected_datetime == T0 + timedelta(days=3)
    case = cases.get_case(db, PWD, view.case_number or "")
    assert case.subject is None and case.service_request_id == view.service_request_id
    assert case.subject_masked == view.service_request_id
    assert _file(db).service_request_id == "A-311-115-000002"


def test_the_citizen_is_told_their_reports_reference_not_about_certificates(db: Session) -> None:
    """The acknowledgement of a report said the clerk would fetch the citizen's certificates
    online, and quoted the internal case number, not the id the citizen was given."""
    from sqlalchemy import select

    from onceonly.cases.models import Notification

    view = _file(db)
    sent = db.scalars(select(Notification).order_by(Notification.id)).all()
    assert {n.channel for n in sent} == {"email", "sms"}
    for message in sent:
        assert view.service_request_id in message.subject + message.body
        assert (view.case_number or "?") not in message.subject + message.body
        assert "不必再提供書證" not in message.body and "免附書證" not in message.body
        assert "路燈" in message.body
    assert sent[0].subject == f"【案件受理通知】編號 {view.service_request_id}"


def test_status_follows_the_case(db: Session) -> None:
    view = _file(db)
    cases.decide_case(db, PWD, view.case_number or "", "approved", "已更換燈泡", now=T0)
    after = service.get_request(db, "taipei-city", view.service_request_id)
    assert after.status == "closed" and after.status_notes == "已更換燈泡"
    assert after.updated_datetime >= T0


def test_relay_keeps_the_id_and_names_the_new_agency(db: Session) -> None:
    view = _file(db)
    cases.relay_case(db, PWD, view.case_number or "", "taipei-city.police", "路燈遭車撞毀", now=T0)
    after = service.get_request(db, "taipei-city", view.service_request_id)
    assert after.service_request_id == view.service_request_id
    assert after.agency_responsible == "臺北市政府警察局" and after.status == "open"


def test_personal_fields_only_for_the_filer_and_hotline(db: Session) -> None:
    view = _file(db)
    for public in (
        service.get_request(db, "taipei-city", view.service_request_id),
        *service.list_requests(db, jurisdiction="taipei-city", now=T0),
        *service.list_requests(db, jurisdiction="taipei-city", ids=[view.service_request_id]),
        service.get_request(db, "taipei-city", view.service_request_id, viewer=APP),
    ):
        assert all(getattr(public, name) is None for name in PERSONAL_FIELDS)
    staff = service.get_request(db, "taipei-city", view.service_request_id, viewer=HOTLINE)
    assert staff.phone == "0912345678" and staff.email == "ming@example.tw"
    earlier = service.requests_of_caller(db, phone="0912-345-678", city="taipei-city")
    assert [r.service_request_id for r in earlier] == [view.service_request_id]


def test_a_hotline_finds_its_own_citys_callers_only(db: Session) -> None:
    """Cities sharing a node are separate governments: 新北市's 1999 does not see who called
    臺北市's; a request 臺北市's 1999 filed for 新北市 is found by both."""
    taipei = _file(db)
    for_new_taipei = service.create_request(
        db,
        jurisdiction="new-taipei-city",
        service_code="streetlight-out",
        fields={"lat": "25.01", "long": "121.46", "description": "路燈不亮", **PERSONAL},
        attributes={"light_state": ["dark"]},
        filed_by=Filer(kind="hotline", name="tpe-hotline-clerk", jurisdiction="taipei-city"),
        now=T0,
    )
    found = {
        city: [
            r.service_request_id
            for r in service.requests_of_caller(db, phone="0912345678", city=city)
        ]
        for city in ("taipei-city", "new-taipei-city", "keelung-city")
    }
    assert sorted(found["taipei-city"]) == sorted(
        [taipei.service_request_id, for_new_taipei.service_request_id]
    )
    assert found["new-taipei-city"] == [for_new_taipei.service_request_id]
    assert found["keelung-city"] == []


def test_validation_names_each_field(db: Session) -> None:
    with pytest.raises(Problem) as caught:
        service.create_request(
            db,
            jurisdiction="taipei-city",
            service_code="pothole",
            fields={"lat": "95", "email": "not-an-address", "media_url": "ftp://x"},
            attributes={"size": ["huge"], "lane": ["fast", "nowhere"], "colour": ["red"]},
            filed_by=HOTLINE,
        )
    fields = {e.field for e in caught.value.errors}
    assert caught.value.status == 400
    assert {"lat", "long", "email", "media_url", "attribute[size]", "attribute[lane]"} <= fields
    assert "attribute[colour]" in fields
    assert all(" / " in e.reason for e in caught.value.errors)  # Chinese first, then English
    with pytest.raises(Problem) as missing:
        service.create_request(
            db, jurisdiction="taipei-city", service_code="pothole", fields={},
            attributes={}, filed_by=HOTLINE,
        )  # fmt: skip
    reasons = " ".join(e.reason for e in missing.value.errors)
    assert "address_string" in reasons and "attribute[size]" in reasons


def test_a_key_files_only_in_its_own_city(db: Session) -> None:
    other = Filer(kind="api_key", name="app", api_key_id=None, jurisdiction="new-taipei-city")
    with pytest.raises(Problem) as caught:
        _file(db, filer=other)
    assert caught.value.status == 403


def test_list_filters_and_window(db: Session) -> None:
    first = _file(db)
    later = service.create_request(
        db, jurisdiction="taipei-city", service_code="noise",
        fields={"address_string": "臺北市信義區市府路1號"}, attributes={"source": ["construction"]},
        filed_by=HOTLINE, now=T0 + timedelta(days=1),
    )  # fmt: skip
    listed = service.list_requests(db, jurisdiction="taipei-city", now=T0 + timedelta(days=2))
    assert [r.service_request_id for r in listed] == [
        later.service_request_id,
        first.service_request_id,
    ]
    only_noise = service.list_requests(
        db, jurisdiction="taipei-city", service_codes=["noise"], now=T0 + timedelta(days=2)
    )
    assert [r.service_code for r in only_noise] == ["noise"]
    assert service.list_requests(db, jurisdiction="taipei-city", now=T0 + timedelta(days=200)) == []
    with pytest.raises(Problem) as wide:
        service.list_requests(db, jurisdiction="taipei-city", start=T0, end=T0 + timedelta(days=91))
    assert [e.field for e in wide.value.errors] == ["end_date"]
    closed = service.list_requests(
        db, jurisdiction="taipei-city", statuses=["closed"], now=T0 + timedelta(days=2)
    )
    assert closed == []
    token = service.request_for_token(db, "taipei-city", first.token)
    assert token.service_request_id == first.service_request_id
