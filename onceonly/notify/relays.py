"""Moves between cities that different federation nodes serve.

A citizen moving from 宜蘭縣 to 臺北市 registers the 遷入 (``move_in``) at a household office
in 臺北市; that office's node tells its own subscribed agencies. The agencies of the city left
behind subscribe on their own node, which has not heard of the move. So the 遷入 is written
with a :class:`~onceonly.notify.models.MoveRelay` row in the same transaction, and the notify
worker sends it, signed and over mutual TLS, to the node the directory says serves the old
city (:data:`MOVES_PATH`). That node checks it against the household register and records the
遷出 (``move_out``) half for its agencies (:func:`~onceonly.notify.intake.record_relayed_move`).

The relay is retried with back-off until that node answers; it is idempotent there (the 遷入's
event id is the key), so a relay sent twice after a lost answer is recorded once. A refusal
(the register disagrees) is final and kept with the reason. When the old city is served by
this node, or this deployment is not a federation node, the relay is ``local``: the office
records the 遷出 half here, as it always has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from onceonly.call_failures import failure_in_words
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, transaction, utcnow
from onceonly.federation.peer_http import PeerError
from onceonly.federation.remote import RemoteNodes, json_object
from onceonly.federation.snapshot import SnapshotRefused
from onceonly.i18n import t
from onceonly.notify import outbox
from onceonly.notify.events import EventView, reference_of
from onceonly.notify.kinds import HOUSEHOLD
from onceonly.notify.models import LifeEvent, MoveRelay

MOVES_PATH = "/federation/v1/moves"
MOVE_STATUS_PATH = "/federation/v1/moves/status"
POLL_BASE_SECONDS = 30.0
POLL_CAP_SECONDS = 3600.0
"""A relayed move is asked after at 30 s, 1 min, 2 min ... then hourly until done there."""
LEASE = timedelta(seconds=60)
"""A claimed relay is due again after this, should the worker sending it die."""
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
MAX_ATTEMPTS = 100
"""After this many attempts (about four days of back-off) a relay is given up as refused."""
RELAY_FIELDS = ("moved_in_on", "old_address")
"""Not ``new_address`` nor the new ``household_no``: the old city's agencies need neither."""

log = logging.getLogger(__name__)


def queue_relay(session: Session, event: EventView, served_here: Collection[str]) -> bool:
    """Queue the 遷出 half of a 遷入 from a city this node does not serve (``served_here``)
    for that city's node, in ``session``'s transaction; ``False`` for any other event."""
    old = event.payload.get("from_jurisdiction")
    if event.kind != "move_in" or event.source != HOUSEHOLD or not old:
        return False
    if old == event.jurisdiction or old in served_here:
        return False
    session.add(MoveRelay(event_id=event.id, from_jurisdiction=str(old), remote_recipients=[]))
    return True


def relay_body(event: LifeEvent, reference: str) -> dict[str, Any]:
    """What the old city's node needs to record the 遷出 half, and no more."""
    return {
        "origin_event_id": event.id,
        "origin_reference": reference,
        "national_id": event.national_id,
        "arrived_in": event.jurisdiction,
        "from_jurisdiction": event.payload.get("from_jurisdiction"),
        "occurred_at": as_utc(event.occurred_at).isoformat(),
        **{name: event.payload[name] for name in RELAY_FIELDS if event.payload.get(name)},
    }


@dataclass
class RelayReport:
    relayed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    """Relayed moves whose agencies there were asked after."""

    def __len__(self) -> int:
        sent = len(self.relayed) + len(self.refused) + len(self.local) + len(self.retrying)
        return sent + len(self.polled)


def _claim(
    sessions: sessionmaker[Session], now: datetime, limit: int, status: str = "pending"
) -> list[str]:
    """Due relays of ``status`` (``relayed``: to ask after, until done there), each taken by
    moving its due time a lease ahead only if no other worker moved it first."""
    with transaction(sessions) as session:
        due = session.execute(
            select(MoveRelay.event_id, MoveRelay.next_attempt_at)
            .where(
                MoveRelay.status == status,
                MoveRelay.remote_done_at.is_(None),
                MoveRelay.next_attempt_at <= now,
            )
            .order_by(MoveRelay.next_attempt_at)
            .limit(limit)
        ).all()
        claimed = []
        for event_id, due_at in due:
            taken = session.execute(
                update(MoveRelay)
                .where(
                    MoveRelay.event_id == event_id,
                    MoveRelay.status == status,
                    MoveRelay.next_attempt_at == due_at,
                )
                .values(next_attempt_at=now + LEASE)
            )
            if getattr(taken, "rowcount", 0) == 1:
                claimed.append(event_id)
        return claimed


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)))


