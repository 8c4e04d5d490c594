"""A maintained third-party Open311 client from PyPI (``georeport`` 0.3.1: requests and
xmltodict) drives the interface end to end over a real socket, in JSON and in XML; requests
are created with plain httpx form posts, as an app would."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from georeport import GeoReport
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases import service as cases
from onceonly.cases.service import CaseActor
from onceonly.config import Settings
from onceonly.demo.ports import free_port
from onceonly.open311 import keys
from onceonly.web.app import create_app

PWD = CaseActor("pwd-clerk", "taipei-city.public_works", "clerk", "P1")


@pytest.fixture
def base_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app on a loopback port in a thread, stopped after the test."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), "127.0.0.1", port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/open311/v2"
    server.should_exit = True
    thread.join(10)


def _as_list(value: Any) -> list[Any]:
    """xmltodict gives one repeated element as a dict, several as a list."""
    return value if isinstance(value, list) else [value]


def test_georeport_client_reads_what_httpx_filed(
    base_url: str, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        _, api_key = keys.issue_key(
            db, jurisdiction="taipei-city", app_name="georeport-test", issued_by="tpe-admin"
        )
        db.commit()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        created = http.post(
            "/requests.json",
            data={
                "api_key": api_key,
                "jurisdiction_id": "taipei-city",
                "service_code": "pothole",
                "lat": "25.0330",
                "long": "121.5654",
                "description": "信義路五段坑洞 & 積水",
                "attribute[size]": "large",
                "attribute[lane][]": ["fast", "slow"],
                "email": "reporter@example.tw",
            },
        )
        assert created.status_code == 200, created.text
        pothole_id = created.json()[0]["service_request_id"]
        second = http.post(
            "/requests.xml",
            data={
                "api_key": api_key,
                "jurisdiction_id": "taipei-city",
                "service_code": "garbage",
                "address_string": "臺北市中正區重慶南路一段122號",
                "attribute[waste_kind][]": ["bulky"],
            },
        )
        assert second.status_code == 200, second.text
        assert second.headers["content-type"] == "text/xml; charset=utf-8"
    with sessions() as db:
        number = cases.service_request_cases(db, [pothole_id])[pothole_id].number
        cases.decide_case(db, PWD, number, "approved", "已於當日填補")
        db.commit()

    for fmt in ("json", "xml"):
        client = GeoReport(base_url, jurisdiction="taipei-city", output_format=fmt)
        services = _as_list(client.get_service_list())
        by_code = {s["service_code"]: s for s in services}
        assert by_code["pothole"]["service_name"] == "道路坑洞 / Pothole"
        assert str(by_code["pothole"]["metadata"]).lower() == "true"
        definition = client.get_service_definition("pothole")
        attributes = definition["attributes"]
        attributes = _as_list(attributes["attribute"] if fmt == "xml" else attributes)
        assert [a["code"] for a in attributes] == ["size", "lane", "dig_permit_number"]
        assert str(attributes[0]["required"]).lower() == "true"
        listed = _as_list(client.get_service_requests(service_code="pothole,garbage"))
        assert {r["service_code"] for r in listed} == {"pothole", "garbage"}
        assert all("email" not in r for r in listed)
        one = client.get_service_request(pothole_id)
        if fmt == "xml":
            one = _as_list(one)[0]
        assert one["service_request_id"] == pothole_id
        assert one["status"] == "closed" and one["status_notes"] == "已於當日填補"
        assert one["description"] == "信義路五段坑洞 & 積水"
        assert one["agency_responsible"] == "臺北市政府工務局"
        only_open = _as_list(client.get_service_requests(status="open"))
        assert [r["service_code"] for r in only_open] == ["garbage"]
