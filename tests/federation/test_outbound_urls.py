"""Federation URLs follow the same outbound rule as webhooks (onceonly/outbound.py).

Every node calls the endpoints the directory lists, so the directory refuses a registration
whose endpoint is an internal address (loopback, private, link-local, metadata) unless its
operator allows the host; ``federation init`` refuses such a directory URL the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onceonly.federation.cli import app as federation_cli
from onceonly.federation.directory import Directory, RegistrationInvalid
from onceonly.outbound import ALLOWED_HOSTS_ENV, OutboundPolicy


def _document(endpoint: str) -> dict[str, object]:
    return {
        "id": "rogue",
        "jurisdictions": ["taitung-county"],
        "endpoint": endpoint,
        "cert_pem": "-----BEGIN CERTIFICATE-----",
        "agencies": {"taitung-county.social_welfare": ["welfare_status"]},
        "jwks": {"keys": [{"kid": "k"}]},
    }


@pytest.mark.parametrize(
    "endpoint",
    ["https://169.254.169.254:443", "https://127.0.0.1:9443", "https://10.1.2.3", "https://[::1]"],
)
def test_the_directory_refuses_an_internal_node_endpoint(tmp_path: Path, endpoint: str) -> None:
    directory = Directory(tmp_path / "directory", tmp_path / "ca", policy=OutboundPolicy())
    with pytest.raises(RegistrationInvalid, match="endpoint"):
        directory.add_node(_document(endpoint))
    assert directory.nodes() == []


def test_the_directory_takes_public_and_allowed_endpoints(tmp_path: Path) -> None:
    allowing = OutboundPolicy(frozenset({"127.0.0.1"}))
    directory = Directory(tmp_path / "directory", tmp_path / "ca", policy=allowing)
    directory.add_node(_document("https://127.0.0.1:9443"))
    public = {**_document("https://node.hualien.example"), "id": "hua"}
    directory.add_node({**public, "jurisdictions": ["hualien-county"]})
    assert {n["endpoint"] for n in directory.nodes()} == {
        "https://127.0.0.1:9443",
        "https://node.hualien.example",
    }


def test_federation_init_refuses_an_internal_directory_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "")
    key = tmp_path / "directory.jwk.json"
    key.write_text("{}")
    result = CliRunner().invoke(
        federation_cli,
        [
            "init", "ttt", "--jurisdiction", "taitung-county",
            "--endpoint", "https://node.taitung.example",
            "--cert", str(key), "--key", str(key), "--ca", str(key),
            "--directory-url", "http://169.254.169.254/",
            "--directory-key", str(key), "--data-dir", str(tmp_path / "data"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--directory-url" in result.output
    assert not (tmp_path / "data" / "federation" / "node.json").exists()
