"""The regional node (基隆市 and 宜蘭縣) as its operator runs it, on real processes: one
tenant's backup shipped and drilled with the real commands, and a signed request replayed to
the node after it restarted. Two nodes and the directory (the ``pair`` fixture)."""

from __future__ import annotations

import gzip
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from onceonly.accounts.tenancy import Scope
from onceonly.cli import app as cli
from onceonly.exchange.transcript import verify_transcript
from onceonly.federation.backup import open_envelope
from onceonly.federation.directory import Directory
from onceonly.federation.node import NodeConfig, SnapshotCache, federation_dir
from onceonly.federation.remote import EVIDENCE_PATH, RemoteNodes
from onceonly.federation.signing import HEADER
from onceonly.federation.tenant_backup import restored_files
from tests.federation.conftest import (
    Federation,
    credentials,
    dump,
    forwarded_body,
    peer_client,
    piece,
    refusals,
)
from tests.federation.test_tenancy import NATIONAL_ID, _ids_in_stores

pytestmark = pytest.mark.slow
WORK_ITEM = "temporary-work-allowance"
"""Offered by every labour department (see ``test_tenancy``)."""
NO_HOME = "owns_no_residential_property"
SELF_USE_TAX = "land-value-tax-self-use"
"""Needs the land register (parcels), asked by a tax office."""
EVERY_LAND_OFFICE = (
    "taipei-city.land_office",
    "keelung-city.land_office",
    "yilan-county.land_office",
)


def onceonly(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator types it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "onceonly.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )


def _received(pair: Federation) -> list[Path]:
    return sorted((federation_dir(pair.layout.node("taipei").settings) / "backups").rglob("*.obk"))


def test_a_tenant_backup_ships_and_drills_with_the_real_commands(pair: Federation) -> None:
    regional, taipei = pair.layout.node("north-regional"), pair.layout.node("taipei")
    yilan, keelung = pair.sample("yilan_resident"), pair.sample("veteran")
    for clerk, subject in (("ila-labour-clerk", yilan), ("kee-labour-clerk", keelung)):
        asked = pair.ask("north-regional", clerk, subject, item=WORK_ITEM)
        assert asked.status_code in (200, 403), dump(asked)
    keelung_only = _ids_in_stores(regional.settings.registries_dir, "keelung-city") - (
        _ids_in_stores(regional.settings.registries_dir, "yilan-county")
    )
    assert keelung.encode() in keelung_only
    before = _received(pair)

    shipped = onceonly(
        "backup", "ship", "--tenant", "yilan-county", "--data-dir", str(regional.data_dir)
    )
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    [stored] = [p for p in _received(pair) if p not in before]
    assert stored.parent.name == "north-regional"
    assert "備份範圍：yilan-county" in shipped.stdout
    assert "Backup scope: yilan-county" in shipped.stdout
    assert f"to taipei, stored as {stored.name}" in shipped.stdout
    assert f"送至 taipei，存為 {stored.name}" in shipped.stdout

    data = stored.read_bytes()
    assert yilan.encode() not in data  # sealed for the partner
    config = NodeConfig.read(taipei.settings)
    assert config is not None
    opened = open_envelope(
        data, Path(config.key).read_bytes(), SnapshotCache(taipei.settings, config).trust()
    )
    assert (opened.signer, opened.manifest["tenant"]) == ("north-regional", "yilan-county")
    everything = gzip.decompress(opened.body) + b"".join(restored_files(opened).values())
    assert yilan.encode() in everything
    leaked = set(NATIONAL_ID.findall(everything)) & keelung_only
    assert leaked == set(), f"基隆市 national IDs in 宜蘭縣's backup: {sorted(leaked)[:5]}"

    drill = onceonly(
        "backup", "restore-drill", "--tenant", "yilan-county", "--data-dir", str(taipei.data_dir)
    )
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert stored.name in drill.stdout and "north-regional" in drill.stdout
    assert "audit_entries" in drill.stdout
    assert "Restore drill passed" in drill.stdout and "還原演練通過" in drill.stdout
    entries = [
        e
        for e in pair.audit("north-regional")
        if Scope("yilan-county").sees_entry(e.actor_agency, e.owner_agency)
    ]
    assert entries and len(entries) < len(pair.audit("north-regional"))
    assert f"Audit log: {len(entries)} entries of this jurisdiction checked" in drill.stdout
    assert "Merkle root of all" in drill.stdout and "✗" not in drill.stdout


def test_a_tenant_the_node_cannot_back_up_is_named_with_the_reason(pair: Federation) -> None:
    runner = CliRunner()
    regional, taipei = pair.layout.node("north-regional"), pair.layout.node("taipei")
    before = _received(pair)

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args))
        return result.exit_code, result.output

    code, output = run("backup", "ship", "--tenant", "yilan", "--data-dir", str(regional.data_dir))
    assert code == 2, output
    assert "--tenant yilan: no jurisdiction has this code" in output
    assert "this node hosts: keelung-city, yilan-county" in output
    assert "--tenant yilan：沒有這個縣市代碼" in output

    code, output = run(
        "backup", "ship", "--tenant", "taipei-city", "--data-dir", str(regional.data_dir)
    )
    assert code == 2, output
    assert "--tenant taipei-city: 臺北市 Taipei City is not hosted by this node" in output
    assert _received(pair) == before  # nothing was sent

    code, output = run(
        "backup", "restore-drill", "--tenant", "keelung-city", "--data-dir", str(taipei.data_dir)
    )
    assert code == 2, output
    assert (
        "--tenant keelung-city: no backup of 基隆市 Keelung City has been received here" in output
    )
    assert "Restore drill passed" not in output  # never a drill of 宜蘭縣's backup instead

    code, output = run(
        "backup", "restore-drill", "--tenant", "ilan", "--data-dir", str(taipei.data_dir)
    )
    assert code == 2, output
    assert "--tenant ilan: no jurisdiction has this code" in output


