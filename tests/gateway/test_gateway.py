"""An owner behind its own gateway: a real ``onceonly gateway serve`` process on loopback with
mutual TLS, the platform's app asking it. The owner here is 財政資訊中心 (central.fia), whose
store and connector move from the platform's data directory to the gateway's."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.connectors import SUFFIX, load_connector
from onceonly.db import make_engine, make_session_factory
from onceonly.demo.federated.cluster import free_port, stop
from onceonly.demo.registries.schema import metadata_for
from onceonly.exchange import keys
from onceonly.exchange.transcript import verify_transcript
from onceonly.gateway.setup import prepare_gateway
from onceonly.pki import ca
from tests.conftest import PG_URL, DemoEnv
from tests.exchange.support import Counter
from tests.gateway.softhsm import SoftToken

OWNER = "central.fia"
PIECE = "household_income_below"


def _into_postgres(store: Path, schema: str) -> None:
    """The owner's legacy tables and rows, copied into a PostgreSQL schema of their own."""
    assert PG_URL
    source = create_engine(f"sqlite:///{store}")
    target = create_engine(PG_URL)
    metadata = metadata_for("income")
    with target.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        mapped = connection.execution_options(schema_translate_map={None: schema})
        metadata.create_all(mapped)
        with source.connect() as reader:
            for table in metadata.sorted_tables:
                rows = [dict(r._mapping) for r in reader.execute(table.select())]
                if rows:
                    mapped.execute(insert(table), rows)
    source.dispose()
    target.dispose()


