"""The owners' active signing keys kept per worker process, never older than the request.

Every evidence answer is signed by each owner that answered, so the exchange asked the
database for the same few active keys on every request. A :class:`KeyCache` keeps them under
the ``keys`` counter of :mod:`onceonly.cache_versions` (bumped by a trigger on any change to
``signing_keys``): after a rotation on any worker, the next request signs with the new key.
Private halves are already kept in memory by :mod:`onceonly.exchange.keys`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from onceonly.cache_versions import VersionedMemo, Versions
from onceonly.config import Settings
from onceonly.exchange import keys
from onceonly.exchange.keys import SigningKey


class KeyCache:
    """One per app (``Exchange.signing_keys``)."""

    def __init__(self) -> None:
        self._memo = VersionedMemo("keys")

    def ensure_keys(
        self, session: Session, settings: Settings, versions: Versions, agencies: Iterable[str]
    ) -> dict[str, SigningKey]:
        """:func:`keys.ensure_keys` as of ``versions``. An owner without a key yet gets one,
        committed before it signs anything (so its public half is published first)."""
        wanted = frozenset(agencies)
        found = self._memo.get(
            versions, wanted, lambda: dict(keys.active_keys(session, settings, wanted))
        )
        if len(found) == len(wanted):
            return dict(found)
        made = keys.ensure_keys(session, settings, wanted)
        session.commit()
        return made
