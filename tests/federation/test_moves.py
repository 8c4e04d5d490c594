"""A move between cities on different nodes (#16): the 遷入 registered at 臺北市's node
reaches 臺北市's agencies there, and its 遷出 half reaches 宜蘭縣's agencies on the regional
node, relayed signed over mutual TLS; sent again it is recorded once; a node that does not
serve the city moved to, or a person not registered in the city left, is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import as_utc, make_engine, make_session_factory, transaction, utcnow
from onceonly.federation.remote import connect
from onceonly.federation.signing import HEADER
from onceonly.notify.models import CitizenMessage, Delivery, LifeEvent, MoveRelay
from onceonly.notify.outbox import acknowledge
from onceonly.notify.relays import MOVE_STATUS_PATH, MOVES_PATH, send_due_relays
from onceonly.notify.worker import Worker
from tests.federation.conftest import Federation, credentials, peer_client

ARRIVING_OFFICE = "taipei-city.household_office"


@pytest.fixture(scope="module")
def nodes(pair: Federation) -> Iterator[dict[str, sessionmaker[Session]]]:
    """Each node's database; the demo federation seeds its agencies' subscriptions."""
    engines = {
        name: make_engine(pair.layout.node(name).settings.resolved_database_url)
        for name in ("taipei", "north-regional")
    }
    yield {name: make_session_factory(engine) for name, engine in engines.items()}
    for engine in engines.values():
        engine.dispose()


def _acknowledge_all(sessions: sessionmaker[Session], event_id: str) -> None:
    """Every agency told of ``event_id`` says it has applied it."""
    with transaction(sessions) as db:
        agencies = set(
            db.scalars(select(Delivery.agency_code).where(Delivery.event_id == event_id))
        )
        for agency in agencies:
            acknowledge(db, agency, [event_id])


def _move_in(pair: Federation, subject: str, **payload: str) -> httpx.Response:
    node = pair.layout.node("taipei")
    return httpx.post(
        node.url + "/api/v1/notify/events",
        json={
            "kind": "move_in",
            "national_id": subject,
            "payload": {
                "moved_in_on": "2026-06-01",
                "new_address": "臺北市中正區重慶南路一段122號",
                "from_jurisdiction": "yilan-county",
                **payload,
            },
        },
        headers={"Authorization": f"Bearer {pair.token('taipei', 'tpe-hh-clerk')}"},
        timeout=30,
    )


class _AnyText(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_TEXT = _AnyText()


def _due_again(sessions: sessionmaker[Session], event_id: str) -> None:
    with transaction(sessions) as db:
        relay = db.get(MoveRelay, event_id)
        assert relay is not None
        relay.next_attempt_at = utcnow() - timedelta(seconds=1)


def _messages(db: Session, event_id: str) -> list[str]:
    return list(db.scalars(select(CitizenMessage.kind).where(CitizenMessage.event_id == event_id)))


def _report_page(pair: Federation, reference: str) -> str:
    """The clerk's page for a report at 臺北市's node."""
    page = httpx.get(
        pair.layout.node("taipei").url + "/counter/tell-us-once",
        params={"reference": reference},
        headers={
            "Authorization": f"Bearer {pair.token('taipei', 'tpe-hh-clerk')}",
            "Accept": "text/html",
        },
    )
    assert page.status_code == 200, page.text[:500]
    return page.text


def _move_outs(sessions: sessionmaker[Session], subject: str) -> list[LifeEvent]:
    with sessions() as db:
        return list(
            db.scalars(
                select(LifeEvent).where(
                    LifeEvent.national_id == subject, LifeEvent.kind == "move_out"
                )
            )
        )


def test_a_move_in_reaches_the_agencies_of_both_cities_once(
    pair: Federation, nodes: dict[str, sessionmaker[Session]]
) -> None:
    subject = pair.sample("yilan_resident")
    arrived = _move_in(pair, subject)
    assert arrived.status_code == 201, arrived.text
    event_id = arrived.json()["id"]
    told_here = {r["agency_code"] for r in arrived.json()["recipients"]}
    assert {"taipei-city.tax_office", "taipei-city.land_office"} <= told_here
    with nodes["taipei"]() as db:
        relay = db.get(MoveRelay, event_id)
        assert relay is not None and relay.status == "pending"

    remote = connect(pair.layout.node("taipei").settings, set())
    assert remote is not None
    try:
        report = send_due_relays(nodes["taipei"], remote)
        assert report.relayed == [event_id], report
        (move_out,) = _move_outs(nodes["north-regional"], subject)
        assert move_out.jurisdiction == "yilan-county"
        assert move_out.payload["to_jurisdiction"] == "taipei-city"
        assert move_out.payload["moved_out_on"] == "2026-06-01"
        assert move_out.payload["old_address"]  # the registered one, as the 遷入 named none
        assert move_out.recorded_by is not None and move_out.recorded_by.startswith("node:taipei")
        with nodes["north-regional"]() as db:
            told = set(
                db.scalars(select(Delivery.agency_code).where(Delivery.event_id == move_out.id))
            )
            assert {"yilan-county.tax_office", "yilan-county.land_office"} <= told
            assert not any(code.startswith("taipei-city.") for code in told)
        with nodes["taipei"]() as db:
            relay = db.get(MoveRelay, event_id)
            assert relay is not None and relay.status == "relayed"
            assert relay.node_id == "north-regional"
            assert relay.remote_reference and relay.remote_reference.startswith("TUO-")
            assert "宜蘭縣地方稅務局" in relay.remote_recipients
            first_reference = relay.remote_reference
        page = _report_page(pair, arrived.json()["reference"])
        assert "宜蘭縣的遷出通報" in page and first_reference in page
        assert "宜蘭縣地方稅務局" in page

        # the answer was lost: the worker sends it again, and it is recorded once
        with transaction(nodes["taipei"]) as db:
            relay = db.get(MoveRelay, event_id)
            assert relay is not None
            relay.status = "pending"
        _due_again(nodes["taipei"], event_id)
        assert send_due_relays(nodes["taipei"], remote).relayed == [event_id]
        assert len(_move_outs(nodes["north-regional"], subject)) == 1
        with nodes["taipei"]() as db:
            relay = db.get(MoveRelay, event_id)
            assert relay is not None and relay.remote_reference == first_reference
        assert send_due_relays(nodes["taipei"], remote).relayed == []  # nothing left due
        received = [
            e for e in pair.audit("north-regional") if e.event == "federation.move_received"
        ]
        assert [e.actor_username for e in received] == ["node:taipei", "node:taipei"]
        assert {e.details["event_id"] for e in received} == {move_out.id}

        # the same move told again under another id (as when 宜蘭縣's office recorded the
        # 遷出 itself first): answered with the 遷出 already there, not recorded twice
        again = _signed_move(
            pair, national_id=subject, origin_event_id="00000000-0000-4000-8000-000000000002"
        )
        assert again.status_code == 200, again.text
        assert again.json()["reference"] == first_reference and again.json()["replayed"]
        assert len(_move_outs(nodes["north-regional"], subject)) == 1

        # 宜蘭縣's office, told the same move in person, finds it already recorded
        by_office = httpx.post(
            pair.layout.node("north-regional").url + "/api/v1/notify/events",
            json={
                "kind": "move_out",
                "national_id": subject,
                "payload": {
                    "moved_out_on": "2026-06-01",
                    "to_jurisdiction": "taipei-city",
                    "old_address": move_out.payload["old_address"],
                },
            },
            headers={"Authorization": f"Bearer {pair.token('north-regional', 'ila-hh-clerk')}"},
            timeout=30,
        )
        assert by_office.status_code == 422, by_office.text
        assert by_office.json()["errors"][0]["field"] == "national_id"
        assert len(_move_outs(nodes["north-regional"], subject)) == 1

        # how it stands there is for the node that relayed it alone
        asked = {"origin_event_id": event_id}
        assert _signed(pair, MOVE_STATUS_PATH, asked).status_code == 200
        assert _signed(pair, MOVE_STATUS_PATH, asked, sender="north-regional").status_code == 404

        # the informant is told "all done" only once the agencies of both cities are done
        _acknowledge_all(nodes["taipei"], event_id)
        _due_again(nodes["taipei"], event_id)
        assert send_due_relays(nodes["taipei"], remote).polled == [event_id]
        with nodes["taipei"]() as db:
            relay = db.get(MoveRelay, event_id)
            assert relay is not None and relay.remote_done_at is None and relay.polls == 1
            assert {"name_zh": "宜蘭縣地方稅務局", "name_en": ANY_TEXT, "status": "pending"} in (
                relay.remote_statuses
            )
            assert _messages(db, event_id) == []
        _acknowledge_all(nodes["north-regional"], move_out.id)
        _due_again(nodes["taipei"], event_id)
        assert send_due_relays(nodes["taipei"], remote).polled == [event_id]
        with nodes["taipei"]() as db:
            relay = db.get(MoveRelay, event_id)
            assert relay is not None and relay.remote_done_at is not None
            assert _messages(db, event_id) == ["all_processed"]
        assert "宜蘭縣地方稅務局" in _report_page(pair, arrived.json()["reference"])
        _due_again(nodes["taipei"], event_id)
        assert send_due_relays(nodes["taipei"], remote).polled == []  # done: not asked again
    finally:
        remote.close()


def _signed_move(pair: Federation, **body: str) -> httpx.Response:
    return _signed(
        pair,
        MOVES_PATH,
        {
            "origin_event_id": "00000000-0000-4000-8000-000000000001",
            "origin_reference": "TUO-0000-0000-0000",
            "occurred_at": "2026-06-01T02:00:00+00:00",
            "moved_in_on": "2026-06-01",
            "arrived_in": "taipei-city",
            "from_jurisdiction": "yilan-county",
            **body,
        },
    )


def _signed(
    pair: Federation, path: str, body: dict[str, str], sender: str = "taipei"
) -> httpx.Response:
    """``body`` posted to the regional node's listener as ``sender`` signs it."""
    north = pair.layout.node("north-regional")
    raw = json.dumps(body, ensure_ascii=False).encode()
    signature = credentials(pair, sender).sign("POST", path, raw, audience="north-regional")
    with peer_client(pair, sender) as client:
        return client.post(
            f"https://127.0.0.1:{north.peer_port}{path}",
            content=raw,
            headers={HEADER: signature, "Content-Type": "application/json"},
        )


