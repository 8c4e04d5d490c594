"""Open311 requests across nodes (#21): a 1999 filing at 臺北市's node for 基隆市 (served by
the regional node) is numbered and held there, found and read from 臺北市; a transfer to
基隆市 moves the case there keeping its id; the peer calls are refused unsigned, replayed, or
about a city the node does not serve; a node that is down is said to be down."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases import service as cases
from onceonly.cases.models import Case
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.federated.open311_seed import CALLER_PHONE, seed_routed_request
from onceonly.federation.remote import RemoteNodes, connect
from onceonly.federation.signing import HEADER
from onceonly.open311 import federation as routing
from onceonly.open311 import keys
from onceonly.open311 import service as open311
from onceonly.open311.models import ServiceRequest
from tests.federation.conftest import Federation, credentials, peer_client

CALLER = {"phone": "0911222333", "email": "kee-caller@example.tw"}


def _filing(city: str) -> dict[str, str]:
    return {
        "jurisdiction": city,
        "service_code": "streetlight-out",
        "description": "路燈整晚不亮",
        "address_string": "基隆市仁愛區愛一路1號" if city == "keelung-city" else "臺北市中正區1號",
        "attribute[light_state]": "dark",
        "last_name": "陳",
        **CALLER,
    }


@pytest.fixture(scope="module")
def nodes(pair: Federation) -> Iterator[dict[str, sessionmaker[Session]]]:
    engines = {
        name: make_engine(pair.layout.node(name).settings.resolved_database_url)
        for name in ("taipei", "north-regional")
    }
    yield {name: make_session_factory(engine) for name, engine in engines.items()}
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(scope="module")
def remote(pair: Federation) -> Iterator[RemoteNodes]:
    """臺北市's way to the other nodes, as its app has it."""
    made = connect(pair.layout.node("taipei").settings, set())
    assert made is not None
    yield made
    made.close()


def _page(
    pair: Federation, node: str, user: str, method: str, path: str, **kw: Any
) -> httpx.Response:
    return httpx.request(
        method,
        pair.layout.node(node).url + path,
        headers={"Authorization": f"Bearer {pair.token(node, user)}", "Accept": "text/html"},
        timeout=30,
        **kw,
    )


def _file(pair: Federation, city: str) -> str:
    filed = _page(
        pair, "taipei", "tpe-hotline-clerk", "POST", "/hotline/requests", data=_filing(city)
    )
    assert filed.status_code == 303, filed.text[-1500:]
    found = re.search(r"filed=([A-Z]-311-\d{3}-\d{6})", filed.headers["location"])
    assert found, filed.headers["location"]
    return found.group(1)


def _row(sessions: sessionmaker[Session], request_id: str) -> ServiceRequest:
    with sessions() as db:
        row = db.scalar(
            select(ServiceRequest).where(ServiceRequest.service_request_id == request_id)
        )
        assert row is not None
        db.expunge(row)
        return row


def _case(sessions: sessionmaker[Session], request_id: str) -> Case | None:
    with sessions() as db:
        case = db.scalar(select(Case).where(Case.service_request_id == request_id))
        if case is not None:
            db.expunge(case)
        return case


def _fresh(
    nodes: dict[str, sessionmaker[Session]], remote: RemoteNodes, request_id: str, city: str
) -> open311.RequestView:
    with nodes["taipei"]() as db:
        view = open311.get_request(db, city, request_id, open311.Filer("hotline", "t"))
    (fresh,) = routing.fresh_views(remote, [view], cache=None)
    return fresh


def _transfer_to_keelung(pair: Federation, request_id: str) -> None:
    """臺北市's 1999 moves its call to 基隆市 (on the regional node)."""
    moved = _page(
        pair,
        "taipei",
        "tpe-hotline-clerk",
        "POST",
        f"/hotline/requests/{request_id}/transfer",
        data={"to_jurisdiction": "keelung-city", "note": "燈桿在基隆市境內", **CALLER},
    )
    assert moved.status_code == 303, moved.text[-1500:]