def test_no_account_for_a_jurisdiction_the_node_does_not_host(pair: Federation) -> None:
    """The operator of the regional node cannot make a 臺北市 account there: it would sign
    臺北市's name to requests from a node 臺北市 never chose."""
    regional = pair.layout.node("north-regional").settings
    env = {
        "ONCEONLY_DATA_DIR": str(regional.data_dir),
        "ONCEONLY_DATABASE_URL": regional.resolved_database_url,
        "ONCEONLY_LANGUAGE": "en",
        "COLUMNS": "200",
    }
    args = ["users", "create", "--role", "clerk", "--display-name", "承辦", "--password"]
    result = CliRunner().invoke(
        cli, [*args, "a good password", "--agency", "taipei-city.labour", "tpe-wrong-node"], env=env
    )
    assert result.exit_code == 1, result.output
    assert "agency_code" in result.output
    assert "taipei-city.labour belongs to a jurisdiction this node does not host" in result.output
    assert "keelung-city、yilan-county" in result.output
    result = CliRunner().invoke(
        cli, [*args, "a good password", "--agency", "yilan-county.labour", "ila-new-clerk"], env=env
    )
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["users", "list"], env=env).output
    assert "ila-new-clerk" in listed and "tpe-wrong-node" not in listed


def test_a_request_replayed_after_the_node_restarts_is_refused(pair: Federation) -> None:
    regional = pair.layout.node("north-regional")
    url = f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}"
    taipei = credentials(pair, "taipei")
    body = forwarded_body(pair, "replay-after-restart-1")
    signature = taipei.sign("POST", EVIDENCE_PATH, body, audience="north-regional")
    with peer_client(pair, "taipei") as client:
        first = client.post(url, content=body, headers={HEADER: signature})
    assert first.status_code == 200, first.text
    assert first.json()["result"]["status"] == "issued"

    signed_at = time.time()
    pair.stop("north-regional")
    pair.start("north-regional")
    assert time.time() - signed_at < 100, "the restart took the request out of its time window"

    with peer_client(pair, "taipei") as client:
        replayed = client.post(url, content=body, headers={HEADER: signature})
    assert replayed.status_code == 409, replayed.text
    problem = replayed.json()
    assert problem["code"] == "replay"
    assert problem["title"] == "Replayed request (nonce already used)"
    [entry] = [
        e
        for e in pair.audit("north-regional", "replay-after-restart-1")
        if e.event == "federation.refused"
    ]
    assert (entry.decision, entry.actor_username) == ("denied", "node:taipei")
    assert entry.details["code"] == "replay"
    assert entry.reason_zh == "重送的請求（nonce 已使用過）"


