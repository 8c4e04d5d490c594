"""Land and buildings reach owners behind a gateway: 宜蘭縣's land office answers from its
own gateway, and "owns no home" is asked there too, once, like another node."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onceonly.db import make_engine, make_session_factory
from onceonly.exchange.keys import CUSTODY
from onceonly.exchange.transcript import verify_transcript
from onceonly.federation.node import NodeConfig, registration
from onceonly.gateway.links import GatewayLinks, holders_of
from onceonly.providers.registry import load_providers
from tests.conftest import DemoEnv
from tests.exchange.support import Counter
from tests.gateway.test_gateway import Setup

LAND = "yilan-county.land_office"
NO_HOME = "owns_no_residential_property"


@pytest.fixture
def setup(demo_env: DemoEnv, tmp_path: Path) -> Iterator[Setup]:
    result = Setup(demo_env, tmp_path / "gw-test", owner=LAND)
    try:
        yield result
    finally:
        result.stop()


def _home_in_yilan(setup: Setup, subject: str) -> None:
    """The subject (registered in 臺北市) gets a home in 宜蘭縣, in the store at the gateway."""
    store = setup.gw.data_dir / f"{LAND}.sqlite"
    with sqlite3.connect(store) as connection:
        key, section = connection.execute(
            "SELECT max(bldg_key) + 1, min(sect_code) FROM bldg_mark"
        ).fetchone()
        connection.execute(
            "INSERT INTO bldg_mark VALUES (?, ?, '09999000', ?, '住家用', 88.5)",
            (key, section, "宜蘭縣三星鄉三星村1鄰三星路一段1號"),
        )
        connection.execute("INSERT INTO bldg_own VALUES (?, ?, 1, 1, '1120301')", (key, subject))


def _no_home(counter: Counter, subject: str) -> dict[str, Any]:
    response = counter.ask("tpe-udd-clerk", subject, evidence=[{"type": NO_HOME}])
    return dict(counter.results(response)[NO_HOME])


def test_the_platform_lists_the_gateway_as_holding_land(setup: Setup) -> None:
    links = GatewayLinks.read(setup.env.settings)
    assert links is not None
    assert holders_of(links, "building_registration") == {"gw-fia": [LAND]}
    assert holders_of(links, "household_income") == {}


def test_owns_no_home_asks_the_land_office_behind_its_gateway(setup: Setup) -> None:
    subject = setup.env.sample("land_elsewhere")
    _home_in_yilan(setup, subject)
    setup.start()
    counter = Counter(setup.env)
    try:
        result = _no_home(counter, subject)
        assert result["status"] == "issued", result
        assert result["answer"] is False, result  # the home in 宜蘭縣 counts
        jwks = counter.client.get("/.well-known/jwks.json").json()
        issuers = {verify_transcript(t["jws"], jwks).claims.issuer for t in result["transcripts"]}
        assert LAND in issuers and len(issuers) > 1, issuers

        setup.stop()  # the gateway is down: no answer from the other offices alone
        down = _no_home(counter, subject)
        assert down["status"] != "issued", down
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()


def test_a_federation_node_registers_the_owner_behind_its_gateway(setup: Setup) -> None:
    """What the node sends the directory lists the land office behind the gateway, with the
    datasets it answers and its key marked as kept at the gateway, so any verifier reading
    the directory can tell gateway-held keys from keys the node holds."""
    settings = setup.env.settings
    cert = setup.gw.data_dir.parent / "node-cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "utf-8")
    config = NodeConfig(
        id="taipei",
        name="臺北市",
        jurisdictions=("taipei-city",),
        endpoint="https://127.0.0.1:1",
        cert=str(cert),
        key="",
        ca="",
        directory_url="https://127.0.0.1:2",
        directory_jwk={},
    )
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            document = registration(
                session, settings, config, load_providers(settings.registries_dir)
            )
    finally:
        engine.dispose()
    assert "building_registration" in document["agencies"][LAND]
    custody = {k["kid"]: k[CUSTODY] for k in document["jwks"]["keys"]}
    at_gateway = {k["kid"] for k in setup.jwks["keys"] if k.get("agency") == LAND}
    assert at_gateway and {custody.get(kid) for kid in at_gateway} == {"gateway"}, custody
    # the node's own keys (its retired key for the land office among them) say "node"
    assert {c for kid, c in custody.items() if kid not in at_gateway} == {"node"}
