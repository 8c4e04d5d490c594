"""A node keeps off-site backups only for the nodes its operator agreed to keep them for
(``accept_backups_from``): any member node authenticates to the listener, and before this any
of them could make a node store its files. Real nodes on loopback, the real commands."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.demo.federated.cluster import DEMO_NODES, NodeLayout, pair_backups
from onceonly.federation.backup import BACKUPS_PATH
from onceonly.federation.node import CONFIG_NAME, NodeConfig, federation_dir
from onceonly.federation.signing import HEADER
from onceonly.pki import ca
from tests.federation.conftest import Federation, _running, credentials, peer_client


def _flat(text: str) -> str:
    """The text without white space: Rich wraps the output at its spaces."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """The demo's three nodes (a ring: 臺北市 ships to 新北市, 新北市 to the regional node,
    the regional node to 臺北市), few people: only backups travel here."""
    yield from _running(tmp_path_factory.mktemp("agreement"), DEMO_NODES, 60)


def _config(federation: Federation, node: str) -> NodeConfig:
    config = NodeConfig.read(federation.layout.node(node).settings)
    assert config is not None
    return config


def _backups(federation: Federation, node: str) -> Path:
    return federation_dir(federation.layout.node(node).settings) / "backups"


def test_the_demo_ring_keeps_the_backups_of_the_node_before(trio: Federation) -> None:
    assert {n: _config(trio, n).backup_partner for n in ("taipei", "new-taipei")} == {
        "taipei": "new-taipei",
        "new-taipei": "north-regional",
    }
    assert _config(trio, "new-taipei").accept_backups_from == ("taipei",)
    assert _config(trio, "north-regional").accept_backups_from == ("new-taipei",)
    assert _config(trio, "taipei").accept_backups_from == ("north-regional",)


def test_a_member_not_agreed_is_refused_in_words_audited_and_nothing_kept(
    trio: Federation,
) -> None:
    """The regional node is a member of the federation, its request signed and its TLS
    certificate valid, but 新北市 keeps only 臺北市's backups."""
    envelope = b'{"header": {}, "signature": "", "ciphertext": "parked here"}'
    signed = credentials(trio, "north-regional").sign(
        "POST", BACKUPS_PATH, envelope, audience="new-taipei"
    )
    with peer_client(trio, "north-regional") as client:
        response = client.post(
            _config(trio, "new-taipei").endpoint + BACKUPS_PATH,
            content=envelope,
            headers={HEADER: signed},
        )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "backup_not_agreed"
    said = problem["reason"]
    assert said["zh-TW"] == (
        "new-taipei 拒收 north-regional 的異地備份：本節點只為管理者同意的節點保管備份，"
        "north-regional 不在其中"
    )
    assert "this node keeps backups only for the nodes its operator agreed to" in said["en"]
    assert "north-regional" in said["en"]
    assert problem["detail"].startswith(said["zh-TW"])  # Traditional Chinese first
    assert not (_backups(trio, "new-taipei") / "north-regional").exists()

    refused = [e for e in trio.audit("new-taipei") if e.event == "federation.refused"]
    assert refused, "the refusal was not audited"
    entry = refused[-1]
    assert (entry.actor_username, entry.decision) == ("node:north-regional", "denied")
    assert entry.details["code"] == "backup_not_agreed"
    assert entry.details["path"] == BACKUPS_PATH
    assert entry.reason_zh == said["zh-TW"] and entry.reason_en == said["en"]


def test_the_sender_is_told_the_partner_has_not_agreed_and_the_agreed_one_ships(
    trio: Federation,
) -> None:
    """``backup ship`` at a node the partner did not agree to: exit 1 and why in words, not
    the partner's HTTP answer. The node the partner did agree to ships as before."""
    runner = CliRunner()
    regional = trio.layout.node("north-regional")
    refused = runner.invoke(
        cli, ["backup", "ship", "--to", "new-taipei", "--data-dir", str(regional.data_dir)]
    )
    said = _flat(refused.output)
    assert refused.exit_code == 1, refused.output
    assert _flat("new-taipei 尚未同意保管本節點（north-regional）的備份") in said, refused.output
    assert _flat("new-taipei has not agreed to keep this node's (north-regional) backups") in said
    assert _flat("--accept-backups-from north-regional") in said
    assert "problem+json" not in said and '"code"' not in said and "403" not in said
    assert not (_backups(trio, "new-taipei") / "north-regional").exists()

    taipei = trio.layout.node("taipei")
    shipped = runner.invoke(cli, ["backup", "ship", "--data-dir", str(taipei.data_dir)])
    assert shipped.exit_code == 0, shipped.output
    assert len(list((_backups(trio, "new-taipei") / "taipei").glob("*.obk"))) == 1
    received = [e for e in trio.audit("new-taipei") if e.event == "backup.received"]
    assert [e.actor_username for e in received] == ["node:taipei"]


