"""The shipped nginx configuration (``deploy/nginx.conf``) in front of two real
``onceonly serve`` processes on PostgreSQL: evidence requests, a sign-in and a page through
it, the request id from nginx in the answer, the worker's log line and the audit entry,
metrics added up across the workers, and a worker killed mid-traffic losing no request nginx
could retry.

Runs only on PostgreSQL (two processes share one database; SQLite is a single-writer file)
and needs nginx from Debian's packages (``./run-tests`` installs it and sets
``ONCEONLY_REQUIRE_NGINX``, which turns a missing nginx into a failure, not a skip).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.config import CONFIG_ENV, SETTINGS_FILE
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.deployment import settings_document
from onceonly.open311 import keys as open311_keys
from tests.conftest import PG_URL, DemoEnv

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

if not PG_URL:
    pytest.skip("two workers share one database: PostgreSQL only", allow_module_level=True)
if NGINX is None:
    if os.environ.get("ONCEONLY_REQUIRE_NGINX"):
        raise RuntimeError("nginx is required (./run-tests installs Debian's nginx package)")
    pytest.skip("nginx is not installed (Debian package nginx)", allow_module_level=True)

ITEM = "public-housing-low-income"


def wait_for(url: str, deadline: float, **kwargs: object) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2, **kwargs).status_code < 500:  # type: ignore[arg-type]
                return
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer: {last}")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, as the node's TLS certificate would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def site_config(folder: Path, workers: list[int], http: int, https: int) -> Path:
    """``deploy/nginx.conf`` with loopback ports and this test's files, inside a minimal main
    configuration; every replacement must hit, so the test runs the shipped file."""
    cert, key = self_signed(folder)
    site = (ROOT / "deploy" / "nginx.conf").read_text("utf-8")
    replacements = [
        ("127.0.0.1:8001", f"127.0.0.1:{workers[0]}"),
        ("127.0.0.1:8002", f"127.0.0.1:{workers[1]}"),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http};\n"),
        ("    listen [::]:80;\n", ""),
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https} ssl http2;\n"),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("/etc/onceonly/tls/fullchain.pem", str(cert)),
        ("/etc/onceonly/tls/privkey.pem", str(key)),
        ("/var/log/nginx/onceonly.access.log", str(folder / "access.log")),
    ]
    for old, new in replacements:
        assert old in site, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    (folder / "onceonly.conf").write_text(site, "utf-8")
    temp = folder / "tmp"
    temp.mkdir(mode=0o777)
    temp.chmod(0o777)  # nginx's workers run as nobody when the master is root
    temps = "\n".join(
        f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"""daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 256; }}
http {{
{temps}
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    include {folder / "onceonly.conf"};
}}
""",
        "utf-8",
    )
    return main


@dataclass
class Worker:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, object]]:
        out = []
        for raw in self.log.read_text("utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return out


@dataclass
class Site:
    env: DemoEnv
    url: str
    workers: list[Worker]
    nginx: subprocess.Popen[bytes]
    folder: Path
    tls: ssl.SSLContext

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """A client connecting from ``source`` (another loopback address stands for a
        browser elsewhere: nginx forwards it, the worker must log it as the client)."""
        transport = httpx.HTTPTransport(verify=self.tls, local_address=source)
        return httpx.Client(base_url=self.url, transport=transport, timeout=30)


def start_worker(folder: Path, settings_file: Path, metrics_dir: Path, name: str) -> Worker:
    port = free_port()
    log = folder / f"{name}.log"
    env = {
        **os.environ,
        CONFIG_ENV: str(settings_file),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONPATH": str(ROOT),
        "ONCEONLY_AUDIT_PUBLISH_SECONDS": "0",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "onceonly.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    return Worker(port, process, log)


@pytest.fixture
def site(demo_env: DemoEnv, tmp_path: Path) -> Iterator[Site]:
    settings_file = demo_env.settings.data_dir / SETTINGS_FILE
    settings_file.unlink(missing_ok=True)  # the template's, naming the template's database
    settings_file.write_text(settings_document(demo_env.settings), "utf-8")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    workers = [start_worker(tmp_path, settings_file, metrics_dir, n) for n in ("a", "b")]
    http, https = free_port(), free_port()
    main = site_config(tmp_path, [w.port for w in workers], http, https)
    nginx = subprocess.Popen(
        [NGINX or "nginx", "-e", str(tmp_path / "error.log"), "-c", str(main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tls = ssl.create_default_context(cafile=str(tmp_path / "fullchain.pem"))
    url = f"https://127.0.0.1:{https}"
    try:
        deadline = time.monotonic() + 90
        for worker in workers:
            wait_for(f"http://127.0.0.1:{worker.port}/healthz", deadline)
        wait_for(f"{url}/healthz", deadline, verify=tls)
        yield Site(demo_env, url, workers, nginx, tmp_path, tls)
    finally:
        for process in [nginx, *(w.process for w in workers)]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [nginx, *(w.process for w in workers)]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


class _Inputs(HTMLParser):
    """The named inputs of a page's forms (hidden CSRF fields and the like)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name"):
            self.values[str(named["name"])] = named.get("value") or ""