def test_a_filing_for_another_nodes_city_is_held_there_and_read_from_here(
    pair: Federation, nodes: dict[str, sessionmaker[Session]], remote: RemoteNodes
) -> None:
    chosen = _page(
        pair,
        "taipei",
        "tpe-hotline-clerk",
        "GET",
        "/hotline?jurisdiction=keelung-city&service=streetlight-out",
    )
    assert "基隆市由「北北基宜區域節點" in chosen.text and "請記下燈桿上的編號" in chosen.text

    request_id = _file(pair, "keelung-city")
    assert request_id.startswith("C-311-")  # numbered by the node holding 基隆市
    held = _row(nodes["north-regional"], request_id)
    assert held.held_by_node is None and held.case_number and held.jurisdiction == "keelung-city"
    case = _case(nodes["north-regional"], request_id)
    assert case is not None and case.agency == "keelung-city.public_works"
    assert case.opened_by == "taipei/tpe-hotline-clerk"
    pointer = _row(nodes["taipei"], request_id)
    assert pointer.held_by_node == "north-regional" and pointer.case_number is None
    assert pointer.phone == CALLER["phone"] and pointer.token == held.token
    assert _case(nodes["taipei"], request_id) is None

    found = _page(
        pair, "taipei", "tpe-hotline-clerk", "GET", "/hotline", params={"phone": CALLER["phone"]}
    )
    assert found.status_code == 200 and "caller-requests" in found.text, found.text[-3000:]
    table = found.text[found.text.find("caller-requests") :][:3000]
    assert request_id in table and "處理中" in table, table and "基隆市政府工務處" in found.text
    assert "北北基宜區域節點" in found.text

    # the agency there decides: read from 臺北市, the request is closed with its note
    with transaction(nodes["north-regional"]) as db:
        actor = cases.CaseActor("kee-pw-clerk", "keelung-city.public_works")
        cases.decide_case(db, actor, case.number, "approved", "已更換燈泡")
    fresh = _fresh(nodes, remote, request_id, "keelung-city")
    assert fresh.status == "closed" and fresh.status_notes == "已更換燈泡"
    assert fresh.phone == CALLER["phone"]  # this node's own copy of the contact


def test_a_transfer_to_another_nodes_city_moves_the_case_and_keeps_the_id(
    pair: Federation, nodes: dict[str, sessionmaker[Session]], remote: RemoteNodes
) -> None:
    request_id = _file(pair, "taipei-city")
    assert request_id.startswith("A-311-")
    assert _case(nodes["taipei"], request_id).agency == "taipei-city.public_works"  # type: ignore[union-attr]
    _transfer_to_keelung(pair, request_id)
    there = _case(nodes["north-regional"], request_id)
    assert (
        there is not None and there.agency == "keelung-city.public_works" and there.state == "open"
    )
    held = _row(nodes["north-regional"], request_id)
    assert held.jurisdiction == "keelung-city" and held.held_by_node is None
    assert held.phone == CALLER["phone"]  # the caller can be told, there too
    here = _case(nodes["taipei"], request_id)
    assert here is not None and here.state == "closed"
    pointer = _row(nodes["taipei"], request_id)
    assert pointer.held_by_node == "north-regional" and pointer.jurisdiction == "keelung-city"
    assert _fresh(nodes, remote, request_id, "keelung-city").status == "open"

    # 基隆市's 1999 may not move a call of 宜蘭縣 (same node): nothing is sent to 臺北市
    yilan = _page(
        pair,
        "north-regional",
        "kee-hotline-clerk",
        "POST",
        "/hotline/requests",
        data={**_filing("yilan-county"), "address_string": "宜蘭縣宜蘭市1號"},
    )
    assert yilan.status_code == 303, yilan.text[-1500:]
    yilan_id = re.search(r"filed=([A-Z]-311-\d{3}-\d{6})", yilan.headers["location"]).group(1)  # type: ignore[union-attr]
    refused = _page(
        pair,
        "north-regional",
        "kee-hotline-clerk",
        "POST",
        f"/hotline/requests/{yilan_id}/transfer",
        data={"to_jurisdiction": "taipei-city", "note": "轉臺北", **CALLER},
    )
    assert refused.status_code == 403, refused.text[-1500:]
    with nodes["taipei"]() as db:
        assert (
            db.scalar(select(ServiceRequest).where(ServiceRequest.service_request_id == yilan_id))
            is None
        )

    # 基隆市's 1999 finds the call by the caller's phone, under the same id
    found = _page(
        pair,
        "north-regional",
        "kee-hotline-clerk",
        "GET",
        "/hotline",
        params={"phone": CALLER["phone"]},
    )
    assert request_id in found.text and "本節點" in found.text