MIB = 2**20


def _raw_post(trio: Federation, sender: str, receiver: str, head: str, sent: bytes) -> bytes:
    """What ``receiver``'s listener answers (until it closes or the answer is whole) to a
    POST over a mutual-TLS socket presenting ``sender``'s certificate: ``head`` the headers,
    then only ``sent`` of the body, however long the body the headers declare."""
    config = _config(trio, sender)
    context = ssl.create_default_context(cafile=config.ca)
    context.load_cert_chain(config.cert, config.key)
    port = trio.layout.node(receiver).peer_port
    answer = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(f"POST {BACKUPS_PATH} HTTP/1.1\r\nHost: localhost\r\n{head}\r\n".encode())
        tls.sendall(sent)
        try:
            while chunk := tls.recv(65536):
                answer += chunk
                headers, _, body = answer.partition(b"\r\n\r\n")
                length = [h for h in headers.lower().split(b"\r\n") if b"content-length" in h]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
        except TimeoutError:
            pytest.fail(f"no answer within 10 s: the listener waits for the body ({answer!r})")
    return answer


def test_a_member_not_agreed_is_refused_before_its_body_is_read(trio: Federation) -> None:
    """Found by review: the listener read a backup whole (up to ``max_backup_bytes``, 256 MiB,
    held in memory) before it looked who sent it, so any member could make a node take in
    256 MiB per request only to refuse it. This request declares 200 MiB and sends 64 KiB:
    the refusal (audited, the body not) comes at once, and the connection is closed."""
    signed = credentials(trio, "taipei").sign(
        "POST", BACKUPS_PATH, b"never sent", audience="north-regional"
    )
    head = f"Content-Length: {200 * MIB}\r\n{HEADER}: {signed}\r\n"
    answer = _raw_post(trio, "taipei", "north-regional", head, b"x" * 65536)
    status, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status == b"HTTP/1.1 403 Forbidden", answer[:300]
    assert b"connection: close" in headers.lower()
    assert json.loads(body)["code"] == "backup_not_agreed"
    entry = [e for e in trio.audit("north-regional") if e.event == "federation.refused"][-1]
    assert (entry.actor_username, entry.details["code"]) == ("node:taipei", "backup_not_agreed")
    assert "never sent" not in json.dumps(entry.details)
    assert not (_backups(trio, "north-regional") / "taipei").exists()


def test_the_sender_refused_hears_why_rather_than_a_reset(trio: Federation) -> None:
    """The ordinary client of a node sending 128 MiB: it hears the refusal, and the listener
    took in no more than what the sockets between them hold (7 MiB here), never the body."""
    consumed = 0

    def body() -> Iterator[bytes]:
        nonlocal consumed
        while consumed < 128 * MIB:
            consumed += MIB
            yield b"x" * MIB

    signed = credentials(trio, "taipei").sign("POST", BACKUPS_PATH, b"", audience="north-regional")
    with peer_client(trio, "taipei") as client:
        response = client.post(
            _config(trio, "north-regional").endpoint + BACKUPS_PATH,
            content=body(),
            headers={HEADER: signed, "Content-Length": str(128 * MIB)},
        )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "backup_not_agreed"
    assert consumed <= 32 * MIB, f"{consumed / MIB:.0f} MiB of 128 taken in before the refusal"


def _incoming(trio: Federation, node: str) -> list[Path]:
    """Backups still arriving at ``node``, or left behind by one that never arrived."""
    return list((_backups(trio, node) / ".incoming").glob("*"))


def test_an_agreed_member_must_say_how_long_its_backup_is(trio: Federation) -> None:
    """Sent in chunks without a length, a body's size is known only once it is read."""
    signed = credentials(trio, "new-taipei").sign(
        "POST", BACKUPS_PATH, b"x" * MIB, audience="north-regional"
    )
    with peer_client(trio, "new-taipei") as client:
        response = client.post(
            _config(trio, "north-regional").endpoint + BACKUPS_PATH,
            content=iter([b"x" * MIB]),
            headers={HEADER: signed},
        )
    assert response.status_code == 411, response.text
    problem = response.json()
    assert problem["code"] == "length_required"
    assert "Content-Length" in problem["title"]
    entry = [e for e in trio.audit("north-regional") if e.event == "federation.refused"][-1]
    assert (entry.actor_username, entry.details["code"]) == ("node:new-taipei", "length_required")