def send_due_relays(
    sessions: sessionmaker[Session],
    remote: RemoteNodes | None,
    *,
    now: datetime | None = None,
    limit: int = 20,
) -> RelayReport:
    """Send the relays that are due; ``remote`` is ``None`` on a stand-alone deployment."""
    report = RelayReport()
    for _ in range(limit):  # one at a time, so a slow node cannot outlast the others' leases
        claimed = _claim(sessions, now or utcnow(), 1)
        if not claimed:
            break
        event_id = claimed[0]
        with sessions() as session:
            event = session.get(LifeEvent, event_id)
            relay = session.get(MoveRelay, event_id)
            if event is None or relay is None:
                continue
            body = relay_body(event, reference_of(event.id))
            old_city = relay.from_jurisdiction
        try:
            outcome = _send(remote, old_city, body)
        except Exception as exc:  # a bad answer or a local fault must not stop the worker
            log.exception("move relay %s failed", event_id)
            outcome = _Outcome("pending", error=failure_in_words(exc)[:300])
        status = _record(sessions, event_id, outcome, now or utcnow())
        getattr(report, "retrying" if status == "pending" else status).append(event_id)
    for _ in range(limit):
        claimed = _claim(sessions, now or utcnow(), 1, status="relayed")
        if not claimed:
            break
        event_id = claimed[0]
        with sessions() as session:
            relay = session.get(MoveRelay, event_id)
            node_id = relay.node_id if relay is not None else None
        try:
            answer = _ask_status(remote, node_id, event_id)
        except Exception:
            log.exception("could not ask how move relay %s stands", event_id)
            answer = None
        _record_status(sessions, event_id, answer, now or utcnow())
        report.polled.append(event_id)
    return report


def _ask_status(
    remote: RemoteNodes | None, node_id: str | None, event_id: str
) -> dict[str, Any] | None:
    """The other node's answer on how its agencies stand, when it gives a usable one."""
    if remote is None or node_id is None:
        return None
    snapshot = remote.snapshots.current()
    node = snapshot.node(node_id)
    if node is None:
        return None
    raw = json.dumps({"origin_event_id": event_id}).encode()
    response = remote.post_signed(snapshot, node, MOVE_STATUS_PATH, raw)
    answer = json_object(response)
    agencies = answer.get("agencies")
    if response.status_code != 200 or not isinstance(agencies, list):
        return None
    rows = [
        {k: str(a.get(k, ""))[:120] for k in ("name_zh", "name_en", "status")}
        for a in agencies[:100]
        if isinstance(a, dict)
    ]
    return {"agencies": rows, "done": answer.get("done") is True}


def _poll_delay(polls: int) -> timedelta:
    return timedelta(seconds=min(POLL_CAP_SECONDS, POLL_BASE_SECONDS * 2 ** min(polls, 20)))