def test_concurrent_copies_of_one_request_are_answered_once(pair: Federation) -> None:
    regional = pair.layout.node("north-regional")
    url = f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}"
    body = forwarded_body(pair, "concurrent-copies-1")
    signature = credentials(pair, "taipei").sign(
        "POST", EVIDENCE_PATH, body, audience="north-regional"
    )
    before = refusals(pair, "north-regional").count("replay")

    def send(_: int) -> httpx.Response:
        with peer_client(pair, "taipei") as client:
            return client.post(url, content=body, headers={HEADER: signature})

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(r.status_code for r in pool.map(send, range(6)))
    assert statuses == [200, 409, 409, 409, 409, 409]
    assert refusals(pair, "north-regional").count("replay") == before + 5


@pytest.fixture(scope="module")
def home_in_yilan(pair: Federation) -> str:
    """``land_elsewhere`` (registered in 臺北市) is given a home in 宜蘭縣 as well, in the
    regional node's own copy of 宜蘭縣's land office store: 名下無住宅 is then false."""
    subject = pair.sample("land_elsewhere")
    store = pair.layout.node("north-regional").settings.registries_dir / (
        "yilan-county.land_office.sqlite"
    )
    with sqlite3.connect(store) as connection:
        key, section = connection.execute(
            "SELECT max(bldg_key) + 1, min(sect_code) FROM bldg_mark"
        ).fetchone()
        connection.execute(
            "INSERT INTO bldg_mark VALUES (?, ?, '09999000', ?, '住家用', 88.5)",
            (key, section, "宜蘭縣三星鄉三星村1鄰三星路一段1號"),
        )
        connection.execute("INSERT INTO bldg_own VALUES (?, ?, 1, 1, '1120301')", (key, subject))
    return subject


def test_the_regional_node_answers_for_each_of_its_land_offices(
    pair: Federation, home_in_yilan: str
) -> None:
    """The remote half of asking land offices on every node works today: 臺北市 asks the
    regional node once, and it answers for 基隆市's and 宜蘭縣's land offices, each signing."""
    taipei = pair.layout.node("taipei")
    config = NodeConfig.read(taipei.settings)
    assert config is not None
    remote = RemoteNodes(taipei.settings, config, set())
    try:
        assert remote.holders_elsewhere("building_registration") == {
            "north-regional": ["keelung-city.land_office", "yilan-county.land_office"]
        }
    finally:
        remote.close()

    regional = pair.layout.node("north-regional")
    body = forwarded_body(pair, "no-home-everywhere-1", home_in_yilan, NO_HOME)
    with peer_client(pair, "taipei") as client:
        answered = client.post(
            f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}",
            content=body,
            headers={
                HEADER: credentials(pair, "taipei").sign(
                    "POST", EVIDENCE_PATH, body, audience="north-regional"
                )
            },
        )
    assert answered.status_code == 200, answered.text
    result = answered.json()["result"]
    assert result["status"] == "issued", result["reason"]
    assert result["owners"] == ["keelung-city.land_office", "yilan-county.land_office"]
    assert result["answer"] is False  # the home in 宜蘭縣
    jwks = httpx.get(regional.url + "/.well-known/jwks.json").json()
    issuers = sorted(verify_transcript(t["jws"], jwks).claims.issuer for t in result["transcripts"])
    assert issuers == ["keelung-city.land_office", "yilan-county.land_office"]


