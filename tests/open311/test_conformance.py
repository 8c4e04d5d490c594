"""GeoReport v2 over HTTP, compared with the specification's own documented examples: element
names and their order, root and item elements, JSON keys, content types, the error format."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.config import Settings
from onceonly.open311 import keys
from onceonly.open311.routes import render
from onceonly.web.app import create_app

EXAMPLES = Path(__file__).parent / "spec_examples"
BASE = "/open311/v2"
TPE = {"jurisdiction_id": "taipei-city"}


def spec_xml(name: str) -> ET.Element:
    return ET.fromstring((EXAMPLES / name).read_bytes())


def spec_json(name: str) -> Any:
    text = (EXAMPLES / name).read_text("utf-8")
    return json.loads(re.sub(r'(":)(0\d+)(?=\s*[,}\]])', r'\1"\2"', text))


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api_key(sessions: sessionmaker[Session]) -> str:
    with sessions() as db:
        _, plain = keys.issue_key(
            db, jurisdiction="taipei-city", app_name="街道通 StreetFix", issued_by="tpe-admin"
        )
        db.commit()
    return plain


def _post(client: TestClient, fmt: str, api_key: str, **extra: str) -> Any:
    """The specification's example POST body, with our key, city, service and attributes."""
    pairs = [
        (k, v)
        for k, v in parse_qsl((EXAMPLES / "post_request.txt").read_text().splitlines()[-1])
        if not k.startswith("attribute[")
    ]
    body = dict(pairs) | {"api_key": api_key, "service_code": "pothole", **TPE} | extra
    form = [
        *list(body.items()),
        ("attribute[size]", "medium"),
        ("attribute[lane][]", "fast"),
        ("attribute[lane][]", "slow"),
    ]
    return client.post(
        f"{BASE}/requests.{fmt}",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


def test_xml_content_type_and_declaration(client: TestClient) -> None:
    answer = client.get(f"{BASE}/services.xml", params=TPE)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    assert answer.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    json_answer = client.get(f"{BASE}/services.json", params=TPE)
    assert json_answer.headers["content-type"] == "application/json; charset=utf-8"


def test_discovery_matches_the_example(client: TestClient) -> None:
    ours = ET.fromstring(client.get(f"{BASE}/discovery.xml").content)
    spec = spec_xml("discovery.xml")
    assert ours.tag == spec.tag and children(ours) == children(spec)
    endpoint, spec_endpoint = ours.find("endpoints/endpoint"), spec.find("endpoints/endpoint")
    assert endpoint is not None and spec_endpoint is not None
    assert children(endpoint) == children(spec_endpoint)
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.iter("format")] == ["text/xml", "application/json"]
    as_json = client.get(f"{BASE}/discovery.json").json()
    assert list(as_json) == list(spec_json("discovery.json"))
    assert list(as_json["endpoints"][0]) == list(spec_json("discovery.json")["endpoints"][0])


def test_services_match_the_example(client: TestClient) -> None:
    ours = ET.fromstring(client.get(f"{BASE}/services.xml", params=TPE).content)
    spec = spec_xml("services.xml")
    assert ours.tag == "services" and {c.tag for c in ours} == {"service"}
    assert children(ours[0]) == children(spec[0])
    codes = [s.findtext("service_code") for s in ours]
    assert "pothole" in codes and "dengue-breeding-site" not in codes
    pothole = ours[codes.index("pothole")]
    assert pothole.findtext("service_name") == "道路坑洞 / Pothole"
    assert pothole.findtext("metadata") == "true" and pothole.findtext("group") == "streets"
    as_json = client.get(f"{BASE}/services.json", params=TPE).json()
    assert next(list(s) for s in as_json) == list(spec_json("services.json")[0])
    assert as_json[0]["metadata"] is True


def test_service_definition_matches_the_example(client: TestClient) -> None:
    ours = ET.fromstring(client.get(f"{BASE}/services/pothole.xml", params=TPE).content)
    spec = spec_xml("service_definition.xml")
    assert ours.tag == spec.tag and children(ours) == children(spec)
    spec_attribute = spec.find("attributes/attribute")
    assert spec_attribute is not None
    attributes = ours.findall("attributes/attribute")
    assert [children(a) for a in attributes] == [children(spec_attribute)] * len(attributes)
    size = attributes[0]
    assert size.findtext("code") == "size" and size.findtext("required") == "true"
    assert next(children(v) for v in size.iter("value")) == ["key", "name"]
    # Taipei's own extra attribute is asked in Taipei only.
    assert attributes[-1].findtext("code") == "dig_permit_number"
    tainan = client.get(
        f"{BASE}/services/pothole.json", params={"jurisdiction_id": "tainan-city"}
    ).json()
    assert "dig_permit_number" not in [a["code"] for a in tainan["attributes"]]
    as_json = client.get(f"{BASE}/services/pothole.json", params=TPE).json()
    spec_json_definition = spec_json("service_definition.json")
    assert list(as_json) == list(spec_json_definition)
    assert list(as_json["attributes"][0]) == list(spec_json_definition["attributes"][0])
    assert list(as_json["attributes"][0]["values"][0]) == ["key", "name"]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_post_the_examples_request_and_read_it_back(
    client: TestClient, api_key: str, fmt: str
) -> None:
    answer = _post(client, fmt, api_key)
    assert answer.status_code == 200, answer.text
    if fmt == "xml":
        created = ET.fromstring(answer.content)
        assert created.tag == "service_requests"
        assert children(created[0]) == children(spec_xml("post_response.xml")[0])
        request_id = created[0].findtext("service_request_id")
        assert created[0].findtext("account_id") == "123456"
    else:
        body = answer.json()
        assert list(body[0]) == list(spec_json("post_response.json")[0])
        request_id = body[0]["service_request_id"]
    assert request_id and re.fullmatch(r"A-311-\d{3}-\d{6}", request_id)
    one = client.get(f"{BASE}/requests/{request_id}.xml", params=TPE)
    spec_request = spec_xml("request.xml")
    read = ET.fromstring(one.content)
    assert read.tag == spec_request.tag
    assert children(read[0]) == children(spec_request[0])
    assert read[0].findtext("status") == "open"
    assert read[0].findtext("agency_responsible") == "臺北市政府工務局"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", read[0].findtext("requested_datetime") or ""
    )
    listed = client.get(f"{BASE}/requests.json", params=TPE | {"service_request_id": request_id})
    assert [list(r) for r in listed.json()] == [list(spec_json("requests.json")[0])]


