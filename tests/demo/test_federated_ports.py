"""``onceonly demo --federated`` honours ``--port`` and ``--host``: every port of the directory
and the nodes follows ``--port``, the nodes' web apps listen on ``--host``, and a taken port
(or a host the nodes could not reach each other on) stops it in words before anything is
built. No federation is started here: the derivation and the refusals are what is checked."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.demo.federated import cluster
from onceonly.demo.federated.cluster import (
    DEMO_NODES,
    FederationPorts,
    NodeLayout,
    PortsChanged,
    build_federation,
    free_port,
)


def test_every_federation_port_follows_port() -> None:
    ports = FederationPorts.derive(9100)
    assert ports.nodes[0] == (9100, 9101), "the first node's web app is on --port itself"
    assert len(ports.nodes) == len(DEMO_NODES)
    assert len(set(ports.all())) == len(ports.all()), "no port is used twice"
    assert all(9100 <= p <= 9100 + 30 for p in ports.all())
    other = FederationPorts.derive(9200)
    assert not set(ports.all()) & set(other.all()), "two demos 100 apart never share a port"


def _run(*args: str, data_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["demo", "--federated", *args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def _quiet_port() -> int:
    """A --port whose every derived port is free: tests beside this one bind ports of their
    own, and the demo names the first taken port it finds."""
    from onceonly.demo.ports import first_taken

    for _ in range(50):
        port = free_port()
        if first_taken(("127.0.0.1", p) for p in FederationPorts.derive(port).all()) is None:
            return port
    raise AssertionError("no --port with all its derived ports free")


def test_a_taken_node_port_stops_the_federated_demo_before_it_builds(tmp_path: Path) -> None:
    port = _quiet_port()
    taken = FederationPorts.derive(port).nodes[2][1]  # the regional node's peer listener
    with socket.socket() as other_demo:
        other_demo.bind(("127.0.0.1", taken))
        other_demo.listen()
        code, output = _run("--port", str(port), data_dir=tmp_path / "data")
    assert code == 2, output
    assert f"連接埠 {taken} 已被其他程式" in output and "choose another --port" in output
    assert not (tmp_path / "data").exists()


def test_a_host_the_nodes_cannot_reach_each_other_on_is_refused(tmp_path: Path) -> None:
    code, output = _run("--host", "192.0.2.7", "--port", str(free_port()), data_dir=tmp_path)
    assert code == 2, output
    assert "192.0.2.7" in output and "--host 0.0.0.0" in output
    assert not (tmp_path / "federation").exists()


def test_a_federation_built_for_another_port_says_which(tmp_path: Path) -> None:
    root = tmp_path / "federation"
    root.mkdir()
    (root / "federation.json").write_text(
        json.dumps(
            {
                "ca_dir": "ca",
                "directory_home": "d",
                "directory_port": 9130,
                "base_port": 9100,
                "nodes": [],
            }
        )
    )
    code, output = _run("--port", "9300", "--no-serve", data_dir=tmp_path)
    assert code == 2, output
    assert "--port 9100" in output
    with pytest.raises(PortsChanged):
        build_federation(root, base_port=9300)
    assert build_federation(root, base_port=9100).base_port == 9100


def test_a_node_serves_its_web_app_on_host_and_its_peer_listener_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def spawn(command: list[str], *_: object) -> subprocess.Popen[bytes]:
        commands.append(command)
        return subprocess.Popen(["true"])

    monkeypatch.setattr(cluster, "_spawn", spawn)
    monkeypatch.setattr(cluster, "_wait", lambda *_: None)
    node = NodeLayout(DEMO_NODES[0], tmp_path, 9100, 9101, "1")
    cluster.start_node(node, host="0.0.0.0").wait()
    [command] = commands
    flags = command[command.index("serve") + 1 :]
    options = dict(zip(flags[::2], flags[1::2], strict=True))
    assert options["--host"] == "0.0.0.0" and options["--port"] == "9100"
    assert options["--peer-host"] == "127.0.0.1" and options["--peer-port"] == "9101"
