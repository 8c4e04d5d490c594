"""The client a node posts to its peers with: what a clerk's reason depends on (timeout, down,
TLS refused), and connections not reused once the listener may be closing them."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from onceonly.demo.ports import free_port
from onceonly.federation import peer_http
from onceonly.federation.peer_http import PeerClients, PeerTimeout, PeerUnreachable
from onceonly.pki import ca


@dataclass
class Listener:
    url: str
    connections: list[int]
    client_context: ssl.SSLContext


def _context(folder: Path, name: str, purpose: ssl.Purpose) -> ssl.SSLContext:
    context = ssl.create_default_context(purpose, cafile=folder / "ca" / "ca.pem")
    context.load_cert_chain(folder / name / f"{name}.pem", folder / name / f"{name}.key")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """A mutual-TLS HTTP/1.1 listener that keeps connections open and counts them."""
    folder = tmp_path_factory.mktemp("peer-http")
    ca.init_ca(folder / "ca")
    for name in ("server", "client"):
        ca.issue_node(folder / "ca", name, folder / name)
    connections: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(self.client_address[1])

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/slow":
                time.sleep(1.0)
            if self.path == "/huge":
                body = b"x" * 5000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # a client that hung up early is no error here
    server_context = _context(folder, "server", ssl.Purpose.CLIENT_AUTH)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Listener(
            f"https://127.0.0.1:{port}",
            connections,
            _context(folder, "client", ssl.Purpose.SERVER_AUTH),
        )
    finally:
        server.shutdown()
        server.server_close()


def test_a_connection_is_reused_until_it_has_idled_half_the_listeners_keep_alive(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peer_http, "CALLER_KEEP_ALIVE_SECONDS", 0.3)
    with closing(PeerClients(listener.client_context, timeout=5)) as clients:
        before = len(listener.connections)
        for n in range(3):
            answer = clients.post(listener.url + "/echo", f"{n}".encode(), {})
            assert (answer.status_code, answer.content) == (200, f"{n}".encode())
        assert len(listener.connections) == before + 1
        time.sleep(0.5)
        assert clients.post(listener.url + "/echo", b"later", {}).content == b"later"
        assert len(listener.connections) == before + 2


def test_no_answer_in_time_is_a_timeout_and_a_closed_port_is_down(listener: Listener) -> None:
    with closing(PeerClients(listener.client_context, timeout=0.3)) as clients:
        with pytest.raises(PeerTimeout, match="no answer in time"):
            clients.post(listener.url + "/slow", b"{}", {})
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: the connection is refused
        try:
            with pytest.raises(PeerUnreachable, match="could not connect") as down:
                clients.post(f"https://127.0.0.1:{closed.getsockname()[1]}/echo", b"{}", {})
        finally:
            closed.close()
        assert down.value.tls is None


def test_an_answer_longer_than_the_limit_is_not_taken(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peer_http, "MAX_ANSWER_BYTES", 4096)
    with closing(PeerClients(listener.client_context, timeout=5)) as clients:
        with pytest.raises(PeerUnreachable, match="longer than 4,096 bytes"):
            clients.post(listener.url + "/huge", b"{}", {})
        assert clients.post(listener.url + "/echo", b"next", {}).content == b"next"
        assert clients.post(listener.url + "/echo", b"x" * 4096, {}).content == b"x" * 4096


def test_a_listener_whose_certificate_is_not_the_federations_is_a_tls_refusal(
    listener: Listener, tmp_path: Path
) -> None:
    ca.init_ca(tmp_path / "ca", "another CA")
    ca.issue_node(tmp_path / "ca", "client", tmp_path / "client")
    stranger = _context(tmp_path, "client", ssl.Purpose.SERVER_AUTH)
    with (
        closing(PeerClients(stranger, timeout=5)) as clients,
        pytest.raises(PeerUnreachable) as refused,
    ):
        clients.post(listener.url + "/echo", b"{}", {})
    assert refused.value.tls is not None and "CERTIFICATE_VERIFY_FAILED" in refused.value.tls