def test_tokens_answer_like_the_example(client: TestClient, api_key: str) -> None:
    _post(client, "json", api_key)
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        from onceonly.open311.models import ServiceRequest

        token = db.query(ServiceRequest.token).scalar()
    ours = ET.fromstring(client.get(f"{BASE}/tokens/{token}.xml", params=TPE).content)
    spec = spec_xml("token.xml")
    assert ours.tag == spec.tag and children(ours[0]) == children(spec[0])
    as_json = client.get(f"{BASE}/tokens/{token}.json", params=TPE).json()
    assert list(as_json[0]) == list(spec_json("token.json")[0])


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_errors_have_the_specifications_shape(client: TestClient, fmt: str) -> None:
    refused = _post(client, fmt, "o311_not-a-key")
    assert refused.status_code == 403
    if fmt == "xml":
        errors = ET.fromstring(refused.content)
        spec = spec_xml("error_403.xml")
        assert errors.tag == spec.tag and children(errors[0]) == children(spec[0])
        assert errors[0].findtext("code") == "403"
        description = errors[0].findtext("description") or ""
    else:
        body = refused.json()
        assert list(body[0]) == list(spec_json("error_403.json")[0])
        assert body[0]["code"] == 403
        description = body[0]["description"]
    assert "api_key" in description and "無效" in description.split(" / ")[0]
    unknown = client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": "sfgov.org"})
    assert unknown.status_code == 404
    missing = client.get(f"{BASE}/services.{fmt}")
    assert missing.status_code == 400
    text = missing.text
    assert "jurisdiction_id" in text and "必填" in text


def test_bad_input_is_400_naming_the_field(client: TestClient, api_key: str) -> None:
    no_location = client.post(
        f"{BASE}/requests.json",
        data={"api_key": api_key, "service_code": "pothole", "attribute[size]": "small", **TPE},
    )
    assert no_location.status_code == 400
    assert "address_string" in no_location.json()[0]["description"]
    bad_date = client.get(f"{BASE}/requests.json", params=TPE | {"start_date": "2026-13-01"})
    assert bad_date.status_code == 400 and "start_date" in bad_date.json()[0]["description"]
    wide = client.get(
        f"{BASE}/requests.json",
        params=TPE | {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
    )
    assert wide.status_code == 400 and "end_date" in wide.json()[0]["description"]
    for name, value in (("start_date", "0001"), ("end_date", "0001-01-05"),
                        ("start_date", "9999-12-31T23:59:59-12:00")):  # fmt: skip
        edge = client.get(f"{BASE}/requests.json", params=TPE | {name: value})
        assert edge.status_code == 400 and name in edge.json()[0]["description"]  # was a 500
    many = ",".join(f"A-311-115-{i:06d}" for i in range(101))
    too_many = client.get(f"{BASE}/requests.json", params=TPE | {"service_request_id": many})
    assert too_many.status_code == 400  # MAX_IDS was declared and never enforced
    assert "service_request_id" in too_many.json()[0]["description"]
    unknown_service = client.get(f"{BASE}/services/nonesuch.xml", params=TPE)
    assert unknown_service.status_code == 404
    assert b"service_code" in unknown_service.content
    as_json_body = client.post(f"{BASE}/requests.json", json={"api_key": api_key})
    assert as_json_body.status_code == 400
    # the entrance limits keyless reads by the first api_key, the app would have read the last
    twice = client.get(
        f"{BASE}/requests.json", params=[*TPE.items(), ("api_key", api_key), ("api_key", "")]
    )
    assert twice.status_code == 400 and "api_key" in twice.json()[0]["description"]


def test_xml_escapes_what_people_typed(client: TestClient, api_key: str) -> None:
    nasty = '<b>坑</b> & "quotes" ]]> <!--'
    created = _post(client, "json", api_key, description=nasty).json()[0]
    read = client.get(f"{BASE}/requests/{created['service_request_id']}.xml", params=TPE)
    assert ET.fromstring(read.content)[0].findtext("description") == nasty


def test_control_characters_never_break_the_xml(client: TestClient, api_key: str) -> None:
    """One description with U+0001 made every .xml listing of the city malformed (#21 review):
    refused on the way in, naming the field, and replaced on the way out."""
    for field in ("description", "first_name", "attribute[size]"):
        refused = _post(client, "xml", api_key, **{field: "坑\x01洞"})
        assert refused.status_code == 400, field
        assert field in ET.fromstring(refused.content).findtext("error/description", "")
    page = render("xml", "service_requests", "request", [{"description": "a\x1bb\ud800"}])
    assert ET.fromstring(page.body)[0].findtext("description") == "a\ufffdb\ufffd"