def _record_status(
    sessions: sessionmaker[Session],
    event_id: str,
    answer: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Keep the other node's statuses; tell the citizen once every agency there is done
    (together with the ones here), or that one of them could not be reached."""
    with transaction(sessions) as session:
        relay = session.get(MoveRelay, event_id)
        event = session.get(LifeEvent, event_id)
        if relay is None or event is None or relay.remote_done_at is not None:
            return
        relay.polls += 1
        relay.next_attempt_at = now + _poll_delay(relay.polls)
        if answer is None:
            return
        relay.remote_statuses = answer["agencies"]
        failed = [a for a in answer["agencies"] if a["status"] == "failed"]
        if failed:
            names = {"zh-TW": failed[0]["name_zh"], "en": failed[0]["name_en"]}
            outbox.tell_citizen_not_reached(session, event, names)
        if answer["done"]:
            relay.remote_done_at = now
            session.flush()
            outbox.tell_citizen_if_done(session, [event_id])


@dataclass(frozen=True)
class _Outcome:
    status: str
    """``relayed``, ``refused``, ``local`` or ``pending`` (try again later)."""
    node_id: str | None = None
    error: str | None = None
    reference: str | None = None
    recipients: tuple[str, ...] = ()


def _send(remote: RemoteNodes | None, old_city: str, body: dict[str, Any]) -> _Outcome:
    if remote is None or old_city in remote.config.jurisdictions:
        return _Outcome("local")
    try:
        snapshot = remote.snapshots.current()
    except SnapshotRefused as exc:
        return _Outcome("pending", error=f"directory snapshot: {exc.code} {exc.detail}"[:300])
    node = snapshot.node_serving(old_city)
    if node is None:
        return _Outcome("pending", error=f"no node serves {old_city}")
    if node.id == remote.config.id:
        return _Outcome("local", node.id)
    raw = json.dumps(body, ensure_ascii=False).encode()
    try:
        response = remote.post_signed(snapshot, node, MOVES_PATH, raw)
    except PeerError as exc:
        return _Outcome("pending", node.id, str(exc)[:300])
    answer = json_object(response)
    if response.status_code == 200:
        names = answer.get("recipients")
        if not isinstance(names, list) or not all(isinstance(r, dict) for r in names):
            return _Outcome("pending", node.id, "the node's answer lists no recipients")
        return _Outcome(
            "relayed",
            node.id,
            reference=str(answer.get("reference", ""))[:20] or None,
            recipients=tuple(str(r.get("name", ""))[:120] for r in names[:100]),
        )
    detail = str(answer.get("detail") or answer.get("title") or response.status_code)[:300]
    if response.status_code == 422:
        return _Outcome("refused", node.id, detail)  # the register disagrees: final
    # anything else may pass (a clock, a snapshot or an upgrade lagging there): again later
    return _Outcome("pending", node.id, detail)


def _record(
    sessions: sessionmaker[Session], event_id: str, outcome: _Outcome, now: datetime
) -> str:
    """Write the outcome; returns the relay's status after it."""
    with transaction(sessions) as session:
        relay = session.get(MoveRelay, event_id)
        if relay is None or relay.status != "pending":
            return relay.status if relay is not None else "pending"
        relay.attempts += 1
        relay.node_id = outcome.node_id or relay.node_id
        relay.last_error = outcome.error
        status = outcome.status
        if status == "pending" and relay.attempts >= MAX_ATTEMPTS:
            status = "refused"
            log.error("move relay %s given up after %d attempts", event_id, relay.attempts)
        if status == "pending":
            relay.next_attempt_at = now + _backoff(relay.attempts)
            log.warning("move relay %s not sent yet: %s", event_id, outcome.error)
            return status
        relay.status = status
        if status == "refused":
            _tell_not_reached(session, event_id, relay.from_jurisdiction)
        if status == "relayed":
            relay.remote_reference = outcome.reference
            relay.remote_recipients = list(outcome.recipients)
            relay.relayed_at = now
        return status


def _tell_not_reached(session: Session, event_id: str, city_code: str) -> None:
    """The old city's agencies will not hear of the move: the citizen is told, with what to
    do, as when an agency here cannot be reached."""
    event = session.get(LifeEvent, event_id)
    if event is None:
        return
    city = catalog.get_jurisdiction(session, city_code)
    names = {
        lang: t("notify.relay.city_agencies", lang, city=_city(city, city_code, lang))
        for lang in ("zh-TW", "en")
    }
    outbox.tell_citizen_not_reached(session, event, names)


def _city(city: catalog.JurisdictionView | None, code: str, lang: str) -> str:
    if city is None:
        return code
    return city.name_en if lang == "en" else city.name_zh


@dataclass(frozen=True)
class RelayView:
    status: str
    from_jurisdiction: str
    remote_reference: str | None
    remote_recipients: tuple[str, ...]
    last_error: str | None
    attempts: int
    remote_statuses: tuple[dict[str, str], ...] = ()
    """Each agency there, ``{"name_zh", "name_en", "status"}``, as last asked."""


def relay_of(session: Session, event_id: str) -> RelayView | None:
    """Where the 遷出 half of a 遷入 stands, for the pages that show the event."""
    row = session.get(MoveRelay, event_id)
    if row is None:
        return None
    return RelayView(
        row.status,
        row.from_jurisdiction,
        row.remote_reference,
        tuple(row.remote_recipients or ()),
        row.last_error,
        row.attempts,
        tuple(row.remote_statuses or ()),
    )
