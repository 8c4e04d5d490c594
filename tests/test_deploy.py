"""A production deployment: ``onceonly init`` without demo data, the settings file every
command reads, ``/healthz`` and ``/readyz``, who may read ``/metrics`` and what it counts,
and the request id shared by the answer, the log line and the audit entries.

The whole path behind nginx with two workers is ``tests/test_deploy_nginx.py``.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from typer.testing import CliRunner

from onceonly import migrations
from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.signin import authenticate
from onceonly.accounts.users import get_user, list_users
from onceonly.cli import app as cli
from onceonly.config import CONFIG_ENV, SETTINGS_FILE, Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.errors import Problem
from onceonly.federation.node import NodeConfig
from onceonly.observability import RequestIdFilter, log_config, reset_request_id, set_request_id
from onceonly.web.app import create_app
from tests.conftest import DemoEnv
from tests.federation.test_node_key_kind import node_pair

PASSWORD = "a-long-admin-passphrase-42"
ITEM = "public-housing-low-income"
LOOPBACK = ("127.0.0.1", 40000)
ELSEWHERE = ("198.51.100.7", 40000)


@pytest.fixture(autouse=True)
def _no_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("ONCEONLY_ADMIN_PASSWORD", raising=False)


# --- onceonly init -------------------------------------------------------------------------


def test_init_makes_a_deployment_without_demo_data(
    tmp_path: Path, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "node"
    monkeypatch.setenv("ONCEONLY_ADMIN_PASSWORD", PASSWORD)
    args = ["init", str(target), "--database-url", empty_database_url, "--node-name", "測試節點"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output

    settings_file = target / SETTINGS_FILE
    assert PASSWORD not in settings_file.read_text("utf-8")
    assert stat.S_IMODE(settings_file.stat().st_mode) & 0o007 == 0  # not world-readable
    assert stat.S_IMODE((target / "keys").stat().st_mode) == 0o700

    monkeypatch.setenv(CONFIG_ENV, str(settings_file))
    settings = Settings()  # every command reads the file ONCEONLY_CONFIG names
    assert settings.data_dir == target.resolve()
    assert settings.database_url == empty_database_url
    assert settings.node_name == "測試節點"

    head = ScriptDirectory.from_config(migrations.alembic_config(empty_database_url))
    assert migrations.current_revision(empty_database_url) == head.get_current_head()
    engine = make_engine(empty_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            assert [u.username for u in list_users(db)] == ["admin"]  # no demo accounts
            admin = authenticate(db, "admin", PASSWORD)
            assert (admin.role, admin.agency_code) == ("admin", "central.ndc")
            assert db.scalar(text("SELECT COUNT(*) FROM catalog_jurisdictions")) > 0
            assert db.scalar(text("SELECT COUNT(*) FROM signing_keys")) == 0
    finally:
        engine.dispose()
    assert list((target / "registries").iterdir()) == []  # no demo registries

    # again: nothing that exists changes, the settings file keeps an operator's edits
    settings_file.write_text(settings_file.read_text("utf-8") + "# edited\n", "utf-8")
    monkeypatch.setenv("ONCEONLY_ADMIN_PASSWORD", "another-passphrase-99")
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output or "已存在" in again.output
    assert settings_file.read_text("utf-8").endswith("# edited\n")
    engine = make_engine(empty_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            authenticate(db, "admin", PASSWORD)
    finally:
        engine.dispose()


def test_init_keeps_the_default_sqlite_database_from_other_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --database-url the database is a SQLite file in the data directory: password
    hashes, the badge key, citizens' data. No other user of the machine may read it (nor its
    -wal/-shm files, made later with the process's umask)."""
    target = tmp_path / "node"
    monkeypatch.setenv("ONCEONLY_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.delenv("ONCEONLY_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    database = target / "onceonly.sqlite"
    assert database.is_file()
    assert stat.S_IMODE(database.stat().st_mode) & 0o007 == 0
    assert stat.S_IMODE(target.stat().st_mode) & 0o007 == 0  # nothing in it is reachable


def test_init_asks_for_the_password_without_echoing_it(
    tmp_path: Path, empty_database_url: str
) -> None:
    args = ["init", str(tmp_path / "n"), "--database-url", empty_database_url]
    result = CliRunner().invoke(cli, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_init_reads_the_password_file_or_names_why_not(
    tmp_path: Path, empty_database_url: str
) -> None:
    missing = tmp_path / "no-such-file"
    args = ["init", str(tmp_path / "n"), "--database-url", empty_database_url]
    refused = CliRunner().invoke(cli, [*args, "--admin-password-file", str(missing)])
    assert refused.exit_code == 1
    assert str(missing) in refused.output
    assert not (tmp_path / "n" / SETTINGS_FILE).exists()  # nothing made

    secret = tmp_path / "admin-password"
    secret.write_text(PASSWORD + "\n", "utf-8")
    made = CliRunner().invoke(cli, [*args, "--admin-password-file", str(secret)])
    assert made.exit_code == 0, made.output
    engine = make_engine(empty_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            authenticate(db, "admin", PASSWORD)  # the file's newline is not the password's
    finally:
        engine.dispose()


def test_a_weak_admin_password_is_refused_naming_the_field(
    tmp_path: Path, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCEONLY_ADMIN_PASSWORD", "short")
    result = CliRunner().invoke(
        cli, ["init", str(tmp_path / "n"), "--database-url", empty_database_url]
    )
    assert isinstance(result.exception, Problem)
    assert [e.field for e in result.exception.errors] == ["password"]
    assert not (tmp_path / "n").exists()  # refused before anything was made


def test_serve_names_a_missing_settings_file(tmp_path: Path) -> None:
    missing = tmp_path / "onceonly.toml"
    result = CliRunner().invoke(cli, ["serve", "--settings", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.output


def test_the_demo_is_built_on_init(demo_env: DemoEnv) -> None:
    """``onceonly demo`` made its data directory through init: the same settings file."""
    assert (demo_env.settings.data_dir / SETTINGS_FILE).is_file()


# --- the app: health, readiness, metrics, request ids ------------------------------------


class Node:
    def __init__(self, env: DemoEnv, settings: Settings | None = None) -> None:
        self.env = env
        settings = settings or env.settings
        # a loaded CI machine's first readiness answer takes longer than a probe's 2 s
        self.app = create_app(settings.model_copy(update={"ready_timeout_seconds": 60.0}))
        self._tokens: dict[str, str] = {}

    def client(self, peer: tuple[str, int] = LOOPBACK) -> TestClient:
        """A client from ``peer``; not entered as a context, so start-up (the audit
        publisher) does not run once per client."""
        return TestClient(self.app, client=peer)

    def bearer(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            with transaction(self.app.state.sessions) as db:
                user = get_user(db, username)
                assert user is not None
                self._tokens[username], _ = issue_api_token(db, user, "test", 1)
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def ask(self, client: TestClient, **headers: str) -> Any:
        subject = self.env.sample("low_income_applicant")
        auth = self.bearer("tpe-udd-clerk")
        case = client.post(
            "/api/v1/cases", json={"application_item": ITEM, "subject": subject}, headers=auth
        )
        assert case.status_code == 201, case.text
        body = {"case_id": case.json()["number"], "application_item": ITEM, "subject": subject}
        return client.post("/api/v1/evidence-requests", json=body, headers={**auth, **headers})

    def audit_events(self, request_id: str) -> list[str]:
        with self.app.state.sessions() as db:
            rows = db.execute(
                text("SELECT event FROM audit_entries WHERE request_id = :id"), {"id": request_id}
            )
            return [row[0] for row in rows]

    def close(self) -> None:
        exchange = getattr(self.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()
        self.app.state.engine.dispose()


@pytest.fixture
def node(demo_env: DemoEnv) -> Iterator[Node]:
    result = Node(demo_env)
    yield result
    result.close()


def test_healthz_and_readyz_on_a_ready_node(node: Node) -> None:
    client = node.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == ["database", "connectors", "keys"]


def test_the_probes_are_found_without_trying_the_other_routes(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load balancer polls these all day; each used to be matched only after a failed try
    of every API route and page (about 170), which was most of what a probe cost."""
    probes = {"/healthz", "/readyz", "/metrics"}
    tried: list[str] = []
    for route in node.app.router.routes:
        if getattr(route, "path", None) in probes:
            continue
        matches = route.matches

        def spy(scope: Any, matches: Any = matches, name: str = repr(route)) -> Any:
            tried.append(name)
            return matches(scope)

        monkeypatch.setattr(route, "matches", spy)
    client = node.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert tried == []
    assert client.get("/privacy").status_code == 200  # the spies do see the other routes
    assert tried


def _not_ready(client: TestClient) -> dict[str, Any]:
    answer = client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["Retry-After"]
    return dict(answer.json())


def test_readyz_names_an_unreachable_connector(node: Node) -> None:
    store = node.env.manifest.stores[0]
    store.resolve(node.env.settings.registries_dir).unlink()
    client = node.client()
    body = _not_ready(client)
    [failure] = body["failures"]
    assert (failure["check"], failure["target"]) == ("connectors", store.owner)
    assert store.owner in failure["en"] and store.owner in failure["zh-TW"]
    assert "cannot be reached" in failure["en"]


def test_readyz_names_a_missing_signing_key(node: Node) -> None:
    owner = node.env.manifest.stores[0].owner
    for pem in (node.env.settings.keys_dir / owner).glob("*.pem"):
        pem.unlink()
    client = node.client()
    body = _not_ready(client)
    assert [(f["check"], f["target"]) for f in body["failures"]] == [("keys", owner)]
    assert "signing key" in body["failures"][0]["en"]


def test_readyz_names_a_node_key_of_the_wrong_kind_in_words(node: Node, tmp_path: Path) -> None:
    """A node configuration holding an RSA key (written by hand, or before ``federation init``
    checked it) was told as the connectors failing, in English inside the Chinese."""
    cert, key = node_pair(tmp_path, "rsa")
    NodeConfig(
        id="taipei", name="taipei", jurisdictions=("taipei-city",),
        endpoint="https://127.0.0.1:1", cert=str(cert), key=str(key),
        ca=str(tmp_path / "ca" / "ca.pem"), directory_url="https://127.0.0.1:2",
        directory_jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
    ).write(node.env.settings)  # fmt: skip
    body = _not_ready(node.client())
    [failure] = [f for f in body["failures"] if f["check"] != "connectors"]
    assert failure["check"] == "exchange"
    assert "不是 EC P-256" in failure["zh-TW"] and "is not an EC P-256" not in failure["zh-TW"]
    assert "is not an EC P-256" in failure["en"] and str(key) in failure["en"]


def test_readyz_tells_outsiders_only_which_check_failed(node: Node) -> None:
    """Readiness is public (a load balancer asks it), but file paths, host names and driver
    errors are for the operator: only loopback peers not behind the proxy (or the metrics
    token's bearer) read the details."""
    owner = node.env.manifest.stores[0].owner
    for pem in (node.env.settings.keys_dir / owner).glob("*.pem"):
        pem.unlink()
    outside = node.client(ELSEWHERE).get("/readyz")
    proxied = node.client().get("/readyz", headers={"X-Forwarded-For": "203.0.113.5"})
    for answer in (outside, proxied):
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert str(node.env.settings.data_dir) not in answer.text
        assert ".pem" not in answer.text and owner not in answer.text
        assert answer.json()["failures"] == [{"check": "keys"}]
    assert owner in _not_ready(node.client())["failures"][0]["en"]


def test_readyz_does_not_ask_for_keys_held_by_an_owners_gateway(node: Node) -> None:
    """An owner linked to its gateway signs there: the node holds only the public half of
    its active key, which is no reason to take the node out of service."""
    from joserfc.jwk import OKPKey

    from onceonly.exchange import keys

    owner = node.env.manifest.stores[0].owner
    public = OKPKey.generate_key("Ed25519").as_dict(private=False)
    member = {n: public[n] for n in ("kty", "crv", "x")}
    member |= {"kid": keys.install_kid(member), "agency": owner}
    with transaction(node.app.state.sessions) as db:
        assert keys.hand_over(db, node.env.settings, owner, [member])
    ready = node.client().get("/readyz")
    assert ready.status_code == 200, ready.text


def test_readyz_names_an_unreachable_database(demo_env: DemoEnv, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone' / 'onceonly.sqlite'}"
    settings = demo_env.settings.model_copy(update={"database_url": url})
    broken = Node(demo_env, settings)
    try:
        client = broken.client()
        body = _not_ready(client)
        assert "database" in [f["check"] for f in body["failures"]]
        assert "資料庫" in body["detail"]  # the node's language first, in words
    finally:
        broken.close()


def samples_of(answer: Any) -> dict[str, float]:
    assert answer.status_code == 200, answer.text
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[sample.name + json.dumps(sample.labels, sort_keys=True)] = sample.value
    return samples


def test_metrics_only_for_loopback_without_the_proxy_or_the_token(demo_env: DemoEnv) -> None:
    node = Node(demo_env)
    try:
        local, remote = node.client(LOOPBACK), node.client(ELSEWHERE)
        assert local.get("/metrics").status_code == 200
        assert remote.get("/metrics").status_code == 403
        # through the reverse proxy on the same machine: forwarded, so refused
        forwarded = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
        assert forwarded.status_code == 403
        assert "metrics" in forwarded.json()["title"] or "指標" in forwarded.json()["title"]
    finally:
        node.close()
    settings = demo_env.settings.model_copy(update={"metrics_token": "scrape-token-123"})
    node = Node(demo_env, settings)
    try:
        remote, local = node.client(ELSEWHERE), node.client(LOOPBACK)
        good = {"Authorization": "Bearer scrape-token-123"}
        assert remote.get("/metrics", headers=good).status_code == 200
        bad = {"Authorization": "Bearer scrape-token-124"}
        assert remote.get("/metrics", headers=bad).status_code == 403
        assert local.get("/metrics").status_code == 403  # a token, once set, is required
    finally:
        node.close()


def test_metrics_count_requests_decisions_audit_and_connector_errors(node: Node) -> None:
    client = node.client()
    before = samples_of(client.get("/metrics"))
    answer = node.ask(client)
    assert answer.status_code == 200, answer.text
    pieces = len(answer.json()["results"])
    client.get(f"/api/v1/cases/{answer.json()['case_id']}", headers=node.bearer("tpe-udd-clerk"))
    store = next(s for s in node.env.manifest.stores if s.owner == "taipei-city.social_welfare")
    store.resolve(node.env.settings.registries_dir).unlink()
    node.ask(client)
    after = samples_of(client.get("/metrics"))

    def grew(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew('onceonly_evidence_decisions_total{"outcome": "issued"}') >= pieces
    assert grew('onceonly_evidence_decisions_total{"outcome": "unavailable"}') >= 1
    errors = '{"owner": "taipei-city.social_welfare", "reason": "unavailable"}'
    assert grew("onceonly_connector_errors_total" + errors) >= 1
    assert grew("onceonly_audit_append_seconds_count{}") >= 2
    post = '{"method": "POST", "route": "/api/v1/evidence-requests", "status": "200"}'
    assert grew("onceonly_http_requests_total" + post) >= 1
    # routes are counted by template, not by each case number
    by_template = '{"method": "GET", "route": "/api/v1/cases/{number}", "status": "200"}'
    assert grew("onceonly_http_requests_total" + by_template) == 1
    assert (
        "onceonly_http_request_duration_seconds_count" + post.replace(', "status": "200"', "")
        in after
    )
    with node.app.state.sessions() as db:
        from onceonly.notify.outbox import pending_backlog

        depth, _ = pending_backlog(db)
    assert after["onceonly_notify_queue_depth{}"] == depth
    assert "onceonly_notify_queue_lag_seconds{}" in after


def test_the_proxys_request_id_is_in_the_answer_the_log_and_the_audit_entries(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    given = "0123456789abcdef0123456789abcdef"
    with caplog.at_level(logging.INFO, logger="onceonly.access"):
        client = node.client()
        answer = node.ask(client, **{"X-Request-ID": given})
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-ID"] == given
    assert answer.json()["request_id"] == given
    assert node.audit_events(given).count("evidence.request") == len(answer.json()["results"])
    lines = [r for r in caplog.records if getattr(r, "request_id", None) == given]
    assert [(r.method, r.route, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("POST", "/api/v1/evidence-requests", 200)
    ]


def test_a_request_id_from_anyone_but_the_proxy_is_not_taken(node: Node) -> None:
    forged = "forged-request-id-0001"
    remote, proxy = node.client(ELSEWHERE), node.client(LOOPBACK)
    answer = node.ask(remote, **{"X-Request-ID": forged})
    malformed = proxy.get("/healthz", headers={"X-Request-ID": "two words"})
    assert answer.status_code == 200, answer.text
    drawn = answer.headers["X-Request-ID"]
    assert drawn != forged and answer.json()["request_id"] == drawn
    assert node.audit_events(forged) == []
    assert node.audit_events(drawn)
    assert malformed.headers["X-Request-ID"] != "two words"


def test_an_outsiders_path_cannot_forge_a_log_line(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    """The path is percent-decoded before it is logged: ``%0a`` in it would start a line of
    the attacker's own in the plain-text log (``log_format = "text"``)."""
    forged = "2026-01-01 INFO onceonly.access [feedfacefeedface] POST /admin/users 200"
    with caplog.at_level(logging.INFO, logger="onceonly.access"):
        node.client(ELSEWHERE).get("/nothing%0a" + forged.replace(" ", "%20") + "%0d")
    formatter = logging.Formatter(log_config("text")["formatters"]["default"]["format"])
    [record] = [r for r in caplog.records if r.name == "onceonly.access"]
    line = formatter.format(record)
    assert "\n" not in line and "\r" not in line and "\n" not in record.path  # type: ignore[attr-defined]
    assert "/nothing\\x0a2026" in line


def test_json_log_lines_carry_the_request_id() -> None:
    from pythonjsonlogger.json import JsonFormatter

    config = dict(log_config("json")["formatters"]["default"])
    assert config.pop("()") == "pythonjsonlogger.json.JsonFormatter"
    formatter = JsonFormatter(**config)
    record = logging.LogRecord("onceonly.test", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    token = set_request_id("feedfacefeedface")
    try:
        RequestIdFilter().filter(record)
    finally:
        reset_request_id(token)
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "feedfacefeedface"
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "onceonly.test", "hello x")


ROOT = Path(__file__).resolve().parent.parent


def _command_exists(words: list[str]) -> bool:
    """``words`` name a command of the CLI and give every option it requires."""
    import typer.main

    command: Any = typer.main.get_command(cli)
    for word in words:
        if word.startswith("-"):
            break
        if word not in getattr(command, "commands", {}):
            return False
        command = command.commands[word]
    required = {o for p in command.params if p.required for o in p.opts if o.startswith("--")}
    return required <= set(words)


def test_the_shipped_units_and_container_run_commands_that_exist() -> None:
    """Each systemd unit and the Containerfile start an ``onceonly`` command this version
    has, with ``ONCEONLY_CONFIG`` set, and pass every option it requires."""
    started: dict[str, list[str]] = {}
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        body = unit.read_text("utf-8")
        assert "Environment=ONCEONLY_CONFIG=" in body, unit.name
        joined = body.replace("\\\n", " ")  # continuation lines
        [line] = [x for x in joined.splitlines() if x.startswith("ExecStart=")]
        words = line.split("onceonly ", 1)[1].split()
        started[unit.name] = words
    container = (ROOT / "Containerfile").read_text("utf-8")
    assert "ONCEONLY_CONFIG=" in container
    cmd = json.loads(next(x for x in container.splitlines() if x.startswith("CMD "))[4:])
    started["Containerfile"] = cmd[1:]
    assert started["onceonly-gateway.service"][:2] == ["gateway", "serve"]
    for name, words in started.items():
        assert _command_exists(words), (name, words)
    assert started["onceonly-web@.service"][:1] == ["serve"]