def test_owns_no_home_is_asked_of_the_land_offices_of_every_node(
    pair: Federation, home_in_yilan: str
) -> None:
    """名下無住宅 must hold in every jurisdiction: 臺北市's clerk must not be told "owns no
    home" about a citizen with a home in 宜蘭縣."""
    response = pair.ask("taipei", "tpe-udd-clerk", home_in_yilan, [NO_HOME])
    result = piece(response, NO_HOME)
    assert result["status"] == "issued", result["reason"]
    assert result["answer"] is False, f"told 'owns no home', asked only {result['owners']}"
    assert set(result["owners"]) == set(EVERY_LAND_OFFICE)

    # One transcript per office, each verifying against the keys of the node hosting it.
    taipei, regional = pair.layout.node("taipei"), pair.layout.node("north-regional")
    keys = {
        "taipei-city.land_office": httpx.get(taipei.url + "/.well-known/jwks.json").json(),
        "keelung-city.land_office": httpx.get(regional.url + "/.well-known/jwks.json").json(),
    }
    keys["yilan-county.land_office"] = keys["keelung-city.land_office"]
    answers = {}
    for issued in result["transcripts"]:
        claims = verify_transcript(issued["jws"], keys[issued["owner"]]).claims
        answers[claims.issuer] = claims.predicate["answer"] if claims.predicate else None
    assert answers == {
        "taipei-city.land_office": True,
        "keelung-city.land_office": True,
        "yilan-county.land_office": False,
    }

    # Both logs carry the request id; the regional node answered for its own offices and
    # asked nobody further (or 臺北市's log would hold a second entry for this request).
    request_id = response.json()["request_id"]
    [here] = pair.audit("taipei", request_id)
    assert (here.decision, here.dataset) == ("allowed", "building_registration")
    assert set(here.owner_agency.split(",")) == set(EVERY_LAND_OFFICE)
    assert here.details["nodes"]["north-regional"]["status"] == "issued"
    [there] = pair.audit("north-regional", request_id)
    assert (there.decision, there.actor_username) == ("allowed", "taipei/tpe-udd-clerk")
    assert there.owner_agency == "keelung-city.land_office,yilan-county.land_office"


def test_owns_no_home_is_yes_only_when_every_node_says_so(pair: Federation) -> None:
    """Nobody's home anywhere: all three offices, on both nodes, say so."""
    response = pair.ask("taipei", "tpe-udd-clerk", pair.sample("name_changed"), [NO_HOME])
    result = piece(response, NO_HOME)
    assert (result["status"], result["answer"]) == ("issued", True), result["reason"]
    assert sorted(result["owners"]) == sorted(EVERY_LAND_OFFICE)
    assert sorted(t["owner"] for t in result["transcripts"]) == sorted(EVERY_LAND_OFFICE)


def test_land_held_only_on_another_node_is_found(pair: Federation, home_in_yilan: str) -> None:
    """The land register of someone whose only parcel is in 宜蘭縣: 臺北市's office holds
    nothing, the regional node's answer is the record (it was "no record" before)."""
    response = pair.ask(
        "taipei", "tpe-tax-clerk", home_in_yilan, ["land_registration"], item=SELF_USE_TAX
    )
    assert response.status_code == 200, dump(response)
    result = piece(response, "land_registration")
    assert result["status"] == "issued", result["reason"]
    assert [p["jurisdiction"] for p in result["fields"]["parcels"]] == ["yilan-county"]
    assert sorted(result["owners"]) == sorted(EVERY_LAND_OFFICE)
    assert [t["owner"] for t in result["transcripts"]] == ["yilan-county.land_office"]


def test_a_node_that_cannot_answer_stops_owns_no_home_with_its_name(pair: Federation) -> None:
    """Never "owns no home" from 臺北市's office alone: the piece waits for the regional node,
    named, with a time to retry; the retry issues."""
    subject = pair.sample("name_changed")
    pair.stop("north-regional")
    try:
        down = pair.ask("taipei", "tpe-udd-clerk", subject, [NO_HOME])
    finally:
        pair.start("north-regional")
    assert down.status_code == 503, dump(down)
    assert down.headers.get("Retry-After")
    result = piece(down, NO_HOME)
    assert (result["status"], result["answer"]) == ("unavailable", None)
    assert "cannot be reached" in result["reason"]["en"]
    assert "北北基宜區域節點" in result["reason"]["zh-TW"]
    [entry] = pair.audit("taipei", down.json()["request_id"])
    assert entry.decision == "failed" and "cannot be reached" in entry.reason_en

    again = pair.ask("taipei", "tpe-udd-clerk", subject, [NO_HOME])
    assert (piece(again, NO_HOME)["status"], piece(again, NO_HOME)["answer"]) == ("issued", True)