def test_an_agreed_member_s_backup_is_kept_as_sent(trio: Federation) -> None:
    """Written to disk as it arrives rather than held, then kept whole, byte for byte."""
    envelope = os.urandom(5 * MIB)
    signed = credentials(trio, "new-taipei").sign(
        "POST", BACKUPS_PATH, envelope, audience="north-regional"
    )
    with peer_client(trio, "new-taipei") as client:
        response = client.post(
            _config(trio, "north-regional").endpoint + BACKUPS_PATH,
            content=envelope,
            headers={HEADER: signed},
        )
    assert response.status_code == 200, response.text
    kept = _backups(trio, "north-regional") / "new-taipei" / response.json()["stored"]
    assert hashlib.sha256(kept.read_bytes()).digest() == hashlib.sha256(envelope).digest()
    received = [e for e in trio.audit("north-regional") if e.event == "backup.received"][-1]
    assert received.actor_username == "node:new-taipei"
    assert received.details["bytes"] == len(envelope)
    assert not _incoming(trio, "north-regional")


@pytest.mark.parametrize(
    ("forged", "code", "sender"),
    [("another body", "tampered", "new-taipei"), ("another signature", "bad_signature", "?")],
)
def test_an_agreed_member_s_backup_badly_signed_is_refused_audited_not_kept(
    trio: Federation, forged: str, code: str, sender: str
) -> None:
    """Agreed to, the sender's body is read; the whole request (body, time, nonce) is still
    checked before anything is kept. A signature over another body is found only then; a
    signature that does not verify before the body is read (and names no sender: ``?``)."""
    node = credentials(trio, "new-taipei")
    envelope = b'{"ciphertext": "' + b"x" * MIB + b'"}'
    signed = node.sign("POST", BACKUPS_PATH, b"another", audience="north-regional")
    if forged == "another signature":
        other = node.sign("POST", BACKUPS_PATH, envelope, audience="north-regional")
        signed = other.rsplit(".", 1)[0] + "." + signed.rsplit(".", 1)[1]
    folder = _backups(trio, "north-regional") / "new-taipei"
    before = sorted(folder.glob("*")) if folder.exists() else []
    with peer_client(trio, "new-taipei") as client:
        response = client.post(
            _config(trio, "north-regional").endpoint + BACKUPS_PATH,
            content=envelope,
            headers={HEADER: signed},
        )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code
    entry = [e for e in trio.audit("north-regional") if e.event == "federation.refused"][-1]
    assert (entry.actor_username, entry.details["code"]) == (f"node:{sender}", code)
    assert "ciphertext" not in json.dumps(entry.details)
    assert (sorted(folder.glob("*")) if folder.exists() else []) == before
    assert not _incoming(trio, "north-regional")


def _written(settings: Settings, node: str = "taipei", **overrides: object) -> NodeConfig:
    config = NodeConfig(
        id=node,
        name=node,
        jurisdictions=("taipei-city",),
        endpoint="https://127.0.0.1:1",
        cert="node.pem",
        key="node.key",
        ca="ca.pem",
        directory_url="https://127.0.0.1:2",
        directory_jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
        **overrides,  # type: ignore[arg-type]
    )
    config.write(settings)
    return config


def test_a_node_json_from_before_the_setting_keeps_no_ones_backups(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "node")
    _written(settings, accept_backups_from=("new-taipei", "north-regional"))
    path = federation_dir(settings) / CONFIG_NAME
    data = json.loads(path.read_text("utf-8"))
    assert data["accept_backups_from"] == ["new-taipei", "north-regional"]  # a list, as read
    read = NodeConfig.read(settings)
    assert read is not None and read.accept_backups_from == ("new-taipei", "north-regional")

    del data["accept_backups_from"]
    path.write_text(json.dumps(data), "utf-8")
    old = NodeConfig.read(settings)
    assert old is not None and old.accept_backups_from == ()


