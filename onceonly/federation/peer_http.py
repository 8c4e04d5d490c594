"""Posting to another node's listener or an owner's gateway over pooled mutual-TLS connections.

urllib3 rather than httpx on this path: in the cross-node bench the asking node's one Python
thread is what limits throughput, and httpx's client (its request and URL models, its pool's
bookkeeping under one lock) was 17 % of that thread's samples; urllib3 over the same sockets
costs about a third of that.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3 import exceptions as errors
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool

PEER_KEEP_ALIVE_SECONDS = 30.0
"""How long a listener (another node's, or an owner's gateway) keeps an idle connection open.
Callers drop theirs at half that, so no request goes out on a connection the listener is just
closing: at equal timeouts (both five seconds) about one forwarded request in 2,500 failed as
"cannot reach the node" under load."""

CALLER_KEEP_ALIVE_SECONDS = PEER_KEEP_ALIVE_SECONDS / 2

MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The most of a peer's answer read: an answer is a few signed transcripts, and a member node
must not be able to fill this node's memory with one."""


class PeerError(Exception):
    """No answer came from the peer; the message says why, in words."""


class PeerTimeout(PeerError):
    """The peer did not connect or answer within the timeout."""


class PeerUnreachable(PeerError):
    """No answer from the peer: refused, reset, or the TLS handshake failed (``tls`` then holds
    what the handshake said, e.g. that a certificate is revoked)."""

    def __init__(self, detail: str, tls: str | None = None) -> None:
        super().__init__(detail)
        self.tls = tls


@dataclass(frozen=True, slots=True)
class PeerResponse:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class _ExpiringConnection(HTTPSConnection):
    """A pooled connection that counts as dropped once idle for :data:`CALLER_KEEP_ALIVE_SECONDS`,
    so the pool opens a new one instead (urllib3 itself only notices a connection the peer has
    already closed)."""

    answered_at = float("inf")

    @property
    def is_connected(self) -> bool:
        if time.monotonic() - self.answered_at > CALLER_KEEP_ALIVE_SECONDS:
            return False
        return super().is_connected

    def getresponse(self) -> Any:
        response = super().getresponse()
        self.answered_at = time.monotonic()
        return response


class _ExpiringPool(HTTPSConnectionPool):
    ConnectionCls = _ExpiringConnection


def _tls_refusal(exc: BaseException) -> str | None:
    """What a failed handshake said, from anywhere in the exception's chain; None when the
    failure was not about TLS."""
    text = repr(exc) + repr(exc.__cause__) + repr(exc.__context__)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "certificate", "TLSV1_ALERT", "SSL"):
        if marker in text:
            return text.split("(", 1)[-1][:160]
    return None


class PeerClients:
    """One connection pool per peer, shared by the exchange's owner threads."""

    def __init__(self, context: ssl.SSLContext, timeout: float, connections: int = 32) -> None:
        self._manager = urllib3.PoolManager(
            num_pools=64,
            maxsize=connections,
            ssl_context=context,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
        )
        self._manager.pool_classes_by_scheme = {
            **self._manager.pool_classes_by_scheme,
            "https": _ExpiringPool,
        }

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> PeerResponse:
        """The peer's whole answer; :class:`PeerTimeout` or :class:`PeerUnreachable` when there
        is none. Nothing is retried: a signed request is good once."""
        try:
            response = self._manager.request(
                method, url, body=body, headers=headers, redirect=False, preload_content=False
            )
            complete = False
            try:
                content = response.read(MAX_ANSWER_BYTES + 1)
                complete = len(content) <= MAX_ANSWER_BYTES
            finally:
                if not complete:
                    response.close()  # a connection with an answer half read is not reused
                response.release_conn()
        except errors.NewConnectionError as exc:  # a ConnectTimeoutError to urllib3, not to us
            raise PeerUnreachable(f"could not connect: {exc}") from exc
        except errors.TimeoutError as exc:
            raise PeerTimeout(f"no answer in time: {exc}") from exc
        except errors.SSLError as exc:
            tls = _tls_refusal(exc) or str(exc)[:160]
            raise PeerUnreachable(f"TLS handshake refused: {tls}", tls) from exc
        except errors.HTTPError as exc:
            raise PeerUnreachable(f"could not reach it: {exc}", _tls_refusal(exc)) from exc
        if len(content) > MAX_ANSWER_BYTES:
            raise PeerUnreachable(f"its answer was longer than {MAX_ANSWER_BYTES:,} bytes")
        return PeerResponse(response.status, content)

    def get(self, url: str) -> PeerResponse:
        return self.request("GET", url)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PeerResponse:
        return self.request("POST", url, body, headers)

    def close(self) -> None:
        self._manager.clear()