def test_a_node_relays_only_moves_into_its_own_cities_of_people_registered_there(
    pair: Federation, nodes: dict[str, sessionmaker[Session]]
) -> None:
    yilan = pair.sample("yilan_resident")
    other_city = _signed_move(pair, national_id=yilan, arrived_in="new-taipei-city")
    assert other_city.status_code == 403 and other_city.json()["code"] == "jurisdiction_not_of_node"
    not_here = _signed_move(pair, national_id=yilan, from_jurisdiction="taipei-city")
    assert not_here.status_code == 403 and not_here.json()["code"] == "jurisdiction_not_here"

    unknown = {"origin_event_id": "00000000-0000-4000-8000-00000000abcd"}
    assert _signed(pair, MOVE_STATUS_PATH, unknown).status_code == 404  # not one it relayed

    not_an_id = _signed_move(pair, national_id="A123456788")  # a wrong check digit
    assert not_an_id.status_code == 422 and not_an_id.json()["errors"][0]["field"] == "national_id"

    # the register holds this person in 臺北市, not in 宜蘭縣: refused for good, in words
    taipei_resident = pair.sample("taipei_home_owner")
    refused = _signed_move(pair, national_id=taipei_resident)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] in ("from_jurisdiction", "payload.to_jurisdiction")
    assert _move_outs(nodes["north-regional"], taipei_resident) == []


