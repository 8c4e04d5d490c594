"""Ports the demo needs, checked before anything is built: a taken one stops the demo with a
sentence naming it (another demo on this machine, most likely), never a half-started demo
whose deliveries go to someone else's receivers."""

from __future__ import annotations

import ipaddress
import random
import socket
import threading
from collections.abc import Iterable

import typer

from onceonly.i18n import t


def first_taken(needed: Iterable[tuple[str, int]]) -> int | None:
    """The first port of ``needed`` (address, port) that cannot be bound, or ``None``."""
    for address, number in needed:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                probe.bind((address, number))
            except OSError:
                return number
    return None


QUIET_PORTS = range(20000, 28000)
"""Below Linux's ephemeral range (32768-60999 by default), from which outgoing connections
take their local ports. A port the kernel hands out for ``bind(0)`` lies in that range, so a
server started (or restarted) a while after its port was chosen could find it taken by some
connection meanwhile; a federation node restarted in a test did (``address already in use``)."""

DEMO_BASE_PORTS = range(28000, 31900)
"""Where a test picks a whole demo's ``--port``: the ports the demo derives from it (its
gateways, receivers and mail sink, a few dozen above) stay below the ephemeral range too, and
apart from :data:`QUIET_PORTS`. A demo builds its data for seconds before it binds them, and a
server's port picked meanwhile by another test process must not be one of them (a demo's mail
sink once found its port taken so)."""


_HANDED_OUT: set[int] = set()
"""Ports :func:`free_port` gave in this process. A port is free when picked but bound only
later (a federation picks all its ports, then builds its data for seconds), so the same
port must not be handed out twice meanwhile."""
_HANDING_OUT = threading.Lock()


def free_port(address: str = "127.0.0.1") -> int:
    """A port free now on ``address`` that no outgoing connection will take, and not handed
    out before by this process (unless every port of the range has been: then the oldest
    picks are long bound or closed, and are picked from again)."""
    pick = random.SystemRandom()  # not the seeded generator: parallel test processes differ
    with _HANDING_OUT:
        for attempt in range(400):
            if attempt == 200:
                _HANDED_OUT.clear()
            port = pick.randrange(QUIET_PORTS.start, QUIET_PORTS.stop)
            if port not in _HANDED_OUT and first_taken([(address, port)]) is None:
                _HANDED_OUT.add(port)
                return port
    raise RuntimeError(f"no free port in {QUIET_PORTS.start}-{QUIET_PORTS.stop - 1}")


def share_of(ports: range, index: int, shares: int, margin: int = 0) -> range:
    """The ``index``-th of ``shares`` equal parts of ``ports``, less ``margin`` at its top.

    Processes that pick ports side by side (parallel test workers) each pick from their own
    part: a port one picked and has not bound yet can then never be picked by another."""
    size = len(ports) // shares
    start = ports.start + index * size
    return range(start, start + size - margin)


def refuse_taken(needed: Iterable[tuple[str, int]], web: int, message: str) -> None:
    """Exit 2 with ``message`` (a key taking ``port`` and ``web``) in both languages when a
    port of ``needed`` is taken."""
    taken = first_taken(needed)
    if taken is not None:
        typer.echo(t(message, "zh-TW", port=taken, web=web), err=True)
        typer.echo(t(message, "en", port=taken, web=web), err=True)
        raise typer.Exit(2)


def reaches_loopback(host: str) -> bool:
    """Whether a server listening on ``host`` answers on 127.0.0.1 (loopback or wildcard)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
