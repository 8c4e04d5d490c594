"""Replay protection that survives a restart: the nonces of accepted requests, in the node's
database (table ``federation_nonces``).

A signed request is valid for :data:`~onceonly.federation.signing.MAX_SKEW` seconds either
side of the receiver's clock. An in-memory record would be empty after a restart, and a request
captured on the wire could then be replayed inside that window. Here each accepted nonce is
inserted under the unique key (peer, nonce) and committed before the request is acted on; a
second insert of the same key fails in the database, so two concurrent copies of one request are
decided by the database too (SQLite serialises writers; PostgreSQL's unique index makes the
later insert wait for the earlier and then fail). The nonces of concurrent requests share one
commit (:class:`onceonly.group_commit.GroupCommit`; a failing insert is retried alone, so only
the replayed copy is refused). Rows past their expiry are deleted now and then by whichever
request comes along.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import transaction, utcnow
from onceonly.federation.models import SeenNonce
from onceonly.federation.signing import MAX_SKEW
from onceonly.group_commit import GroupCommit
from onceonly.prepared import Prepared

_INSERT = Prepared(insert(cast(Table, SeenNonce.__table__)))
"""Every forwarded request inserts one (:mod:`onceonly.prepared`)."""


class DurableNonceStore:
    """Insert-or-refuse on the node's database; see the module doc."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ttl: float = 2 * MAX_SKEW,
        purge_every: float = 60.0,
    ) -> None:
        self.sessions = sessions
        self.ttl = timedelta(seconds=ttl)
        """A request is at most ``MAX_SKEW`` old when first accepted and refused for its time
        ``MAX_SKEW`` later, so two windows cover it with the receiver's clock alone."""
        self.purge_every = purge_every
        self._last_purge = float("-inf")
        self._lock = threading.Lock()
        self._group: GroupCommit[tuple[str, str], None] = GroupCommit(sessions, self._insert)

    def _insert(self, session: Session, seen: Sequence[tuple[str, str]]) -> list[None]:
        expires_at = utcnow() + self.ttl
        _INSERT.many(
            session,
            [{"peer": peer, "nonce": nonce, "expires_at": expires_at} for peer, nonce in seen],
        )
        return [None] * len(seen)

    def first_use(self, peer: str, nonce: str) -> bool:
        """Record ``nonce`` of ``peer``, committed; ``False`` if the database already has it."""
        self._purge_now_and_then()
        try:
            self._group.submit((peer, nonce))
        except IntegrityError:
            return False
        return True

    def purge(self) -> int:
        """Delete expired nonces; how many went."""
        with transaction(self.sessions) as session:
            result = session.execute(delete(SeenNonce).where(SeenNonce.expires_at < utcnow()))
        return int(getattr(result, "rowcount", 0) or 0)

    def _purge_now_and_then(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_purge < self.purge_every:
                return
            self._last_purge = now
        self.purge()