def test_an_app_filing_through_this_node_for_another_nodes_city(
    pair: Federation, nodes: dict[str, sessionmaker[Session]]
) -> None:
    """GeoReport: the app's key (issued by 基隆市, on the node serving it) is checked there;
    the request is numbered and held there and read back through 臺北市's node."""
    with transaction(nodes["north-regional"]) as db:
        _, key = keys.issue_key(
            db, jurisdiction="keelung-city", app_name="基隆報修 App", issued_by="kee-city-admin"
        )
    base = pair.layout.node("taipei").url + "/open311/v2"
    body = {
        "jurisdiction_id": "keelung-city",
        "api_key": key,
        "service_code": "pothole",
        "address_string": "基隆市中正區中正路2號",
        "attribute[size]": "large",
        "attribute[lane]": "slow",
        "email": "app-user@example.tw",
    }
    wrong_key = httpx.post(base + "/requests.json", data={**body, "api_key": "nope"}, timeout=30)
    assert wrong_key.status_code == 403, wrong_key.text
    assert wrong_key.json()[0]["code"] == 403 and wrong_key.json()[0]["description"]
    filed = httpx.post(base + "/requests.json", data=body, timeout=30)
    assert filed.status_code in (200, 201), filed.text
    request_id = filed.json()[0]["service_request_id"]
    assert request_id.startswith("C-311-")
    held = _row(nodes["north-regional"], request_id)
    assert held.held_by_node is None and held.api_key_id is not None
    one = httpx.get(
        f"{base}/requests/{request_id}.json", params={"jurisdiction_id": "keelung-city"}, timeout=30
    )
    assert one.status_code == 200, one.text
    (answer,) = one.json()
    assert answer["status"] == "open" and answer["agency_responsible"] == "基隆市政府工務處"
    assert "app-user@example.tw" not in one.text  # personal fields never in a public answer
    listed = httpx.get(
        base + "/requests.json",
        params={"jurisdiction_id": "keelung-city", "service_request_id": request_id},
        timeout=30,
    )
    assert [r["service_request_id"] for r in listed.json()] == [request_id]


def _signed(
    pair: Federation,
    path: str,
    body: dict[str, Any],
    sender: str = "taipei",
    *,
    signature: str | None = None,
) -> tuple[httpx.Response, str]:
    north = pair.layout.node("north-regional")
    raw = json.dumps(body, ensure_ascii=False).encode()
    if signature is None:
        signature = credentials(pair, sender).sign("POST", path, raw, audience="north-regional")
    headers = {"Content-Type": "application/json"}
    if signature:
        headers[HEADER] = signature
    with peer_client(pair, sender) as client:
        response = client.post(
            f"https://127.0.0.1:{north.peer_port}{path}", content=raw, headers=headers
        )
    return response, signature


def _forward(city: str = "keelung-city", forward_id: str | None = None) -> dict[str, Any]:
    return {
        "forward_id": forward_id or uuid.uuid4().hex,
        "jurisdiction": city,
        "service_code": "pothole",
        "fields": {"address_string": "基隆市中正區中正路1號", "description": "坑洞"},
        "attributes": {"size": ["small"], "lane": ["slow"]},
        "filed_by": {"kind": "hotline", "username": "tpe-hotline-clerk"},
    }


