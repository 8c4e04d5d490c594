"""Ports the demo needs, checked before anything is built: a taken one stops the demo with a
sentence naming it (another demo on this machine, most likely), never a half-started demo
whose deliveries go to someone else's receivers."""

from __future__ import annotations

import ipaddress
import socket
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
