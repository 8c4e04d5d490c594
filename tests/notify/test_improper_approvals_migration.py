"""Migration 0031 on a database holding subscriptions approved the old way, each with
deliveries queued: one approved by an account of the subscribing agency itself, one by an
agency system's account, one approved so and revoked since, and one a person at the owner
approved (plus a pull one approved by trusted code, which is no account). The upgrade revokes
the first two in words, the worker then sends nothing queued for the first three and still
sends the proper one, and the downgrade leaves the data as it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly import migrations
from onceonly.accounts.users import create_user
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.notify import outbox
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.feed import read_feed
from onceonly.notify.models import Delivery, Subscription
from onceonly.notify.receiver import read_applied
from onceonly.notify.subscriptions import (
    OWNER_AGENCY,
    SubscriptionRequest,
    approve_subscription,
    request_subscription,
    revoke_subscription,
)
from onceonly.notify.worker import deliver_all
from tests.notify.conftest import ThreadedReceiver, citizen
from tests.notify.test_worker import FAST

BEFORE = "0030_carried_read_once"
REVISION = "0031_improper_approvals_revoked"
# (case, subscribing agency, approver); the approvers are the accounts made in _accounts
CASES = {
    "own-agency": (OWNER_AGENCY, "moi-hh-person"),
    "system": ("taipei-city.tax_office", "fia-system"),
    "revoked-since": (OWNER_AGENCY, "moi-hh-person"),
    "proper": ("taipei-city.land_office", "moi-household-owner"),
}
PULL_AGENCY = "taipei-city.social_welfare"


@dataclass
class Stored:
    """The database at 0030, and what was written to it."""

    url: str
    sessions: sessionmaker[Session]
    subscriptions: dict[str, int]
    """By case, and the pull one as ``pull``."""
    receivers: dict[str, ThreadedReceiver]

    def deliveries(self, case: str) -> list[tuple[str, int | None, str | None]]:
        with transaction(self.sessions) as db:
            of = Delivery.subscription_id == self.subscriptions[case]
            query = select(Delivery).where(of).order_by(Delivery.id)
            return [(d.status, d.feed_position, d.last_error) for d in db.scalars(query)]

    def subscription(self, case: str) -> Subscription:
        with transaction(self.sessions) as db:
            sub = db.get(Subscription, self.subscriptions[case])
            assert sub is not None
            db.expunge(sub)
            return sub


def _accounts(db: Session) -> None:
    """A person at the owner (proper), another person there (approving its own agency's
    subscription) and a system account at another national agency."""
    create_user(db, "moi-household-owner", None, "owner", OWNER_AGENCY, "戶政司", password_hash="x")
    create_user(db, "moi-hh-person", None, "owner", OWNER_AGENCY, "戶政司", password_hash="x")
    create_user(db, "fia-system", None, "owner", "central.fia", "財政資訊中心系統")


def _subscribe(db: Session, agency: str, approver: str, url: str | None) -> int:
    """Asked for, and approved as the code before 89eb459 let ``approver`` do."""
    mode = "push" if url else "pull"
    view = request_subscription(
        db,
        SubscriptionRequest(
            agency_code=agency,
            event_kinds=["death"],
            legal_basis="household-registration-act",
            fields=["death_date"],
            mode=mode,
            webhook_url=url,
        ),
        requested_by=f"test:{agency}",
    )
    approve_subscription(db, view.id, approver, None, "ok")
    return view.id


def _record_deaths(sessions: sessionmaker[Session], *people: int) -> None:
    for n in people:
        with transaction(sessions) as db:
            death = {"death_date": "2026-01-01"}
            record_life_event(db, LifeEventIn(kind="death", national_id=citizen(n), payload=death))


@pytest.fixture
def stored(empty_database_url: str, tmp_path: Path) -> Iterator[Stored]:
    migrations.upgrade(empty_database_url, BEFORE)
    engine = make_engine(empty_database_url)
    sessions = make_session_factory(engine)
    subscriptions: dict[str, int] = {}
    receivers: dict[str, ThreadedReceiver] = {}
    with transaction(sessions) as db:
        _accounts(db)
        for case, (agency, approver) in CASES.items():
            port = free_port()
            url = f"http://127.0.0.1:{port}/webhook"
            subscriptions[case] = _subscribe(db, agency, approver, url)
            secret = db.get(Subscription, subscriptions[case]).secret  # type: ignore[union-attr]
            receivers[case] = ThreadedReceiver(secret, tmp_path / f"{case}.sqlite", port=port)
        subscriptions["pull"] = _subscribe(db, PULL_AGENCY, f"demo:{OWNER_AGENCY}.owner", None)
    _record_deaths(sessions, 1, 2)
    with transaction(sessions) as db:
        revoke_subscription(db, subscriptions["revoked-since"], "moi-household-owner", None, "已停")
    yield Stored(empty_database_url, sessions, subscriptions, receivers)
    engine.dispose()


def test_0031_revokes_improper_approvals_and_the_worker_sends_only_the_proper_one(
    stored: Stored,
) -> None:
    for case in CASES:
        assert [s for s, _, _ in stored.deliveries(case)] == ["pending", "pending"], case

    migrations.upgrade(stored.url)
    assert migrations.current_revision(stored.url) == REVISION

    own, system = stored.subscription("own-agency"), stored.subscription("system")
    for sub, approver in ((own, "moi-hh-person"), (system, "fia-system")):
        assert (sub.status, sub.revoked_by) == ("revoked", "migration:0031")
        assert sub.revoked_at is not None
        assert (sub.decided_by, sub.decision_reason) == (approver, "ok"), "who approved stays"
        assert sub.revoke_reason is not None and "重新申請" in sub.revoke_reason
        assert sub.revoke_reason.index("重新申請") < sub.revoke_reason.index("ask again")
    assert "申請機關自己的帳號" in (own.revoke_reason or "")
    assert "機關系統帳號" in (system.revoke_reason or "")
    earlier = stored.subscription("revoked-since")
    assert (earlier.status, earlier.revoke_reason) == ("revoked", "已停"), "its own reason stays"
    proper = stored.subscription("proper")
    assert (proper.status, proper.revoked_at) == ("approved", None)

    # the worker, against every receiver: only the proper one hears anything
    receivers = stored.receivers
    with (
        receivers["own-agency"] as own_end,
        receivers["system"] as system_end,
        receivers["revoked-since"] as revoked_end,
        receivers["proper"] as proper_end,
    ):
        assert deliver_all(stored.sessions, FAST, timeout=15) == 0
    for end in (own_end, system_end, revoked_end):
        assert read_applied(end.db_path) == []
    # two citizens' events, posted at once: in either order
    applied = sorted(subject for _, subject, _ in read_applied(proper_end.db_path))
    assert applied == sorted([citizen(1), citizen(2)])
    assert [(s, e) for s, _, e in stored.deliveries("proper")] == [("processed", None)] * 2
    for case in ("own-agency", "system", "revoked-since"):
        rows = stored.deliveries(case)
        assert [(s, p) for s, p, _ in rows] == [("dead", None)] * 2, case
        assert all("不再傳送" in (e or "") and "Never sent" in (e or "") for _, _, e in rows)
    with transaction(stored.sessions) as db:
        assert outbox.list_dead_letters(db) == [], "nothing for an administrator to replay"

    # an approval by no account (trusted code) is left, and its feed still serves
    assert [(s, p) for s, p, _ in stored.deliveries("pull")] == [("pending", 1), ("pending", 2)]
    with transaction(stored.sessions) as db:
        page = read_feed(db, PULL_AGENCY)
        assert [e["subject"] for e in page.events] == [citizen(1), citizen(2)]
    # a new event reaches the proper ones only
    _record_deaths(stored.sessions, 3)
    assert len(stored.deliveries("proper")) == len(stored.deliveries("pull")) == 3
    assert len(stored.deliveries("own-agency")) == len(stored.deliveries("system")) == 2


def test_0031_goes_down_leaving_the_data_and_up_again_changing_nothing(stored: Stored) -> None:
    migrations.upgrade(stored.url)
    fixed = {case: stored.deliveries(case) for case in CASES}
    revoked_at = stored.subscription("own-agency").revoked_at

    command.downgrade(migrations.alembic_config(stored.url), BEFORE)
    assert migrations.current_revision(stored.url) == BEFORE
    assert {case: stored.deliveries(case) for case in CASES} == fixed
    assert stored.subscription("own-agency").status == "revoked"
    assert stored.subscription("system").status == "revoked"

    migrations.upgrade(stored.url)
    assert migrations.current_revision(stored.url) == REVISION
    assert {case: stored.deliveries(case) for case in CASES} == fixed
    assert stored.subscription("own-agency").revoked_at == revoked_at, "not revoked twice"