class Setup:
    def __init__(
        self,
        env: DemoEnv,
        root: Path,
        schema: str | None = None,
        token: SoftToken | None = None,
        owner: str = OWNER,
    ) -> None:
        """``token``: the owner's key is in this PKCS#11 token (else a key file)."""
        self.env = env
        self.root = root
        self.token = token
        self.owner = owner
        self.platforms = ["platform"]
        """The node ids the gateway is started to answer (``--platform``)."""
        platform = env.settings
        self.ca_dir = root / "ca"
        ca.init_ca(self.ca_dir)
        self.platform_cert = ca.issue_node(self.ca_dir, "platform", root / "platform-tls")
        ca.issue_node(self.ca_dir, "gw-fia", root / "gw-tls")
        self.gateway_crl = root / "gateway-crl.pem"
        self.gateway_crl.write_bytes(ca.current_crl(self.ca_dir))
        platform_crl = root / "platform-crl.pem"
        platform_crl.write_bytes(ca.current_crl(self.ca_dir))
        # the owner's store and connector move to the gateway's side
        self.gw = Settings(data_dir=root / "gw", database_url=None, secret_key="gw")
        self.gw.ensure_dirs()
        source = platform.registries_dir / f"{owner}{SUFFIX}"
        connector = load_connector(source)
        data = yaml.safe_load(source.read_text("utf-8"))
        store = Path(data["source"]["url"].removeprefix("sqlite:///"))
        store = store if store.is_absolute() else source.parent / store
        moved = self.gw.data_dir / store.name
        shutil.move(store, moved)
        data["source"]["url"] = f"sqlite:///{moved}"
        if schema is not None:  # the owner's store lives in PostgreSQL, in its own schema
            _into_postgres(moved, schema)
            moved.unlink()
            url = make_url(PG_URL).set(query={}).render_as_string(hide_password=False)
            data["source"].update({"url": url, "schema": schema})
        self.connector = self.gw.data_dir / f"{owner}{SUFFIX}"
        self.connector.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
        source.unlink()
        assert connector.owner == owner
        token_keys = {owner: token.public_jwk} if token is not None else None
        datasets = {owner: list(connector.spec.datasets)}
        self.jwks = prepare_gateway(self.gw, [owner], token_keys, datasets)
        jwks_file = self.gw.data_dir / "jwks.json"
        jwks_file.write_text(json.dumps(self.jwks), "utf-8")
        runner = CliRunner()
        on_platform = {"ONCEONLY_DATABASE_URL": platform.resolved_database_url}
        at_gateway = {"ONCEONLY_DATABASE_URL": self.gw.resolved_database_url}
        rules = root / "rules.json"
        exported = runner.invoke(
            cli,
            [
                "gateway",
                "rules-export",
                "--owner",
                owner,
                "--out",
                str(rules),
                "--data-dir",
                str(platform.data_dir),
            ],
            env=on_platform,
        )
        assert exported.exit_code == 0, exported.output
        imported = runner.invoke(
            cli,
            [
                "gateway",
                "rules-import",
                str(rules),
                "--owner",
                owner,
                "--data-dir",
                str(self.gw.data_dir),
            ],
            env=at_gateway,
        )
        assert imported.exit_code == 0 and int(imported.output) > 0, imported.output
        self.port = free_port()
        tls = root / "platform-tls"
        linked = runner.invoke(
            cli,
            [
                "gateway",
                "link",
                "--id",
                "gw-fia",
                "--endpoint",
                f"https://127.0.0.1:{self.port}",
                "--jwks",
                str(jwks_file),
                "--node",
                "platform",
                "--cert",
                str(tls / "platform.pem"),
                "--key",
                str(tls / "platform.key"),
                "--ca",
                str(self.ca_dir / "ca.pem"),
                "--crl",
                str(platform_crl),
                "--data-dir",
                str(platform.data_dir),
                "--owner",
                owner,
            ],
            env=on_platform,
        )
        assert linked.exit_code == 0 and owner in linked.output, linked.output
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
        tls = self.root / "gw-tls"
        command = [sys.executable, "-m", "onceonly.cli", "gateway", "serve"]
        command += ["--connector", str(self.connector), "--id", "gw-fia"]
        for platform_id in self.platforms:
            command += ["--platform", platform_id]
        command += ["--cert", str(tls / "gw-fia.pem")]
        command += ["--key", str(tls / "gw-fia.key"), "--ca", str(self.ca_dir / "ca.pem")]
        command += ["--crl", str(self.gateway_crl), "--data-dir", str(self.gw.data_dir)]
        command += ["--port", str(self.port)]
        if self.token is not None:
            env["SOFTHSM2_CONF"] = str(self.token.conf)
            command += self.token.serve_options()
        log = (self.root / "gateway.log").open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.root / "gateway.log").read_text()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("the gateway did not come up")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(demo_env: DemoEnv, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    """The owner's store in SQLite, or in PostgreSQL in its own schema (skipped without a
    server: ``./run-tests`` starts one and sets ``ONCEONLY_TEST_PG_URL``)."""
    schema = None
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("no PostgreSQL configured")
        schema = f"fia_{uuid.uuid4().hex[:10]}"
    result = Setup(demo_env, tmp_path / "gw-test", schema)
    try:
        yield result
    finally:
        result.stop()
        if schema is not None:
            assert PG_URL
            engine = create_engine(PG_URL)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def _ask(counter: Counter) -> dict[str, Any]:
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask("tpe-udd-clerk", subject, evidence=[{"type": PIECE}])
    return dict(counter.results(response)[PIECE])


def test_the_owner_answers_and_signs_at_its_gateway(setup: Setup) -> None:
    setup.start()
    counter = Counter(setup.env)
    try:
        result = _ask(counter)
        assert result["status"] == "issued", result
        assert result["answer"] is True
        # the record the yes/no is read from: the owner's rule refuses it in words, naming its
        # fields; the item's threshold (the predicate's) is not sent with it to be refused
        subject = counter.env.sample("low_income_applicant")
        asked = counter.ask("tpe-udd-clerk", subject, evidence=[{"type": "income"}])
        record = counter.results(asked)["income"]
        assert record["status"] == "denied", record
        assert "total_income" in record["reason"]["en"]
        jwks = counter.client.get("/.well-known/jwks.json").json()
        token = result["transcripts"][0]["jws"]
        verified = verify_transcript(token, jwks)
        assert verified.claims.issuer == OWNER
        kid = verified.header["kid"]
        member = next(k for k in jwks["keys"] if k["kid"] == kid)
        assert member["x-onceonly-custody"] == "gateway"
        assert kid in {k["kid"] for k in setup.jwks["keys"]}
        # the gateway's own key set, the file its owner hands over, says where the keys are
        assert {k["x-onceonly-custody"] for k in setup.jwks["keys"]} == {"gateway"}
        gw_engine = make_engine(setup.gw.resolved_database_url)  # the gateway audits its answer
        with gw_engine.connect() as connection:
            audited = connection.execute(
                text("SELECT owner_agency FROM audit_entries WHERE request_id = :r"),
                {"r": verified.claims.request_id},
            ).scalars()
            assert OWNER in set(audited)
        gw_engine.dispose()
        others = [k for k in jwks["keys"] if k["agency"] != OWNER]
        assert others and {k["x-onceonly-custody"] for k in others} == {"node"}

        # the private key exists only at the gateway: not in the platform's files or database
        private = next((setup.gw.keys_dir / OWNER).glob("*.pem")).read_bytes()
        body = b"".join(private.splitlines()[1:-1])
        assert not list((setup.env.settings.keys_dir / OWNER).glob("*"))
        for path in setup.env.settings.data_dir.rglob("*"):
            if path.is_file():
                assert body not in path.read_bytes(), path
        engine = make_engine(setup.env.settings.resolved_database_url)
        with make_session_factory(engine)() as session:
            for record in session.scalars(
                select(keys.SigningKeyRecord).where(keys.SigningKeyRecord.agency_code == OWNER)
            ):
                assert "d" not in record.public_jwk
        engine.dispose()

        setup.stop()  # the owner's gateway is down: the plain reason, retry later
        down = _ask(counter)
        assert down["status"] == "unavailable", down
        assert "did not answer" in down["reason"]["en"]
        assert down["retry_after"]

        setup.start()
        assert _ask(counter)["status"] == "issued"
        ca.revoke(setup.ca_dir, setup.platform_cert.serial, "key_compromise")
        setup.gateway_crl.write_bytes(ca.current_crl(setup.ca_dir))  # at the gateway only
        deadline = time.monotonic() + 15
        while (refused := _ask(counter))["status"] == "issued" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert refused["status"] == "failed", refused
        assert not refused["transcripts"]
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()


def test_a_parameter_the_clerk_chose_is_refused_in_words_before_the_gateway_is_asked(
    setup: Setup,
) -> None:
    """The platform holds no copy of the gateway owner's rules, so the catalog's statutory
    value is the one it may ask with; a clerk's own threshold is a 422 naming the field, not
    the owner's refusal coming back as "owner unavailable, try again" (the gateway is not even
    running here)."""
    counter = Counter(setup.env)
    try:
        subject = counter.env.sample("low_income_applicant")
        refused = counter.ask(
            "tpe-udd-clerk", subject, evidence=[{"type": PIECE, "params": {"threshold": 999999}}]
        )
        assert refused.status_code == 422, refused.text
        assert "retry-after" not in refused.headers
        [error] = refused.json()["errors"]
        assert error["field"] == "evidence[0].params.threshold"
        assert "法定標準" in error["reason"] and "19013" in error["reason"]  # in words, zh first
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()


def test_a_body_the_gateway_would_hold_whole_is_bounded(setup: Setup) -> None:
    """The gateway read any body whole before checking who sent it: one request could
    exhaust its memory. Over the platform's own limit it is refused with 413 unread."""
    import ssl

    import httpx

    from onceonly.federation.remote import EVIDENCE_PATH

    setup.start()
    tls = setup.root / "platform-tls"
    context = ssl.create_default_context(cafile=str(setup.ca_dir / "ca.pem"))
    context.load_cert_chain(str(tls / "platform.pem"), str(tls / "platform.key"))
    with httpx.Client(verify=context, timeout=30) as client:
        huge = client.post(
            f"https://127.0.0.1:{setup.port}{EVIDENCE_PATH}", content=b"{" + b" " * 2**20 + b"}"
        )
    assert huge.status_code == 413, huge.text[:300]
