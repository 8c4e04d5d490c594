"""The regional node (基隆市 and 宜蘭縣) as its operator runs it, on real processes: one
tenant's backup shipped and drilled with the real commands, and a signed request replayed to
the node after it restarted. Two nodes and the directory (the ``pair`` fixture)."""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from onceonly.accounts.tenancy import Scope
from onceonly.cli import app as cli
from onceonly.exchange.transcript import verify_transcript
from onceonly.federation.backup import open_envelope
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


def test_a_request_replayed_after_the_node_restarts_is_refused(pair: Federation) -> None:
    regional = pair.layout.node("north-regional")
    url = f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}"
    taipei = credentials(pair, "taipei")
    body = forwarded_body(pair, "replay-after-restart-1")
    signature = taipei.sign("POST", EVIDENCE_PATH, body)
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
    signature = credentials(pair, "taipei").sign("POST", EVIDENCE_PATH, body)
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
            headers={HEADER: credentials(pair, "taipei").sign("POST", EVIDENCE_PATH, body)},
        )
    assert answered.status_code == 200, answered.text
    result = answered.json()["result"]
    assert result["status"] == "issued", result["reason"]
    assert result["owners"] == ["keelung-city.land_office", "yilan-county.land_office"]
    assert result["answer"] is False  # the home in 宜蘭縣
    jwks = httpx.get(regional.url + "/.well-known/jwks.json").json()
    issuers = sorted(verify_transcript(t["jws"], jwks).claims.issuer for t in result["transcripts"])
    assert issuers == ["keelung-city.land_office", "yilan-county.land_office"]


@pytest.mark.xfail(
    strict=True,
    reason="land and buildings are asked only of this node's land offices (issue #8, report)",
)
def test_owns_no_home_is_asked_of_the_land_offices_of_every_node(
    pair: Federation, home_in_yilan: str
) -> None:
    """名下無住宅 must hold in every jurisdiction: 臺北市's clerk must not be told "owns no
    home" about a citizen with a home in 宜蘭縣."""
    response = pair.ask("taipei", "tpe-udd-clerk", home_in_yilan, [NO_HOME])
    result = piece(response, NO_HOME)
    assert result["status"] == "issued", result["reason"]
    assert result["answer"] is False, f"told 'owns no home', asked only {result['owners']}"
    assert set(result["owners"]) == {
        "taipei-city.land_office",
        "keelung-city.land_office",
        "yilan-county.land_office",
    }
