"""``onceonly demo --federated`` runs a mail sink per node, as ``onceonly demo`` runs one: each
node's web app and notify worker send their e-mail to the sink on the node's web port + 9,
which keeps it in the node's own Maildir for its ``/admin/mail``; a taken sink port stops the
demo before anything is built. The node processes are not started here (their commands and
environment are what is checked); the sinks are real SMTP servers."""

from __future__ import annotations

import smtplib
import socket
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from onceonly.cases.caught_mail import read_mail_sink
from onceonly.config import Settings
from onceonly.demo import mail_sink
from onceonly.demo.federated import cluster, run
from onceonly.demo.federated.cluster import (
    DEMO_NODES,
    FederationLayout,
    FederationPorts,
    NodeLayout,
    free_port,
)
from onceonly.demo.ports import first_taken
from tests.demo.test_federated_ports import _quiet_port, _run


def test_each_node_has_a_mail_sink_port_derived_from_port() -> None:
    ports = FederationPorts.derive(9100)
    assert ports.mail == (9109, 9119, 9129), "each node's web port + 9, as onceonly demo's"
    assert set(ports.mail) <= set(ports.all()), "checked with the others before building"
    assert len(set(ports.all())) == len(ports.all()), "no port is used twice"


def test_a_taken_mail_sink_port_stops_the_federated_demo(tmp_path: Path) -> None:
    port = _quiet_port()
    taken = FederationPorts.derive(port).mail[1]
    with socket.socket() as other_demo:
        other_demo.bind(("127.0.0.1", taken))
        other_demo.listen()
        code, output = _run("--port", str(port), data_dir=tmp_path / "data")
    assert code == 2, output
    assert f"連接埠 {taken} 已被其他程式" in output
    assert not (tmp_path / "data").exists()


def _web_port() -> int:
    """A free port whose mail sink port (+ 9) is free too."""
    for _ in range(50):
        port = free_port()
        if first_taken([("127.0.0.1", mail_sink.mail_sink_port(port))]) is None:
            return port
    raise AssertionError("no free port pair")


def _send(settings: Settings, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "noreply@onceonly.test", to, subject
    message.set_content("案件進度 case update")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def test_each_node_sends_to_its_own_sink_and_reads_it_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[tuple[list[str], dict[str, str]]] = []

    def spawn(
        command: list[str], log: object, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        spawned.append((command, env or {}))
        return subprocess.Popen(["true"])

    monkeypatch.setattr(cluster, "_spawn", spawn)
    monkeypatch.setattr(cluster, "_wait", lambda *_: None)
    nodes = tuple(
        NodeLayout(plan, tmp_path / plan.id, _web_port(), free_port(), "1")
        for plan in DEMO_NODES[:2]
    )
    layout = FederationLayout(tmp_path, tmp_path / "ca", tmp_path / "dir", free_port(), nodes)
    processes, sinks = run.start_federation(layout, tmp_path, "127.0.0.1")
    try:
        assert len(sinks) == len(nodes)
        for node in nodes:
            # the web app and the notify worker of the node are both told of its sink
            envs = [env for command, env in spawned if str(node.data_dir) in " ".join(command)]
            envs += [
                env for _, env in spawned if env.get("ONCEONLY_DATA_DIR") == str(node.data_dir)
            ]
            assert len(envs) == 2
            for env in envs:
                assert env["ONCEONLY_SMTP_PORT"] == str(node.port + 9)
                assert env["ONCEONLY_MAIL_SINK_DIR"] == str(mail_sink.mail_dir(node.data_dir))
            # and the node's settings (read from that environment) reach the running sink
            for name, value in envs[0].items():
                monkeypatch.setenv(name, value)
            settings = Settings(data_dir=node.data_dir)
            assert settings.mail_sink_dir == mail_sink.mail_dir(node.data_dir).resolve()
            _send(settings, f"{node.plan.id}@example.tw", f"案號 {node.plan.id}")
        for node in nodes:
            caught = read_mail_sink(mail_sink.mail_dir(node.data_dir))
            assert [m.to for m in caught] == [f"{node.plan.id}@example.tw"], "its own only"
    finally:
        run.stop_federation(processes, sinks)
    with pytest.raises(OSError):  # the sinks are stopped with the demo
        smtplib.SMTP("127.0.0.1", nodes[0].port + 9, timeout=2)