def test_without_a_trusted_snapshot_owns_no_home_fails_with_the_reason(
    pair: Federation,
) -> None:
    """Which nodes hold land is unknown when the snapshot expired: the piece fails, saying
    why, instead of answering from this node's office."""
    pair.stop("directory")
    cache = federation_dir(pair.layout.node("taipei").settings) / "snapshot.jws"
    good = cache.read_text()
    try:
        directory = Directory(pair.layout.directory_home, pair.layout.ca_dir)
        past = datetime.now(UTC) - timedelta(hours=2)
        cache.write_text(directory.snapshot(now=past, valid=timedelta(hours=1)))
        time.sleep(1.0)
        response = pair.ask("taipei", "tpe-udd-clerk", pair.sample("name_changed"), [NO_HOME])
    finally:
        cache.write_text(good)
        pair.start("directory")
    result = piece(response, NO_HOME)
    assert (result["status"], result["answer"]) == ("failed", None), result
    assert "snapshot" in result["reason"]["en"] and "expired" in result["reason"]["en"]
    assert "every jurisdiction" in result["reason"]["en"]
    assert "目錄快照" in result["reason"]["zh-TW"]
    assert result["transcripts"] == []
    [entry] = pair.audit("taipei", response.json()["request_id"])
    assert entry.decision == "failed"


