"""What evidence requests need at run time: who asks (:class:`Actor`) and the app's
:class:`Exchange` (owners, caches, the audit writer, the pool, the other nodes)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from onceonly import cache_versions
from onceonly.audit.group_commit import GroupCommitter
from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.exchange.fanout import ConnectRemote, RemoteNodes
from onceonly.exchange.key_cache import KeyCache
from onceonly.policy.previews import PreviewBook
from onceonly.policy.purpose import CaseLookup
from onceonly.policy.rule_cache import RuleCache
from onceonly.providers.registry import ProviderDirectory, load_providers


@dataclass(frozen=True)
class Actor:
    """Who asks: the signed-in clerk (or agency system) and their agency."""

    username: str
    badge: str
    role: str
    agency: str
    credential: Mapping[str, Any] | None = None
    """The session or token used and who issued it (``Principal.credential``); recorded in
    every audit entry of the request."""

    def audit_details(self) -> dict[str, Any]:
        """What the actor adds to an audit entry's ``details``: the credential, when known."""
        return {"credential": dict(self.credential)} if self.credential else {}


class ActorOf(Protocol):
    """Says who asks (or refuses them with a 401 or 403 :class:`Problem`), given the cache
    counters this request read; ``release`` hands back the connection the request holds,
    for a lookup that needs one of its own."""

    def __call__(
        self, versions: cache_versions.Versions, release: Callable[[], object]
    ) -> Actor: ...


@dataclass
class Exchange:
    """What evidence requests need at run time; one per app, shared by every request."""

    settings: Settings
    sessions: sessionmaker[Session]
    providers: ProviderDirectory
    catalog: catalog.CachedCatalog = field(default_factory=catalog.CachedCatalog)
    rules: RuleCache = field(default_factory=RuleCache)
    signing_keys: KeyCache = field(default_factory=KeyCache)
    audit: GroupCommitter | None = None
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(32, thread_name_prefix="owner")
    )
    remote: RemoteNodes | None = None
    """Other nodes, on a federation node (wired by the app factory through
    ``app.state.connect_remote``, see :func:`exchange_for`); ``None`` stand-alone."""
    cases: CaseLookup | None = None
    """Where a request's case is checked (the cases capability, wired by the app factory);
    without it no clerk's request is answered."""
    previews: PreviewBook | None = None
    """Where evidence waits for the citizen's preview (the citizen portal, wired by the app
    factory); without it a piece whose rule demands a preview is not handed out."""

    def __post_init__(self) -> None:
        if self.audit is None:
            self.audit = GroupCommitter(self.sessions)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.providers.close()
        if self.remote is not None:
            self.remote.close()


_MAKING_EXCHANGE = threading.Lock()


def exchange_for(app_state: Any) -> Exchange:
    """The app's exchange (``app.state.exchange``), made on first use so the app starts even
    before demo data exists; shared by the evidence API, the cases API and the counter. Made
    once: the first requests of a busy start would otherwise each make one, and all but the
    last would keep their owner threads and peer connections open, unclosed."""
    exchange: Exchange | None = getattr(app_state, "exchange", None)
    if exchange is not None:
        return exchange
    with _MAKING_EXCHANGE:
        return _make_exchange(app_state)


def _make_exchange(app_state: Any) -> Exchange:
    exchange: Exchange | None = getattr(app_state, "exchange", None)
    if exchange is None:
        settings = app_state.settings
        providers = load_providers(settings.registries_dir)
        connect: ConnectRemote | None = getattr(app_state, "connect_remote", None)
        exchange = Exchange(
            settings=settings,
            sessions=app_state.sessions,
            providers=providers,
            cases=getattr(app_state, "case_lookup", None),
            previews=getattr(app_state, "preview_book", None),
            remote=connect(settings, set(providers.owners())) if connect else None,
        )
        app_state.exchange = exchange
    return exchange
