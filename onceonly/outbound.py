"""Where the platform may send requests to URLs that others gave it (webhooks, node endpoints).

An agency registers a webhook URL and the platform POSTs to it; left unchecked, that URL can
point inside the platform's own network (loopback, private ranges, link-local, the cloud's
metadata service at 169.254.169.254) and turn the delivery worker into a proxy for the
attacker (server-side request forgery). Two checks, one policy:

* when a URL is registered, :meth:`OutboundPolicy.refusal` refuses an address written in the
  URL (in any spelling the resolver accepts: ``127.1``, ``2130706433``, ``[::ffff:7f00:1]``)
  and local names such as ``localhost``, without asking DNS;
* when a request is sent, :class:`CheckedTransport` resolves the name, refuses it if any
  address is not public, and connects to the address it checked, so a name that changes its
  answer between the check and the connection (DNS rebinding) gains nothing.

An operator allows an internal receiver explicitly by host name or address
(``ONCEONLY_OUTBOUND_ALLOWED_HOSTS=127.0.0.1,notify.intra``); the demo and tests allow the
loopback receivers they start.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from onceonly.i18n import t

ALLOWED_HOSTS_ENV = "ONCEONLY_OUTBOUND_ALLOWED_HOSTS"
"""Comma-separated host names or addresses the operator allows although they are internal."""

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
"""Names that resolve inside the host or its network by convention (RFC 6761, 6762, 8375;
``.internal`` carries cloud metadata names such as ``metadata.google.internal``)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(httpx.TransportError):
    """A URL the policy does not let the platform reach; ``reason`` says why, in English for
    the delivery log (what people read comes from :meth:`OutboundPolicy.refusal`). A
    transport error, so callers that handle a receiver being down handle this too."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address: not loopback, private, link-local (metadata),
    shared (CGNAT), reserved, multicast or unspecified; IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address.teredo is not None:
            inner = address.teredo[1]
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


def numeric_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the system resolver reads as a number
    (``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``::1``), without a DNS query; else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(found[0][4][0]).split("%")[0])


def lookup(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, extra: Iterable[str] = ()) -> OutboundPolicy:
        """The operator's allow-list from ``ONCEONLY_OUTBOUND_ALLOWED_HOSTS``, plus ``extra``."""
        listed = os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")
        return cls(frozenset(h.strip().lower().strip("[]") for h in [*listed, *extra] if h.strip()))

    def allows_host(self, host: str) -> bool:
        return host.lower().strip("[]").rstrip(".") in self.allowed_hosts

    def refusal(self, url: str, lang: str | None = None) -> str | None:
        """Why the platform must not send to ``url`` (in ``lang``), or None. No DNS: names
        are checked again, resolved, when a request is sent."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        except ValueError:
            return t("outbound.invalid", lang)
        if parts.scheme not in ("http", "https") or not host:
            return t("outbound.invalid", lang)
        if parts.username is not None or parts.password is not None:
            return t("outbound.credentials", lang)
        if self.allows_host(host):
            return None
        address = numeric_address(host)
        if address is not None:
            return None if is_public(address) else t("outbound.internal", lang, host=host)
        if host.lower() in LOCAL_NAMES or host.lower().endswith(LOCAL_SUFFIXES):
            return t("outbound.internal", lang, host=host)
        return None

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``; raises :class:`OutboundRefused` when the
        name does not resolve or any of its addresses is internal and the host not allowed."""
        try:
            addresses = lookup(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundRefused(f"{host} does not resolve: {exc}") from exc
        if self.allows_host(host):
            return addresses
        internal = [a for a in addresses if not is_public(ipaddress.ip_address(a))]
        if internal:
            raise OutboundRefused(
                f"{host} resolves to the internal address {internal[0]}; the operator must "
                f"list the host in {ALLOWED_HOSTS_ENV} to allow it"
            )
        return addresses


class CheckedTransport(httpx.BaseTransport):
    """An httpx transport that sends only where :class:`OutboundPolicy` allows, to the very
    address it checked (TLS still verifies the certificate against the name)."""

    def __init__(self, policy: OutboundPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        written = request.url.netloc.decode("ascii", "replace")
        reason = self.policy.refusal(f"{request.url.scheme}://{written}/", "en")
        if reason is not None:
            raise OutboundRefused(f"{host}: {reason}")
        if numeric_address(host) is not None:  # checked above; nothing to resolve
            return self.inner.handle_request(request)
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = self.policy.resolve(host, port)[0]
        request.url = request.url.copy_with(host=address)
        request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


__all__ = [
    "ALLOWED_HOSTS_ENV",
    "CheckedTransport",
    "OutboundPolicy",
    "OutboundRefused",
    "is_public",
    "numeric_address",
]
