"""A captured push sent again is never applied twice by the reference receiver.

The old receiver deduplicated by the ``Idempotency-Key`` header, which the signature (``v1``:
timestamp and body) did not cover: the same body, timestamp and signature with a fresh key
was applied again within the tolerance. Now the key and the event id are signed (``v2``), a
push signed only the old way is refused unless the receiver takes ``v1`` for the move, and
either way the receiver applies each event once by the ``id`` in the signed body.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from onceonly.notify.receiver import create_receiver_app, read_applied
from onceonly.notify.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    signature_v1,
    signed_headers,
)
from tests.notify.conftest import citizen

SECRET = "agency-secret"


def push(event_id: str, subscription_id: int = 7) -> tuple[bytes, dict[str, str]]:
    """A push as the worker sends it (``delivery_body``'s shape, both signatures)."""
    body = json.dumps(
        {
            "id": event_id,
            "subscription_id": subscription_id,
            "kind": "death",
            "subject": citizen(1),
            "seq": 1,
            "jurisdiction": "taipei-city",
            "data": {"death_date": "2026-03-01"},
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    headers = signed_headers(SECRET, body, event_id, subscription_id)
    return body, {**headers, "Content-Type": "application/json"}


def old_way(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """The same push as a platform signing only ``v1`` sends it."""
    ts = int(headers["X-Onceonly-Timestamp"])
    return {**headers, SIGNATURE_HEADER: signature_v1(SECRET, ts, body)}


def receiver(path: Path, **options: Any) -> Iterator[TestClient]:
    with TestClient(create_receiver_app([SECRET], path, **options)) as client:
        yield client


@pytest.fixture
def current(tmp_path: Path) -> Iterator[TestClient]:
    """A receiver that checks ``v2`` only (the default)."""
    yield from receiver(tmp_path / "current.sqlite")


@pytest.fixture
def moving(tmp_path: Path) -> Iterator[TestClient]:
    """A receiver that also takes ``v1`` while its platform may still send it alone."""
    yield from receiver(tmp_path / "moving.sqlite", accept_v1=True)


def applied(client: TestClient) -> int:
    return int(client.get("/state").json()["applied"])


def test_a_replay_with_a_fresh_idempotency_key_is_refused(current: TestClient) -> None:
    event_id = str(uuid.uuid4())
    body, headers = push(event_id)
    first = current.post("/webhook", content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"status": "processed", "duplicate": False}
    replay = current.post(
        "/webhook", content=body, headers={**headers, IDEMPOTENCY_HEADER: f"{event_id}:fresh"}
    )
    assert replay.status_code == 401, replay.text
    assert replay.json()["status"] == "bad-signature"
    assert applied(current) == 1


def test_the_same_push_again_is_a_duplicate(current: TestClient, tmp_path: Path) -> None:
    body, headers = push(str(uuid.uuid4()))
    for duplicate in (False, True):
        answer = current.post("/webhook", content=body, headers=headers)
        assert answer.json() == {"status": "processed", "duplicate": duplicate}
    assert len(read_applied(tmp_path / "current.sqlite")) == 1


def test_a_push_signed_the_old_way_only_is_refused_by_a_current_receiver(
    current: TestClient,
) -> None:
    body, headers = push(str(uuid.uuid4()))
    answer = current.post("/webhook", content=body, headers=old_way(body, headers))
    assert answer.status_code == 401, answer.text
    assert applied(current) == 0


def test_during_the_move_an_old_way_replay_with_a_fresh_key_is_a_duplicate(
    moving: TestClient,
) -> None:
    """The ``v1`` signature does not cover the key, so a replay with a fresh one verifies;
    it is applied once all the same, by the event id in the signed body."""
    event_id = str(uuid.uuid4())
    body, headers = push(event_id)
    signed_old = old_way(body, headers)
    first = moving.post("/webhook", content=body, headers=signed_old)
    assert first.json() == {"status": "processed", "duplicate": False}
    for fresh in ("fresh", f"{event_id}:99", ""):
        replay = moving.post(
            "/webhook", content=body, headers={**signed_old, IDEMPOTENCY_HEADER: fresh}
        )
        assert replay.status_code == 200, replay.text
        assert replay.json() == {"status": "processed", "duplicate": True}
    # a push carrying both signatures, its key swapped: v2 fails, v1 holds, still a duplicate
    swapped = moving.post(
        "/webhook", content=body, headers={**headers, IDEMPOTENCY_HEADER: "fresh"}
    )
    assert swapped.json() == {"status": "processed", "duplicate": True}
    assert applied(moving) == 1


def test_the_same_event_for_another_subscription_is_applied_once(current: TestClient) -> None:
    """Two subscriptions of one agency may name one receiver: the event counts once."""
    event_id = str(uuid.uuid4())
    for subscription, duplicate in ((7, False), (8, True)):
        body, headers = push(event_id, subscription)
        answer = current.post("/webhook", content=body, headers=headers)
        assert answer.json() == {"status": "processed", "duplicate": duplicate}
    assert applied(current) == 1


def test_a_signed_event_id_other_than_the_body_s_is_refused(current: TestClient) -> None:
    body, _ = push(str(uuid.uuid4()))
    other = signed_headers(SECRET, body, str(uuid.uuid4()), 7, int(time.time()))
    answer = current.post("/webhook", content=body, headers=other)
    assert answer.status_code == 400 and answer.json()["status"] == "mismatched-event"
    assert applied(current) == 0