def _counter_page(pair: Federation, subject: str) -> str:
    """臺北市's case page after its clerk opened a public-housing case and fetched evidence."""
    node = pair.layout.node("taipei")
    auth = {"Authorization": f"Bearer {pair.token('taipei', 'tpe-udd-clerk')}"}
    opened = httpx.post(
        node.url + "/api/v1/cases",
        json={"application_item": "public-housing-low-income", "subject": subject},
        headers=auth,
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    fetched = httpx.post(f"{node.url}/api/v1/cases/{number}/evidence", headers=auth, timeout=30)
    assert fetched.status_code == 200, fetched.text
    page = httpx.get(
        f"{node.url}/counter/cases/{number}", headers=auth | {"Accept": "text/html"}, timeout=30
    )
    assert page.status_code == 200
    return page.text


def test_the_counter_shows_one_owns_no_home_card_with_every_office(
    pair: Federation, home_in_yilan: str
) -> None:
    """At the counter the combined piece is one card naming the three offices; the two that
    answer alike are shown once with both named, the office holding the home apart."""
    cards = _counter_page(pair, home_in_yilan).split('<article class="evidence')
    [card] = [c for c in cards if f'id="ev-{NO_HOME}"' in c]
    owners = "臺北市各地政事務所、基隆市各地政事務所、宜蘭縣各地政事務所"
    assert owners in card
    sections = card.split('<section class="transcript')[1:]
    [same] = [s for s in sections if "名下無住宅：是" in s]
    [home] = [s for s in sections if "名下無住宅：否" in s]  # the home in 宜蘭縣
    assert "2 個機關答覆相同：臺北市各地政事務所、基隆市各地政事務所" in same
    assert "宜蘭縣各地政事務所" in home and "宜蘭縣" not in same


def test_the_counter_verifies_transcripts_signed_on_another_node(
    pair: Federation, home_in_yilan: str
) -> None:
    """Transcripts signed on the regional node verify at 臺北市's counter with the keys the
    directory's snapshot publishes for it, exactly as local ones do."""
    page = _counter_page(pair, home_in_yilan)
    assert 'class="sig invalid"' not in page
    [card] = [c for c in page.split('<article class="evidence') if f'id="ev-{NO_HOME}"' in c]
    assert card.count("數位簽章：有效") == 2  # one per distinct answer, all three verified


def test_each_nodes_checkpoints_are_cosigned_by_the_directory_and_its_partner(
    pair: Federation,
) -> None:
    """Issue 12, hole 4: heads published outside the node, witnessed over real sockets."""
    from onceonly.audit import note
    from onceonly.audit.publish import publish
    from onceonly.db import make_engine, make_session_factory

    assert pair.ask("taipei", "tpe-udd-clerk", pair.sample("yilan_resident")).status_code < 500
    taipei = pair.layout.node("taipei")
    engine = make_engine(taipei.settings.resolved_database_url)
    try:
        head, results = publish(make_session_factory(engine), taipei.settings)
    finally:
        engine.dispose()
    witnesses = {
        "onceonly.federation/directory/witness",
        "onceonly.federation/north-regional/witness",
    }
    assert {r.witness for r in results} == witnesses and all(r.ok for r in results), results
    served = note.parse_note(httpx.get(taipei.url + "/audit/checkpoint", timeout=10).text)
    assert served.text.startswith(f"onceonly.federation/taipei/audit\n{head.tree_size}\n")
    assert witnesses <= {s.name for s in served.signatures}
    origin = hashlib.sha256(b"onceonly.federation/taipei/audit").hexdigest()
    for base in (pair.layout.directory_url, pair.layout.node("north-regional").url):
        held = httpx.get(f"{base}/witness/{origin}/checkpoint", timeout=10)
        assert held.status_code == 200 and f"\n{head.tree_size}\n" in held.text


def test_a_parcel_held_on_another_node_is_asked_there(pair: Federation) -> None:
    """A 臺北市 land-office clerk asks about a 宜蘭縣 parcel: the request goes to the regional
    node holding 宜蘭縣's land office, which decides, signs and audits it; the answer lists
    the owners only as the rule allows; asking by a former number finds the current one."""
    store = pair.layout.node("north-regional").settings.registries_dir
    with sqlite3.connect(store / "yilan-county.land_office.sqlite") as db:
        section, number, owner, old = db.execute(
            "SELECT s.sect_name, m.land_no, o.owner_idno, h.old_land_no FROM land_mark m "
            "JOIN sections s ON s.sect_code = m.sect_code "
            "JOIN land_own o ON o.land_key = m.land_key "
            "LEFT JOIN land_history h ON h.land_key = m.land_key "
            "ORDER BY h.old_land_no IS NULL, m.land_key LIMIT 1"
        ).fetchone()
    citizen = pair.sample("low_income_applicant")
    clerk, item = "tpe-land-clerk", "land-boundary-survey"
    asked = number if old is None else old

    response = httpx.post(
        pair.layout.node("taipei").url + "/api/v1/evidence-requests",
        json={
            "case_id": pair.case("taipei", clerk, item, citizen),
            "application_item": item,
            "subject": {
                "kind": "parcel",
                "jurisdiction": "yilan-county",
                "section": section,
                "parcel_no": f"{asked[:4]}-{asked[4:]}",
            },
            "evidence": [{"type": "land_registration"}],
        },
        headers={"Authorization": f"Bearer {pair.token('taipei', clerk)}"},
        timeout=30,
    )
    assert response.status_code == 200, dump(response)
    (result,) = response.json()["results"]
    assert result["status"] == "issued" and result["owners"] == ["yilan-county.land_office"]
    rows = result["fields"]["parcels"]
    assert {r["parcel_no"] for r in rows} == {f"{number[:4]}-{number[4:]}"}
    assert {r["matched_by"] for r in rows} == {"current" if old is None else "former_number"}
    assert owner not in response.text and all("owner_nid" not in r for r in rows)
    (issued,) = result["transcripts"]
    assert issued["owner"] == "yilan-county.land_office"
    jwks = httpx.get(pair.layout.node("north-regional").url + "/.well-known/jwks.json").json()
    assert verify_transcript(issued["jws"], jwks).claims.subject.startswith("parcel:yilan-county:")
    request_id = response.json()["request_id"]
    there = [e for e in pair.audit("north-regional", request_id) if e.dataset]
    assert there and there[0].details["about"].startswith("parcel:yilan-county:")
    assert there[0].subject == citizen
