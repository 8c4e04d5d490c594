"""The receiving side of the Open311 peer calls, called as the peer listener calls it once a
member node's signature checked out: a member node is trusted with its own cities, not with
requests another node holds (#21 review)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases.models import Case
from onceonly.federation.node import NodeConfig
from onceonly.federation.snapshot import NodeEntry
from onceonly.open311 import federation as routing
from onceonly.open311 import service
from onceonly.open311.models import ServiceRequest
from tests.open311.conftest import T0

HERE = NodeConfig(
    id="node-tpe", name="臺北", jurisdictions=("taipei-city",), endpoint="https://127.0.0.1:1",
    cert="", key="", ca="", directory_url="", directory_jwk={},
)  # fmt: skip


def _node(node_id: str, *cities: str) -> NodeEntry:
    return NodeEntry(node_id, node_id, cities, "https://127.0.0.1:2", "", {}, {})


KEELUNG = _node("node-kee", "keelung-city")
"""Holds the request this node points at."""
NEW_TAIPEI = _node("node-ntpc", "new-taipei-city")
"""A member node holding nothing of it."""


def _transfer(request_id: str, from_city: str) -> routing.TransferredRequest:
    return routing.TransferredRequest(
        service_request_id=request_id,
        to_jurisdiction="taipei-city",
        from_jurisdiction=from_city,
        service_code="streetlight-out",
        fields={"address_string": "臺北市中正區1號", "email": "forged@example.tw"},
        attributes={"light_state": ["dark"]},
        requested_at=T0,
        note="轉來",
    )


def _pointer(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        db.add(
            ServiceRequest(
                service_request_id="K-311-115-000007",
                jurisdiction="keelung-city",
                service_code="streetlight-out",
                case_number=None,
                held_by_node=KEELUNG.id,
                token="t" * 32,
                filed_by="hotline-1",
                filed_in="taipei-city",
                attributes={},
                requested_at=T0,
                updated_at=T0,
                email="caller@example.tw",
            )
        )
        db.commit()


def _row(sessions: sessionmaker[Session], request_id: str) -> ServiceRequest:
    with sessions() as db:
        row = db.scalar(
            select(ServiceRequest).where(ServiceRequest.service_request_id == request_id)
        )
        assert row is not None
        db.expunge(row)
        return row


def test_only_the_node_holding_a_request_transfers_it_here(
    sessions: sessionmaker[Session],
) -> None:
    """A member node claiming a request another node holds turned this node's pointer into a
    request held here, with a case of its making (#21 review)."""
    _pointer(sessions)
    with pytest.raises(routing.NotOurs) as refused:
        routing.receive(
            sessions, NEW_TAIPEI, HERE, _transfer("K-311-115-000007", "new-taipei-city")
        )
    assert refused.value.code == "open311_not_held_by_sender"
    row = _row(sessions, "K-311-115-000007")
    assert row.held_by_node == KEELUNG.id and row.case_number is None
    assert row.jurisdiction == "keelung-city"
    status, _ = routing.receive(
        sessions, KEELUNG, HERE, _transfer("K-311-115-000007", "keelung-city")
    )
    assert status == 201
    moved = _row(sessions, "K-311-115-000007")
    assert moved.held_by_node is None and moved.case_number and moved.jurisdiction == "taipei-city"


def test_an_id_a_transfer_brought_is_skipped_when_numbering_here(
    sessions: sessionmaker[Session],
) -> None:
    """A transferred id with this city's prefix made the counter's next create a unique
    violation, forever (every 1999 and app filing of the city a 500) (#21 review)."""
    status, _ = routing.receive(
        sessions, KEELUNG, HERE, _transfer("A-311-115-000001", "keelung-city")
    )
    assert status == 201
    with sessions() as db:
        view = service.create_request(
            db, jurisdiction="taipei-city", service_code="streetlight-out",
            fields={"address_string": "臺北市中正區1號"}, attributes={"light_state": ["dark"]},
            filed_by=service.Filer(kind="hotline", name="hotline-1"), now=T0,
        )  # fmt: skip
        db.commit()
    assert view.service_request_id == "A-311-115-000002"


def test_a_transferred_call_keeps_the_callers_mobile_and_a_bad_date_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    """The receiving city's case texts the caller as the sending city's did; a date without
    its offset is refused before anything is written, not a 500."""
    moved = _transfer("K-311-115-000009", "keelung-city")
    moved.fields["phone"] = "0912-345-678"
    status, _ = routing.receive(sessions, KEELUNG, HERE, moved)
    assert status == 201
    with sessions() as db:
        case = db.scalar(select(Case).where(Case.service_request_id == "K-311-115-000009"))
        assert case is not None and case.contact_mobile == "0912345678"
    raw = moved.model_dump(mode="json") | {"requested_at": "2026-12-05T10:00:00"}
    with pytest.raises(ValidationError):
        routing.TransferredRequest.model_validate(raw)
