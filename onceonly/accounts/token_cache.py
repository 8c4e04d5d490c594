"""API tokens resolved once per worker process, never trusted past a change or an expiry.

An agency system sends its bearer token with every request, and resolving it cost a query
joining the token and its account (and a write a minute). A :class:`TokenCache` keeps the
:class:`Principal` of each token, keyed by the token's hash, under the ``tokens`` counter of
:mod:`onceonly.cache_versions`; triggers bump it in the transaction that revokes, issues or
removes a token or changes the account behind one (role, agency, disabled...). Each request
reads the counters first, so a token revoked through any worker stops the very next request.
Expiry is checked on every request against the stored time, and once a minute the token goes
through :func:`resolve_api_token` again so that ``last_used_at`` stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from onceonly import cache_versions
from onceonly.accounts.api_tokens import get_api_token, hash_token, resolve_api_token
from onceonly.accounts.principal import SESSION_TOUCH_SECONDS, Principal
from onceonly.db import transaction, utcnow


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime
    checked_at: datetime
    """When the database last confirmed (and touched) the token."""


class TokenCache:
    """One per app (``app.state.token_cache``)."""

    def __init__(self) -> None:
        self._memo = cache_versions.VersionedMemo("tokens")

    def resolve(
        self,
        sessions: sessionmaker[Session],
        plain: str,
        *,
        lang: str | None = None,
        versions: cache_versions.Versions | None = None,
        before_lookup: Callable[[], object] | None = None,
    ) -> Principal:
        """:func:`resolve_api_token`, served from memory while nothing about the token or
        its account changed; refusals (401) are never cached. ``versions``: the counters
        when the caller has just read them for this request. ``before_lookup``: called
        before the database is asked (a miss), to hand back a connection the caller holds,
        since the lookup takes one of its own and a pool of callers each holding one and
        waiting for a second would wait for ever."""
        now = utcnow()
        if versions is None:
            with sessions() as db:
                versions = cache_versions.read(db)
        key = hash_token(plain)
        entry: _Entry | None = self._memo.peek(versions, key)
        if (
            entry is not None
            and now < entry.expires_at
            and (now - entry.checked_at).total_seconds() < SESSION_TOUCH_SECONDS
        ):
            return entry.principal
        self._memo.forget(key)
        if before_lookup is not None:
            before_lookup()
        with transaction(sessions) as db:
            principal = resolve_api_token(db, plain, now=now, lang=lang)
            view = get_api_token(db, principal.token_id) if principal.token_id else None
        if view is not None:
            self._memo.put(versions, key, _Entry(principal, view.expires_at, now))
        return principal


def token_cache(app_state: object) -> TokenCache:
    """The app's token cache, made on first use."""
    cache: TokenCache | None = getattr(app_state, "token_cache", None)
    if cache is None:
        cache = TokenCache()
        app_state.token_cache = cache  # type: ignore[attr-defined]
    return cache
