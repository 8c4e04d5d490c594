"""Replay protection in the node's database, on the backend under test: a nonce stays used
after a restart, concurrent copies are decided by the database, expired nonces go."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import make_engine, make_session_factory
from onceonly.federation.models import SeenNonce
from onceonly.federation.nonces import DurableNonceStore
from onceonly.federation.signing import NodeCredentials, RequestRefused, verify_request
from onceonly.pki import ca
from onceonly.pki.trust import TrustAnchor

NONCE = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SeenNonce)) or 0)


def test_a_nonce_stays_used_across_a_restart(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ca.init_ca(tmp_path / "ca")
    ca.issue_node(tmp_path / "ca", "taipei", tmp_path)
    anchor = TrustAnchor.from_pem(
        (tmp_path / "ca" / "ca.pem").read_bytes(), ca.build_crl(tmp_path / "ca")
    )
    taipei = NodeCredentials.load(
        "taipei", str(tmp_path / "taipei.pem"), str(tmp_path / "taipei.key")
    )
    body = b'{"subject": "G208070727"}'
    peer = x509.load_pem_x509_certificate(taipei.cert_pem)
    as_yilan: dict[str, Any] = {"audience": "yilan", "peer": peer}
    token = taipei.sign("POST", "/federation/v1/evidence", body, audience="yilan")

    before = DurableNonceStore(sessions)
    assert (
        verify_request(token, "POST", "/federation/v1/evidence", body, anchor, before, **as_yilan)[
            "node"
        ]
        == "taipei"
    )
    after_restart = DurableNonceStore(sessions)  # a new process: nothing in memory
    try:
        verify_request(
            token, "POST", "/federation/v1/evidence", body, anchor, after_restart, **as_yilan
        )
    except RequestRefused as refused:
        assert (refused.code, refused.sender) == ("replay", "taipei")
    else:
        raise AssertionError("a replayed request was accepted after a restart")


def test_of_concurrent_copies_exactly_one_is_accepted(sessions: sessionmaker[Session]) -> None:
    stores = [DurableNonceStore(sessions) for _ in range(8)]  # as if eight workers
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def race(store: DurableNonceStore) -> None:
        barrier.wait()
        results.append(store.first_use("taipei", NONCE))

    threads = [threading.Thread(target=race, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    # Another node may happen to pick the same nonce: nonces are per sender.
    assert stores[0].first_use("north-regional", NONCE)
    assert _rows(sessions) == 2


def test_a_replayed_copy_sharing_a_commit_fails_alone(sessions: sessionmaker[Session]) -> None:
    """One node's store commits the nonces of concurrent requests together. A replayed copy
    among them must be refused without taking the genuine requests it was grouped with."""
    store = DurableNonceStore(sessions)
    others = [f"{NONCE[:-2]}{n:02d}" for n in range(12)]
    asked = [NONCE] * 6 + others
    results: dict[int, bool] = {}
    barrier = threading.Barrier(len(asked))

    def race(index: int, nonce: str) -> None:
        barrier.wait()
        results[index] = store.first_use("taipei", nonce)

    threads = [threading.Thread(target=race, args=pair) for pair in enumerate(asked)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    copies = [results[i] for i, nonce in enumerate(asked) if nonce == NONCE]
    assert sorted(copies) == [False] * 5 + [True]
    assert all(results[i] for i, nonce in enumerate(asked) if nonce != NONCE)
    assert _rows(sessions) == 1 + len(others)


def test_expired_nonces_are_purged_by_a_later_request(sessions: sessionmaker[Session]) -> None:
    stale = DurableNonceStore(sessions, ttl=-1)
    for n in range(5):
        assert stale.first_use("taipei", f"{NONCE}-{n}")
    fresh = DurableNonceStore(sessions, purge_every=0)
    assert fresh.first_use("taipei", f"{NONCE}-new")
    assert _rows(sessions) == 1
    assert not fresh.first_use("taipei", f"{NONCE}-new")