def test_peer_calls_are_refused_unsigned_replayed_or_for_a_city_not_served(
    pair: Federation, nodes: dict[str, sessionmaker[Session]]
) -> None:
    def count() -> int:
        with nodes["north-regional"]() as db:
            return len(list(db.scalars(select(ServiceRequest.id))))

    before = count()
    unsigned, _ = _signed(pair, routing.FORWARD_PATH, _forward(), signature="")
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "missing_signature"
    assert count() == before

    body = _forward()
    first, signature = _signed(pair, routing.FORWARD_PATH, body)
    assert first.status_code == 201, first.text
    request_id = first.json()["request"]["service_request_id"]
    assert "phone" not in json.dumps(first.json()) or first.json()["request"]["phone"] is None
    replayed, _ = _signed(pair, routing.FORWARD_PATH, body, signature=signature)
    assert replayed.status_code == 409 and replayed.json()["code"] == "replay"
    # sent again under a new signature (the answer was lost): filed once
    again, _ = _signed(pair, routing.FORWARD_PATH, body)
    assert again.status_code == 201 and again.json()["request"]["service_request_id"] == request_id
    assert count() == before + 1

    not_here, _ = _signed(pair, routing.FORWARD_PATH, _forward("taipei-city"))
    assert not_here.status_code == 403 and not_here.json()["code"] == "open311_city_not_here"
    bad, _ = _signed(pair, routing.FORWARD_PATH, {**_forward(), "attributes": {}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("attribute[")
    assert count() == before + 1

    # a transfer is taken only from the node serving the city it leaves
    transfer = {
        "service_request_id": "G-311-115-999999",
        "to_jurisdiction": "keelung-city",
        "from_jurisdiction": "yilan-county",
        "service_code": "pothole",
        "fields": {"address_string": "基隆市"},
        "attributes": {"size": ["small"]},
        "requested_at": "2026-06-01T02:00:00+00:00",
        "note": "轉接",
        "transferred_by": {"username": "tpe-hotline-clerk"},
    }
    stolen, _ = _signed(pair, routing.TRANSFER_PATH, transfer)
    assert stolen.status_code == 403 and stolen.json()["code"] == "open311_city_not_of_node"
    assert _case(nodes["north-regional"], "G-311-115-999999") is None

    status, _ = _signed(pair, routing.STATUS_PATH, {"ids": [request_id, "C-311-115-000000"]})
    assert status.status_code == 200
    assert [r["service_request_id"] for r in status.json()["requests"]] == [request_id]
    assert status.json()["requests"][0]["email"] is None  # public fields only


def test_the_federated_demo_routes_one_request_between_its_nodes(
    pair: Federation, nodes: dict[str, sessionmaker[Session]]
) -> None:
    request_id = seed_routed_request(pair.layout)
    assert request_id.startswith("C-311-")
    assert seed_routed_request(pair.layout) == request_id  # once, however often it runs
    assert _row(nodes["taipei"], request_id).held_by_node == "north-regional"
    assert _row(nodes["north-regional"], request_id).phone == CALLER_PHONE
    with nodes["taipei"]() as db:  # the phone the demo prints finds it at 臺北市's 1999
        found = open311.requests_of_caller(db, phone=CALLER_PHONE, city="taipei-city")
    assert [r.service_request_id for r in found] == [request_id]


def test_a_node_that_is_down_is_said_to_be_down(
    pair: Federation, nodes: dict[str, sessionmaker[Session]], remote: RemoteNodes
) -> None:
    """The pointer asked about is a request moved to the regional node just now, whose status
    this node's 10-second cache does not hold. The node is started again afterwards, so the
    test does not depend on running last."""
    pointer = _file(pair, "taipei-city")
    _transfer_to_keelung(pair, pointer)
    pair.stop("north-regional")
    try:
        with pytest.raises(routing.Unreachable):
            _fresh(nodes, remote, pointer, "keelung-city")
        filed = _page(
            pair,
            "taipei",
            "tpe-hotline-clerk",
            "POST",
            "/hotline/requests",
            data=_filing("keelung-city"),
        )
        assert filed.status_code == 503, filed.text[-1500:]
        assert "目前無法連線" in filed.text and "路燈整晚不亮" in filed.text  # the form, kept
        one = httpx.get(
            pair.layout.node("taipei").url + f"/open311/v2/requests/{pointer}.xml",
            params={"jurisdiction_id": "keelung-city"},
            timeout=30,
        )
        assert one.status_code == 503 and "<errors>" in one.text and "<code>503</code>" in one.text
        assert "目前無法連線" in one.text and one.headers["Retry-After"]
    finally:
        pair.start("north-regional")
