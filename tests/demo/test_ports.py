"""``onceonly demo`` refuses, in words and before building anything, a port it needs that is
taken: the web port, or one of the ports its gateways and tell-us-once receivers derive from
it (another demo on the same machine, most likely)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.demo import ports
from onceonly.demo.cli import needed_ports
from onceonly.demo.ports import DEMO_BASE_PORTS, QUIET_PORTS
from onceonly.notify.demo import demo_receiver_ports
from tests.demo.conftest import quiet_demo_port


def test_a_taken_receiver_port_stops_the_demo_before_it_builds_anything(tmp_path: Path) -> None:
    port = quiet_demo_port()
    taken = next(iter(demo_receiver_ports(port).values()))
    with socket.socket() as other_demo:
        other_demo.bind(("127.0.0.1", taken))
        other_demo.listen()
        result = CliRunner().invoke(
            cli, ["demo", "--port", str(port), "--data-dir", str(tmp_path / "data")]
        )
    assert result.exit_code == 2, result.output
    assert (
        f"連接埠 {taken} 已被其他程式" in result.output and "choose another --port" in result.output
    )
    assert not (tmp_path / "data").exists()


def test_a_taken_mail_sink_port_stops_the_demo_too(tmp_path: Path) -> None:
    from onceonly.demo.mail_sink import mail_sink_port

    port = quiet_demo_port()
    taken = mail_sink_port(port)
    with socket.socket() as other_demo:
        other_demo.bind(("127.0.0.1", taken))
        other_demo.listen()
        result = CliRunner().invoke(
            cli, ["demo", "--port", str(port), "--data-dir", str(tmp_path / "data")]
        )
    assert result.exit_code == 2 and f"連接埠 {taken} 已被其他程式" in result.output
    assert not (tmp_path / "data").exists()


def test_a_demo_picked_for_a_test_never_needs_a_port_another_test_may_pick_meanwhile() -> None:
    """A test's demo and another test's server (``free_port``) pick their ports apart, and
    both below the range outgoing connections take theirs from."""
    for base in (DEMO_BASE_PORTS.start, DEMO_BASE_PORTS.stop - 1):
        derived = [port for _, port in needed_ports("127.0.0.1", base)]
        assert all(QUIET_PORTS.stop <= port < 32768 for port in derived), derived


def test_a_port_handed_out_is_not_handed_out_again_before_it_is_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A federation picks all its ports, then binds them seconds later: two of its servers
    must never be given the same one."""
    start = ports.QUIET_PORTS.start
    monkeypatch.setattr(ports, "QUIET_PORTS", range(start, start + 30))
    monkeypatch.setattr(ports, "_HANDED_OUT", set())
    given = [ports.free_port() for _ in range(20)]
    assert len(set(given)) == len(given), given


@given(
    first=st.integers(0, 60_000),
    length=st.integers(1, 10_000),
    shares=st.integers(1, 64),
    margin=st.integers(0, 40),
)
def test_the_shares_of_a_range_of_ports_never_overlap(
    first: int, length: int, shares: int, margin: int
) -> None:
    """Parallel test workers pick from their own share: no port (nor a demo's derived ports,
    ``margin`` above its base) lies in two shares."""
    whole = range(first, first + length)
    parts = [ports.share_of(whole, index, shares, margin) for index in range(shares)]
    for index, part in enumerate(parts):
        assert all(port in whole for port in part)
        reach = range(part.start, part.stop + margin) if len(part) else part
        for other in parts[index + 1 :]:
            assert not set(reach) & set(other)
