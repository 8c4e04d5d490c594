"""Linking a gateway on the platform hands over only the owners the operator names.

The gateway's ``jwks.json`` is written by the owner's IT team. Before, every agency in it was
handed over: a file with a key for ``platform.audit`` retired the node's own audit key, deleted
its private file and made the gateway's key the one published for the node's signed tree
heads; a key for another owner took that owner's pieces and transcripts over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.exchange import keys
from onceonly.gateway.links import GatewayLinks
from onceonly.gateway.setup import DATASETS
from onceonly.models import Base

runner = CliRunner()
OWNER = "central.fia"


def _member(agency: str) -> dict[str, object]:
    public = OKPKey.generate_key("Ed25519").as_dict(private=False)
    public = {n: public[n] for n in ("kty", "crv", "x")}
    return {**public, "kid": keys.install_kid(public), "agency": agency, "alg": "EdDSA"}


@pytest.fixture
def platform(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "platform", secret_key="p")
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    Base.metadata.create_all(engine)
    with transaction(make_session_factory(engine)) as session:
        keys.ensure_keys(session, settings, ["platform.audit", OWNER, "central.moi"])
    engine.dispose()
    return settings


def _link(platform: Settings, jwks: dict[str, object], *owners: str) -> tuple[int, str]:
    path = platform.data_dir / "gw-jwks.json"
    path.write_text(json.dumps(jwks), "utf-8")
    command = ["gateway", "link", "--id", "gw-fia", "--endpoint", "https://127.0.0.1:1"]
    command += ["--jwks", str(path), "--node", "platform", "--data-dir", str(platform.data_dir)]
    for name in ("cert", "key", "ca", "crl"):
        command += [f"--{name}", str(platform.data_dir / f"{name}.pem")]
    for owner in owners:
        command += ["--owner", owner]
    result = runner.invoke(cli, command, env={"ONCEONLY_DATABASE_URL": ""})
    return result.exit_code, result.output


def _active(platform: Settings, agency: str) -> keys.SigningKey | None:
    engine = make_engine(platform.resolved_database_url)
    with make_session_factory(engine)() as session:
        key = keys.active_key(session, platform, agency)
    engine.dispose()
    return key


def test_link_hands_over_only_the_named_owners(platform: Settings) -> None:
    fia = _member(OWNER)
    jwks = {"keys": [fia], DATASETS: {OWNER: ["tax_income"]}}
    code, output = _link(platform, jwks, OWNER)
    assert code == 0, output
    active = _active(platform, OWNER)
    assert active is not None and active.kid == fia["kid"]
    links = GatewayLinks.read(platform)
    assert links is not None and links.gateways[0].owners == (OWNER,)


@pytest.mark.parametrize("agency", ["platform.audit", "central.moi"])
def test_a_gateway_key_set_naming_another_agency_is_refused_whole(
    platform: Settings, agency: str
) -> None:
    before = _active(platform, agency)
    assert before is not None and before.pem_path.is_file()
    code, output = _link(platform, {"keys": [_member(OWNER), _member(agency)]}, OWNER)
    assert code == 2 and agency in output and "--owner" in output, output
    after = _active(platform, agency)
    assert after is not None and after.kid == before.kid and after.pem_path.is_file()
    assert GatewayLinks.read(platform) is None


def test_the_nodes_own_keys_are_never_handed_over(platform: Settings) -> None:
    code, output = _link(platform, {"keys": [_member("platform.audit")]}, "platform.audit")
    assert code == 2 and "platform.audit" in output, output
    engine = make_engine(platform.resolved_database_url)
    with (
        transaction(make_session_factory(engine)) as session,
        pytest.raises(ValueError, match="own key"),
    ):
        keys.hand_over(session, platform, "platform.witness", [])
    engine.dispose()


def test_link_without_data_dir_uses_the_settings_file(platform: Settings, tmp_path: Path) -> None:
    """``onceonly init`` deployments are found by ``ONCEONLY_CONFIG``; link once took
    ``./onceonly-data`` instead, handed the keys over in the deployment's database and then
    died with a traceback writing ``gateways.json`` into a folder that did not exist."""
    from onceonly.deployment import write_settings_file

    config, _ = write_settings_file(platform)
    path = platform.data_dir / "gw-jwks.json"
    path.write_text(json.dumps({"keys": [_member(OWNER)]}), "utf-8")
    command = ["gateway", "link", "--id", "gw-fia", "--endpoint", "https://127.0.0.1:1"]
    command += ["--jwks", str(path), "--node", "platform", "--owner", OWNER]
    for name in ("cert", "key", "ca", "crl"):
        command += [f"--{name}", str(platform.data_dir / f"{name}.pem")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(elsewhere)
        env = {"ONCEONLY_CONFIG": str(config), "ONCEONLY_DATABASE_URL": None}
        env |= {"ONCEONLY_DATA_DIR": None}
        result = runner.invoke(cli, command, env=env)
    assert result.exit_code == 0, result.output
    links = GatewayLinks.read(platform)
    assert links is not None and links.gateways[0].owners == (OWNER,)
    assert not (elsewhere / "onceonly-data").exists()
