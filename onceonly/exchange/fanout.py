"""Land and buildings across federation nodes: a dataset searched in every jurisdiction is asked
of this node's own offices and, once each, of every other node holding it.

名下無住宅 ("owns no home") holds only if it holds in every jurisdiction. Answering it from this
node's land offices alone would tell a 臺北市 clerk "yes" about a citizen with a home in 宜蘭縣,
and let them skip paper they should have brought. So each other node the directory's snapshot
lists as holding the dataset is asked once (it decides by its own offices' rules, asks each of
them, signs and audits under the same request id); when the snapshot cannot be trusted the
piece fails rather than answer from here alone.

A forwarded request is answered at the other node by its local-only exchange
(:attr:`onceonly.federation.peer.PeerState.exchange` has no ``remote``), so it never fans out
again: no loops, and each node is asked once per piece.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from onceonly.config import Settings
from onceonly.exchange.schemas import EvidenceAsk, EvidenceResult, IssuedTranscript
from onceonly.i18n import both

NO_HOLDINGS = frozenset({"not_found"})
"""Another node's statuses that mean "holds nothing about this person there"; every other
status but ``issued`` stops the piece with that node's reason."""


class HoldersUnknown(Exception):
    """Who else holds a dataset cannot be told (the federation's directory snapshot is
    missing, expired or badly signed): ``code`` and ``detail`` say why. Raised by
    :meth:`RemoteNodes.holders_elsewhere`; the federation's ``SnapshotRefused`` is one."""

    def __init__(self, code: str, detail: str = "", why: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.why = dict(why) if why else {"zh-TW": detail or code, "en": detail or code}
        """Why, in words, in each language: what a clerk reads (``code`` is for programs)."""


class RemoteNodes(Protocol):
    """Other federation nodes (:mod:`onceonly.federation.remote`): a piece whose owner is
    hosted elsewhere is decided, fetched, signed and audited there under the same request id."""

    def is_remote(self, owner: str) -> bool: ...

    def holders_elsewhere(self, dataset: str) -> dict[str, list[str]]:
        """Node -> its offices holding ``dataset``; raises :class:`HoldersUnknown`."""
        ...

    def peer_keys(self) -> list[dict[str, Any]]: ...

    def forward(
        self,
        owner: str,
        *,
        dataset: str,
        ask: EvidenceAsk,
        request_id: str,
        case_id: str,
        application_item: str,
        subject: str,
        actor: dict[str, str],
        about: str | None = None,
    ) -> EvidenceResult: ...

    def close(self) -> None: ...


class Routes:
    """Several ways of answering a piece not answered by a connector on this node (owners'
    gateways, other federation nodes), asked as one: each owner goes to the first that
    serves it. The exchange never asks which."""

    def __init__(self, routes: list[RemoteNodes]) -> None:
        self.routes = routes

    def _for(self, owner: str) -> RemoteNodes | None:
        return next((r for r in self.routes if r.is_remote(owner)), None)

    def is_remote(self, owner: str) -> bool:
        return self._for(owner) is not None

    def holders_elsewhere(self, dataset: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for route in self.routes:
            found.update(route.holders_elsewhere(dataset))
        return found

    def peer_keys(self) -> list[dict[str, Any]]:
        return [key for route in self.routes for key in route.peer_keys()]

    def forward(self, owner: str, **asked: Any) -> EvidenceResult:
        route = self._for(owner)
        if route is None:
            raise LookupError(f"no route to {owner}")
        return route.forward(owner, **asked)

    def close(self) -> None:
        for route in self.routes:
            route.close()


def connect_all(*connects: ConnectRemote) -> ConnectRemote:
    """One :data:`ConnectRemote` asking each in turn (gateways before other nodes)."""

    def connect(settings: Settings, local_owners: set[str]) -> RemoteNodes | None:
        found = [r for c in connects if (r := c(settings, local_owners)) is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else Routes(found)

    return connect


ConnectRemote = Callable[[Settings, set[str]], RemoteNodes | None]
"""How the app factory reaches other nodes (``onceonly.federation.remote.connect``): given the
settings and the owners served here, the other nodes, or ``None`` when this is no federation
node. Kept as ``app.state.connect_remote``."""


@dataclass(frozen=True)
class Refusal:
    """Why a piece stops, in the exchange's usual reason format."""

    status: str
    reason: dict[str, str]
    retry_after: int | None = None
    cause: str | None = None
    """A node's certificate refused: only an operator can help (``EvidenceResult.cause``)."""


@dataclass
class Elsewhere:
    """The other nodes asked for one piece and what each answered."""

    holders: dict[str, list[str]]
    """Node id -> the offices holding the dataset there, as the snapshot lists them."""
    results: dict[str, EvidenceResult] = field(default_factory=dict)

    def offices(self) -> list[str]:
        """Every office asked elsewhere: those a node answered for, else those listed."""
        named = []
        for node, listed in sorted(self.holders.items()):
            result = self.results.get(node)
            named.extend(result.owners if result is not None and result.owners else listed)
        return named

    def refusal(self) -> Refusal | None:
        """The first node (by id) that denied, could not answer, or issued nothing signed."""
        for node in sorted(self.holders):
            result = self.results.get(node)
            if result is None:
                continue
            unanswered = result.predicate is not None and result.answer is None
            if result.status == "issued" and (unanswered or not result.transcripts):
                return Refusal("failed", both("federation.elsewhere_unsigned", node=node))
            if result.status != "issued" and result.status not in NO_HOLDINGS:
                reason = result.reason.model_dump(by_alias=True)
                return Refusal(result.status, reason, result.retry_after, result.cause)
        return None

    def issued(self) -> list[EvidenceResult]:
        """The answers of the nodes that issued, by node id."""
        return [
            self.results[node]
            for node in sorted(self.holders)
            if node in self.results and self.results[node].status == "issued"
        ]

    def transcripts(self) -> list[IssuedTranscript]:
        """The other nodes' transcripts, already verified against their keys by ``forward``."""
        return [issued for result in self.issued() for issued in result.transcripts]

    def audit_details(self) -> dict[str, Any]:
        """What the asking node's audit entry says of each node asked (their own logs hold
        their part under the same request id)."""
        return {
            node: {
                "offices": listed,
                "status": self.results[node].status if node in self.results else "no_answer",
            }
            for node, listed in sorted(self.holders.items())
        }


def locate(remote: RemoteNodes, dataset: str) -> Elsewhere | Refusal | None:
    """The other nodes to ask for ``dataset`` (``None`` when none holds it); a refusal when
    the snapshot cannot say, since this node's offices alone may not answer."""
    try:
        holders = remote.holders_elsewhere(dataset)
    except HoldersUnknown as exc:
        reason = both("federation.holders_unknown", dataset=dataset, why=exc.why)
        return Refusal("failed", reason, 60)
    return Elsewhere(holders) if holders else None


def ask_each(
    pool: ThreadPoolExecutor,
    remote: RemoteNodes,
    elsewhere: Elsewhere,
    forwarded: Mapping[str, Any],
) -> list[tuple[str, str, Future[EvidenceResult]]]:
    """One forwarded request per node (``forwarded``: the keyword arguments of
    :meth:`RemoteNodes.forward`), started now on ``pool``, as (node, office, future): the node
    is found by the first office it holds and answers for all of them."""
    return [
        (node, offices[0], pool.submit(remote.forward, offices[0], **forwarded))
        for node, offices in sorted(elsewhere.holders.items())
    ]