def test_a_relay_waits_for_a_node_that_is_down_and_says_so(
    pair: Federation, nodes: dict[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs last: it stops the regional node of this module's federation. The worker as
    ``onceonly notify worker`` runs it finds the node from its data directory."""
    preview = httpx.post(
        pair.layout.node("taipei").url + "/counter/tell-us-once/preview",
        data={
            "kind": "move_in",
            "national_id": pair.sample("yilan_resident"),
            "moved_in_on": "2026-06-01",
            "new_address": "臺北市中正區重慶南路一段122號",
            "from_jurisdiction": "yilan-county",
        },
        headers={
            "Authorization": f"Bearer {pair.token('taipei', 'tpe-hh-clerk')}",
            "Accept": "text/html",
        },
    )
    assert preview.status_code == 200, preview.text[-800:]
    assert "宜蘭縣由另一個節點服務：送出後" in preview.text  # the informant hears it first

    pair.stop("north-regional")
    arrived = _move_in(pair, pair.sample("yilan_resident"), household_no="F1234567")
    assert arrived.status_code == 201, arrived.text
    event_id = arrived.json()["id"]
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(pair.layout.node("taipei").data_dir))
    before = utcnow()
    with Worker(nodes["taipei"]) as worker:
        assert worker.send_relays() == 1
        assert worker.send_relays() == 0  # backing off
    with nodes["taipei"]() as db:
        relay = db.get(MoveRelay, event_id)
        assert relay is not None and relay.status == "pending" and relay.attempts == 1
        assert relay.last_error and as_utc(relay.next_attempt_at) > before
    page = _report_page(pair, arrived.json()["reference"])
    assert "已嘗試 1 次" in page and "宜蘭縣由另一個節點服務" in page