def test_a_demo_federation_built_before_is_paired_when_reused(tmp_path: Path) -> None:
    """``./demo`` reuses its federation: nodes written before the setting keep the backups
    of the node before them again, so the demo's backup step still works."""
    layouts = [NodeLayout(plan, tmp_path / plan.id, 1, 2, "01") for plan in DEMO_NODES]
    for layout in layouts:
        _written(layout.settings, layout.plan.id)
    pair_backups(layouts)
    paired = {n.plan.id: NodeConfig.read(n.settings) for n in layouts}
    assert {k: (c.backup_partner, c.accept_backups_from) for k, c in paired.items() if c} == {
        "taipei": ("new-taipei", ("north-regional",)),
        "new-taipei": ("north-regional", ("taipei",)),
        "north-regional": ("taipei", ("new-taipei",)),
    }


def _init(root: Path, *extra: str) -> tuple[int, str]:
    """``federation init yilan`` with valid credentials and ``extra`` options."""
    if not (root / "ca" / "ca.pem").exists():
        ca.init_ca(root / "ca")
        ca.issue_node(root / "ca", "yilan", root / "certs")
    jwk = root / "directory.jwk"
    jwk.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}', "utf-8")
    command = ["federation", "init", "yilan", "--jurisdiction", "yilan-county"]
    command += ["--endpoint", "https://127.0.0.1:1", "--directory-url", "https://127.0.0.1:2"]
    command += ["--directory-key", str(jwk), "--ca", str(root / "ca" / "ca.pem")]
    command += ["--cert", str(root / "certs" / "yilan.pem")]
    command += ["--key", str(root / "certs" / "yilan.key"), "--data-dir", str(root / "node")]
    env = {"ONCEONLY_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1"}
    result = CliRunner().invoke(cli, [*command, *extra], env=env)
    return result.exit_code, _flat(result.output)


def test_init_sets_the_nodes_it_keeps_backups_for(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "node")
    code, said = _init(tmp_path)
    assert code == 0, said
    config = NodeConfig.read(settings)
    assert config is not None and config.accept_backups_from == ()

    given = ["--accept-backups-from", "taipei", "--accept-backups-from", "new-taipei, keelung"]
    code, said = _init(tmp_path, *given, "--accept-backups-from", "taipei")
    assert code == 0, said
    config = NodeConfig.read(settings)
    assert config is not None
    assert config.accept_backups_from == ("taipei", "new-taipei", "keelung")


@pytest.mark.parametrize(
    ("given", "zh", "en"),
    [
        ("tai/pei", "「tai/pei」不是節點代號", "'tai/pei' is not a node id"),
        ("taipei,", "「」不是節點代號", "'' is not a node id"),
        ("yilan", "「yilan」是本節點自己", "'yilan' is this node itself"),
    ],
)
def test_init_refuses_what_cannot_be_a_backup_sender(
    tmp_path: Path, given: str, zh: str, en: str
) -> None:
    """Nothing is written; the option, the value and why, in both languages, exit 2."""
    code, said = _init(tmp_path, "--accept-backups-from", given)
    assert code == 2, said
    assert _flat(f"--accept-backups-from: {zh}") in said, said
    assert _flat(f"--accept-backups-from: {en}") in said, said
    assert not (tmp_path / "node" / "federation" / CONFIG_NAME).exists()


def test_init_names_the_partner_it_ships_backups_to(tmp_path: Path) -> None:
    """Without the option an operator had to edit node.json by hand to ship backups."""
    settings = Settings(data_dir=tmp_path / "node")
    code, said = _init(tmp_path, "--backup-partner", "taipei")
    assert code == 0, said
    config = NodeConfig.read(settings)
    assert config is not None and config.backup_partner == "taipei"


@pytest.mark.parametrize(
    ("given", "zh", "en"),
    [
        ("tai/pei", "「tai/pei」不是節點代號", "'tai/pei' is not a node id"),
        ("yilan", "「yilan」是本節點自己", "'yilan' is this node itself"),
        ("taipei,keelung", "「taipei,keelung」列了不只一個節點", "names more than one node"),
    ],
)
def test_init_refuses_what_cannot_be_the_partner(
    tmp_path: Path, given: str, zh: str, en: str
) -> None:
    code, said = _init(tmp_path, "--backup-partner", given)
    assert code == 2, said
    assert _flat(f"--backup-partner: {zh}") in said, said
    assert _flat(en) in said, said
    assert not (tmp_path / "node" / "federation" / CONFIG_NAME).exists()
