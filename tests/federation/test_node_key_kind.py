"""A node signs with ES256, so its key must be EC P-256: ``federation init`` refused no other
kind (RSA, Ed25519, another curve), and the node only failed once serving, in English. Each
kind is made here for real, with a certificate from the federation CA holding it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.domain.errors import DomainValueError
from onceonly.federation.node import NodeConfig
from onceonly.federation.signing import NodeCredentials
from onceonly.pki import ca
from onceonly.pki.ca import NODE_URI_PREFIX

KINDS: dict[str, Callable[[], CertificateIssuerPrivateKeyTypes]] = {
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
}


def _flat(text: str) -> str:
    """The text without white space: Rich wraps the output at its spaces."""
    return "".join(text.split())


KEY_WORDS = _flat("不是 EC P-256（prime256v1）私鑰")
CERT_WORDS = _flat("的憑證所載公鑰不是 EC P-256（prime256v1）金鑰")
EN_WORDS = _flat("is not an EC P-256 (prime256v1) private key")
HOW = _flat("onceonly pki issue-node")


def node_pair(root: Path, kind: str) -> tuple[Path, Path]:
    """A key of ``kind`` and a node certificate for it signed by the federation CA in
    ``root / "ca"``: a pair that belongs together, so only its kind is wrong."""
    ca_dir = root / "ca"
    if not (ca_dir / "ca.pem").exists():
        ca.init_ca(ca_dir)
    issuer = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    issuer_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    key = KINDS[kind]()
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taipei")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(NODE_URI_PREFIX + "taipei")]
            ),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )
    cert_path, key_path = root / f"{kind}.pem", root / f"{kind}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _init(root: Path, cert: Path, key: Path) -> tuple[int, str]:
    jwk = root / "directory.jwk"
    jwk.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}', "utf-8")
    command = ["federation", "init", "taipei", "--jurisdiction", "taipei-city"]
    command += ["--endpoint", "https://127.0.0.1:1", "--directory-url", "https://127.0.0.1:2"]
    command += ["--directory-key", str(jwk), "--cert", str(cert), "--key", str(key)]
    command += ["--ca", str(root / "ca" / "ca.pem"), "--data-dir", str(root / "node")]
    env = {"ONCEONLY_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1"}
    result = CliRunner().invoke(cli, command, env=env)
    return result.exit_code, _flat(result.output)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_init_refuses_a_key_a_node_cannot_sign_with(tmp_path: Path, kind: str) -> None:
    """Its own matching certificate (which ``init`` took) and a P-256 one from
    ``pki issue-node`` (refused as "not the pair", which hid why): both say the key must be
    EC P-256 and how to get one, naming the option and the file; nothing is written."""
    cert, key = node_pair(tmp_path, kind)
    issued = ca.issue_node(tmp_path / "ca", "taipei", tmp_path / "certs")
    written = tmp_path / "node" / "federation" / "node.json"

    code, said = _init(tmp_path, cert, key)
    assert code == 2, said
    assert f"--key:{key}{KEY_WORDS}" in said and HOW in said, said
    assert f"--cert:{cert}{CERT_WORDS}" in said, said
    assert not written.exists()

    code, said = _init(tmp_path, Path(issued.cert_path), key)
    assert code == 2, said
    assert f"--key:{key}{KEY_WORDS}" in said and HOW in said, said
    assert "--cert:" not in said and "不成對" not in said, said
    assert not written.exists()

    good = tmp_path / "certs" / "taipei.key"
    assert _init(tmp_path, Path(issued.cert_path), good)[0] == 0  # all else was fine
    assert written.exists()


def test_credentials_refuse_such_a_key_in_both_languages(tmp_path: Path) -> None:
    """What every node command loading its key (serve, backup ship, the notify worker, the
    gateway links) meets: the words of ``init``, in both languages, not English alone."""
    cert, key = node_pair(tmp_path, "rsa")
    with pytest.raises(DomainValueError) as refused:
        NodeCredentials.load("taipei", str(cert), str(key))
    assert _flat(refused.value.message_zh).startswith(f"{key}{KEY_WORDS}")
    assert _flat(refused.value.message_en).startswith(f"{key}{EN_WORDS}")
    assert HOW in _flat(refused.value.message_zh) and HOW in _flat(refused.value.message_en)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_stops_at_start_on_such_a_key(tmp_path: Path) -> None:
    """A node configuration written before ``init`` checked the kind, or edited by hand:
    ``federation serve`` stops before serving, with the same words in both languages and
    exit 2; it served, and the first clerk asking another node for evidence met an
    English-only error."""
    cert, key = node_pair(tmp_path, "rsa")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
    onceonly = [sys.executable, "-m", "onceonly.cli"]
    settings = Settings(data_dir=tmp_path / "node")
    made = [*onceonly, "init", str(settings.data_dir), "--no-admin"]
    assert subprocess.run(made, capture_output=True, timeout=120, env=clean).returncode == 0
    NodeConfig(
        id="taipei",
        name="taipei",
        jurisdictions=("taipei-city",),
        endpoint="https://127.0.0.1:1",
        cert=str(cert),
        key=str(key),
        ca=str(tmp_path / "ca" / "ca.pem"),
        directory_url="https://127.0.0.1:2",
        directory_jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
    ).write(settings)
    command = [*onceonly, "federation", "serve"]
    command += ["--data-dir", str(settings.data_dir), "--port", str(_free_port())]
    command += ["--peer-port", str(_free_port())]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean)
    except subprocess.TimeoutExpired:
        pytest.fail("federation serve started serving with an RSA key")
    said = _flat(result.stderr)
    assert result.returncode == 2, result.stderr
    assert f"{key}{KEY_WORDS}" in said and f"{key}{EN_WORDS}" in said, result.stderr
    assert HOW in said, result.stderr
    assert "Traceback" not in result.stderr
