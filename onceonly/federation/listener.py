"""The federation listener's TLS layer: revocation checked in the handshake, refusals that send
a TLS alert, and the client certificate of each connection handed to the request checks.

- The server's ``SSLContext`` requires a client certificate from the federation CA and checks
  it against the CRL (``VERIFY_CRL_CHECK_LEAF``), so a revoked node cannot even complete a
  handshake (not even ``GET /healthz``). The CRL comes from the directory's snapshot and is
  loaded again whenever a newer one arrives (:class:`Revocations`): OpenSSL keeps every CRL it
  was given and uses the one with the latest thisUpdate, which :func:`onceonly.pki.ca.current_crl`
  makes strictly increasing. Without any CRL every handshake is refused: fail closed.
- asyncio (before CPython gh-98078 was fixed) drops the alert OpenSSL writes when a handshake
  fails and just closes the socket; :func:`new_event_loop` makes a loop whose TLS transports
  send it first, as blocking sockets do (certificate required, unknown CA, certificate revoked).
- :class:`TlsPeers` remembers each connection's client certificate by the client's address, so
  a request can be checked to come from the node that signed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from asyncio import sslproto
from typing import Any

from cryptography import x509
from fastapi import FastAPI

from onceonly.federation.node import NodeConfig
from onceonly.federation.peer_http import PEER_KEEP_ALIVE_SECONDS
from onceonly.federation.remote import Revocations, tls_context
from onceonly.pki.trust import certificate_from_der


class _AlertingSSLProtocol(sslproto.SSLProtocol):
    """Flushes the fatal alert OpenSSL left in the outgoing buffer before the transport goes
    (the fix CPython itself made for gh-98078)."""

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            with contextlib.suppress(Exception):
                self._process_outgoing()  # type: ignore[attr-defined]
        super()._on_handshake_complete(handshake_exc)


class AlertingEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose TLS transports send the alert when a handshake is refused."""

    def _make_ssl_transport(self, *args: Any, **kwargs: Any) -> Any:
        transport = super()._make_ssl_transport(*args, **kwargs)  # type: ignore[misc]
        protocol = getattr(transport, "_ssl_protocol", None)
        if type(protocol) is sslproto.SSLProtocol:  # not yet running: the handshake starts later
            protocol.__class__ = _AlertingSSLProtocol
        return transport


def new_event_loop() -> asyncio.AbstractEventLoop:
    return AlertingEventLoop()


def server_context(config: NodeConfig) -> ssl.SSLContext:
    """Client certificate required, from the federation CA, and checked against the CRL."""
    context = tls_context(config, server=True)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


class TlsPeers:
    """The client certificate of each open connection, by the client's (host, port)."""

    def __init__(self) -> None:
        self._by_address: dict[tuple[Any, ...], bytes | None] = {}

    def certificate(self, client: Any) -> x509.Certificate | None:
        """The certificate the client at ``client`` (the ASGI scope's ``client``) presented."""
        if not client:
            return None
        der = self._by_address.get(tuple(client)[:2])
        return certificate_from_der(der) if der else None

    def protocol(self, base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
        """``base`` (uvicorn's HTTP protocol) recording each connection's certificate."""
        peers = self

        class Recording(base):  # type: ignore[valid-type,misc]
            _tls_peer: tuple[Any, ...] | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                address = transport.get_extra_info("peername")
                ssl_object = transport.get_extra_info("ssl_object")
                if address is not None:
                    self._tls_peer = tuple(address)[:2]
                    peers._by_address[self._tls_peer] = (
                        ssl_object.getpeercert(binary_form=True) if ssl_object else None
                    )
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                if self._tls_peer is not None:
                    peers._by_address.pop(self._tls_peer, None)
                super().connection_lost(exc)

        return Recording


class PeerListener:
    """The uvicorn server of the federation listener, with its TLS set up as above."""

    def __init__(self, config: NodeConfig, app: FastAPI, host: str, port: int) -> None:
        import uvicorn
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        self.config = config
        self.snapshots = app.state.peer.snapshots
        peers: TlsPeers = app.state.peer.tls_peers
        uvicorn_config = uvicorn.Config(
            app,
            host,
            port,
            log_level="warning",
            http=peers.protocol(AutoHTTPProtocol),
            timeout_graceful_shutdown=2,
            timeout_keep_alive=int(PEER_KEEP_ALIVE_SECONDS),
        )
        uvicorn_config.load()
        self.context = server_context(config)
        uvicorn_config.ssl = self.context
        self.revocations = Revocations(self.context)
        self.revocations.refresh(self.snapshots)
        self.server = uvicorn.Server(uvicorn_config)

    async def keep_revocations_current(self) -> None:
        """Reload the CRL whenever the directory publishes a new one (every refresh period)."""
        every = max(0.2, self.config.refresh_seconds)
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self.revocations.refresh, self.snapshots)

    async def serve(self) -> None:
        reloading = asyncio.create_task(self.keep_revocations_current())
        try:
            await self.server.serve()
        finally:
            reloading.cancel()