def token(env: DemoEnv, username: str) -> str:
    engine = make_engine(str(env.settings.database_url))
    try:
        with transaction(make_session_factory(engine)) as db:
            user = get_user(db, username)
            assert user is not None
            plain, _ = issue_api_token(db, user, "nginx test", 1)
            return plain
    finally:
        engine.dispose()


def audit_request_ids(env: DemoEnv, request_id: str) -> list[str]:
    engine = make_engine(str(env.settings.database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT event FROM audit_entries WHERE request_id = :id"), {"id": request_id}
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def scrape(port: int) -> dict[str, float]:
    """Every sample of a worker's ``/metrics``, parsed with Prometheus' own text parser."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            key = sample.name + json.dumps(sample.labels, sort_keys=True)
            samples[key] = sample.value
    return samples


def open_case(client: httpx.Client, bearer: str, subject: str) -> str:
    """An open case of the clerk's agency (evidence is asked for a case)."""
    headers = {"Authorization": f"Bearer {bearer}"}
    case = client.post(
        "/api/v1/cases", json={"application_item": ITEM, "subject": subject}, headers=headers
    )
    assert case.status_code == 201, case.text
    return str(case.json()["number"])


def evidence(client: httpx.Client, bearer: str, subject: str, case: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"}
    body = {"case_id": case, "application_item": ITEM, "subject": subject}
    return client.post("/api/v1/evidence-requests", json=body, headers=headers)


def test_nginx_in_front_of_two_workers_on_postgresql(site: Site) -> None:
    clerk = token(site.env, "tpe-udd-clerk")
    subject = site.env.sample("low_income_applicant")
    with site.client(source="127.0.0.2") as client:
        # evidence requests, spread over both workers by nginx
        case = open_case(client, clerk, subject)
        answers = [evidence(client, clerk, subject, case) for _ in range(4)]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert {r["status"] for r in answer.json()["results"]} == {"issued"}
        access = [
            json.loads(line)
            for line in (site.folder / "access.log").read_text().split("\n")
            if line
        ]
        served_by = {a["upstream"] for a in access if a["uri"] == "/api/v1/evidence-requests"}
        assert len(served_by) == 2, served_by  # both workers answered

        # nginx's request id: in the answer, in the worker's JSON log line, in the audit entries
        request_id = answers[0].headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id  # nginx's $request_id
        assert answers[0].json()["request_id"] == request_id
        logged = [
            line for w in site.workers for line in w.lines() if line.get("request_id") == request_id
        ]
        [access_line] = [line for line in logged if line.get("logger") == "onceonly.access"]
        assert (access_line["client"], access_line["peer"]) == ("127.0.0.2", "127.0.0.1")
        assert access_line["route"] == "/api/v1/evidence-requests"
        assert audit_request_ids(site.env, request_id).count("evidence.request") == len(
            answers[0].json()["results"]
        )
        # a client cannot choose its request id: nginx overwrites it
        forged = client.get("/healthz", headers={"X-Request-ID": "forged-by-client-123"})
        assert forged.headers["X-Request-ID"] != "forged-by-client-123"

        # a sign-in and a page
        form = client.get("/login")
        assert form.status_code == 200
        inputs = _Inputs()
        inputs.feed(form.text)
        fields = {**inputs.values, "username": "tpe-udd-clerk", "password": "onceonly-demo"}
        fields["next"] = "/counter"
        signed_in = client.post("/login", data=fields)
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.headers["set-cookie"]
        assert "secure" in cookie.lower()  # the proxy said https; the worker believed it
        page = client.get("/counter")
        assert page.status_code == 200
        assert "strict-transport-security" in page.headers  # the worker knows it was HTTPS
        assert "tpe-udd-clerk" in page.text or "都市發展局" in page.text

        # metrics: never through the public entrance; from a worker's port, both added up
        assert client.get("/metrics").status_code == 404
    # each worker served some; each one's /metrics counts all (multiprocess mode)
    issued = 'onceonly_evidence_decisions_total{"outcome": "issued"}'
    route = (
        "onceonly_http_requests_total"
        '{"method": "POST", "route": "/api/v1/evidence-requests", "status": "200"}'
    )
    for worker in site.workers:
        samples = scrape(worker.port)
        assert samples[issued] == 4 * len(answers[0].json()["results"]), samples
        assert samples[route] == 4
        assert samples["onceonly_audit_append_seconds_count{}"] >= 4
        assert "onceonly_notify_queue_depth{}" in samples

    # kill one worker while pages are being read: nginx passes each GET to the other
    def read_pages(count: int) -> list[int]:
        with site.client() as reader:
            return [reader.get("/catalog").status_code for _ in range(count)]

    with ThreadPoolExecutor(max_workers=3) as pool:
        running = [pool.submit(read_pages, 15) for _ in range(3)]
        time.sleep(0.3)
        site.workers[0].process.send_signal(signal.SIGKILL)
        statuses = [status for call in running for status in call.result()]
    assert statuses == [200] * len(statuses), statuses
    # POST evidence requests after the death: nginx could not connect to the dead worker,
    # nothing was sent there, so it passed them on to the live one
    with site.client() as client:
        for _ in range(4):
            answer = evidence(client, clerk, subject, case)
            assert answer.status_code == 200, answer.text
    errors = (site.folder / "error.log").read_text()
    assert f"127.0.0.1:{site.workers[0].port}" in errors  # nginx did meet the dead worker


def open311_key(env: DemoEnv) -> str:
    engine = make_engine(str(env.settings.database_url))
    try:
        with transaction(make_session_factory(engine)) as db:
            return open311_keys.issue_key(
                db, jurisdiction="taipei-city", app_name="街道通 StreetFix", issued_by="tpe-admin"
            )[1]
    finally:
        engine.dispose()


def test_keyless_georeport_reads_are_limited_per_address_not_keyed_ones(site: Site) -> None:
    """Anyone may read a city's service requests without a key; a scraper hammering the
    public entrance from one address is held to ten a second after a burst, in the
    specification's error format, while a keyed reader (counted by its quota) and every
    other address go on."""
    key = open311_key(site.env)
    path = "/open311/v2/requests.{fmt}?jurisdiction_id=taipei-city"
    with site.client(source="127.0.0.3") as scraper, ThreadPoolExecutor(max_workers=8) as pool:

        def flood(fmt: str, count: int) -> list[httpx.Response]:
            return list(pool.map(lambda _: scraper.get(path.format(fmt=fmt)), range(count)))

        started = time.monotonic()
        answers = flood("json", 120)
        elapsed = time.monotonic() - started
        statuses = [a.status_code for a in answers]
        assert set(statuses) == {200, 429}, statuses
        assert 40 <= statuses.count(200) <= 40 + 10 * elapsed + 2, (statuses, elapsed)
        busy = next(a for a in answers if a.status_code == 429)
        assert busy.headers["Retry-After"] == "1"
        [error] = busy.json()
        assert error["code"] == 429 and "api_key" in error["description"]
        as_xml = next(a for a in flood("xml", 30) if a.status_code == 429)
        assert as_xml.headers["content-type"].startswith("text/xml")
        assert ET.fromstring(as_xml.content).findtext("error/code") == "429"
        keyed = [scraper.get(path.format(fmt="json") + f"&api_key={key}") for _ in range(5)]
        assert [r.status_code for r in keyed] == [200] * 5
        # spellings the app reads as no key are no key at the entrance either
        # (asked until the limit answers: on a loaded machine twenty answers can take the
        # two seconds in which ten a second refill twenty)
        for dodge in ("&api_key=+", "&api_key=x", f"&API_KEY={key}", "&api_key=o311_short"):
            url = path.format(fmt="json") + dodge
            started, seen = time.monotonic(), []
            while 429 not in seen and len(seen) < 200:
                seen += [a.status_code for a in pool.map(scraper.get, [url] * 20)]
            elapsed = time.monotonic() - started
            assert 429 in seen, (dodge, len(seen), elapsed)
            assert len(seen) - seen.count(429) <= 40 + 10 * elapsed + 20, (dodge, elapsed)
    with site.client(source="127.0.0.4") as neighbour:
        assert neighbour.get(path.format(fmt="json")).status_code == 200
    # made-up keys of the issued form: the app refuses each (403), and one address is still
    # held to 200 at once, then 50 a second, so they cannot hammer the workers
    made_up = path.format(fmt="json") + "&api_key=o311_" + "A" * 43
    with site.client(source="127.0.0.5") as forger, ThreadPoolExecutor(max_workers=8) as pool:
        started = time.monotonic()
        forged = list(pool.map(lambda _: forger.get(made_up).status_code, range(320)))
        elapsed = time.monotonic() - started
    assert set(forged) <= {403, 429}, forged
    assert 200 <= forged.count(403) <= 200 + 50 * elapsed + 2, (forged.count(403), elapsed)
    time.sleep(1.2)  # ten a second: the scraper may read again
    with site.client(source="127.0.0.3") as scraper:
        assert scraper.get(path.format(fmt="json")).status_code == 200


def test_serve_workers_add_their_metrics_up(demo_env: DemoEnv, tmp_path: Path) -> None:
    """``onceonly serve --workers 2`` with the deployment's settings file: JSON log lines
    from the worker processes, and every scrape (whichever worker answers) counts the
    requests both served."""
    settings_file = demo_env.settings.data_dir / SETTINGS_FILE
    settings_file.unlink(missing_ok=True)
    settings_file.write_text(settings_document(demo_env.settings), "utf-8")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(ROOT)}
    env["ONCEONLY_AUDIT_PUBLISH_SECONDS"] = "0"
    env.pop(CONFIG_ENV, None)
    args = ["serve", "--workers", "2", "--port", str(port), "--settings", str(settings_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "onceonly.cli", *args], env=env, stdout=out, stderr=out
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 90)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(20):
                assert client.get("/catalog").status_code == 200
        key = 'onceonly_http_requests_total{"method": "GET", "route": "/catalog", "status": "200"}'
        counts = {scrape(port)[key] for _ in range(6)}
        assert counts == {20.0}, counts
        lines = Worker(port, process, log).lines()
        pages = [
            x for x in lines if x.get("logger") == "onceonly.access" and x["route"] == "/catalog"
        ]
        assert len(pages) == 20  # one JSON access line per request
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
