"""Cross-node evidence with real nodes on loopback: the federation issue's "done means", the
faults a clerk must understand (peer down, slow, directory gone with an expired snapshot), the
attacks a node must refuse (replay, tampering, clock skew, foreign CA, revoked certificate),
and off-site backup with a restore drill. Each failure gives the clerk a reason and leaves an
audit entry; a retry after the fault issues the evidence (nothing is lost)."""

from __future__ import annotations

import os
import signal
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.exchange.transcript import verify_transcript
from onceonly.federation.cluster import register_node
from onceonly.federation.directory import Directory
from onceonly.federation.node import NodeConfig, federation_dir
from onceonly.federation.remote import EVIDENCE_PATH
from onceonly.federation.signing import HEADER, NodeCredentials
from onceonly.pki import ca
from tests.federation.conftest import (
    LOW_INCOME,
    Federation,
    credentials,
    dump,
    forwarded_body,
    peer_client,
    piece,
    refusals,
)

pytestmark = pytest.mark.slow


def _taipei_clerk_gets_a_transcript_signed_in_yilan(federation: Federation) -> None:
    response = federation.ask("taipei", "tpe-udd-clerk", federation.sample("yilan_resident"))
    assert response.status_code == 200, dump(response)
    result = piece(response, LOW_INCOME)
    assert result["status"] == "issued", result["reason"]
    assert result["owners"] == ["yilan-county.social_welfare"]
    [issued] = result["transcripts"]

    regional = federation.layout.node("north-regional")
    jwks = httpx.get(regional.url + "/.well-known/jwks.json").json()
    verified = verify_transcript(issued["jws"], jwks)
    assert verified.claims.issuer == "yilan-county.social_welfare"
    assert verified.claims.requester_agency == "taipei-city.urban_development"
    taipei_jwks = httpx.get(federation.layout.node("taipei").url + "/.well-known/jwks.json").json()
    assert "yilan-county.social_welfare" not in {k["agency"] for k in taipei_jwks["keys"]}

    request_id = response.json()["request_id"]
    here = [e for e in federation.audit("taipei", request_id) if e.dataset == "welfare_status"]
    there = [
        e for e in federation.audit("north-regional", request_id) if e.dataset == "welfare_status"
    ]
    assert [e.decision for e in here] == ["allowed"]
    assert [(e.decision, e.owner_agency) for e in there] == [
        ("allowed", "yilan-county.social_welfare")
    ]
    assert there[0].actor_username == "taipei/tpe-udd-clerk"

    # 名下無住宅 was asked of the land offices of every node, each auditing its part.
    no_home = piece(response, "owns_no_residential_property")
    assert no_home["status"] == "issued", no_home["reason"]
    offices = {f"{j}.land_office" for j in ("taipei-city", "new-taipei-city", "keelung-city")}
    assert set(no_home["owners"]) == offices | {"yilan-county.land_office"}
    for node in ("taipei", "new-taipei", "north-regional"):
        [land] = [
            e for e in federation.audit(node, request_id) if e.dataset == "building_registration"
        ]
        assert land.decision == "allowed", (node, land.reason_en)


def _a_request_is_refused_when_replayed_tampered_or_from_a_skewed_clock(
    federation: Federation,
) -> None:
    regional = federation.layout.node("north-regional")
    url = f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}"
    taipei = credentials(federation, "taipei")
    body = forwarded_body(federation, "attack-1")
    signature = taipei.sign("POST", EVIDENCE_PATH, body, audience="north-regional")
    with peer_client(federation, "taipei") as client:
        first = client.post(url, content=body, headers={HEADER: signature})
        assert first.status_code == 200, first.text
        assert first.json()["result"]["status"] == "issued"

        replay = client.post(url, content=body, headers={HEADER: signature})
        assert (replay.status_code, replay.json()["code"]) == (409, "replay")

        fresh = taipei.sign("POST", EVIDENCE_PATH, body, audience="north-regional")
        tampered = client.post(url, content=body.replace(b"B-1", b"B-2"), headers={HEADER: fresh})
        assert (tampered.status_code, tampered.json()["code"]) == (401, "tampered")

        late = taipei.sign(
            "POST", EVIDENCE_PATH, body, audience="north-regional", now=time.time() - 300
        )
        skewed = client.post(url, content=body, headers={HEADER: late})
        assert (skewed.status_code, skewed.json()["code"]) == (401, "clock_skew")
        assert "-30" in skewed.json()["detail"]

        unsigned = client.post(url, content=body)
        assert (unsigned.status_code, unsigned.json()["code"]) == (401, "missing_signature")

    refused = refusals(federation, "north-regional")
    for code in ("replay", "tampered", "clock_skew", "missing_signature"):
        assert code in refused


def _a_certificate_from_another_ca_cannot_even_connect(
    federation: Federation, tmp_path: Path
) -> None:
    rogue_ca = tmp_path / "rogue-ca"
    ca.init_ca(rogue_ca, "rogue CA")
    ca.issue_node(rogue_ca, "taipei", tmp_path)
    regional = federation.layout.node("north-regional")
    config = NodeConfig.read(federation.layout.node("taipei").settings)
    assert config is not None
    context = ssl.create_default_context(cafile=config.ca)
    context.load_cert_chain(tmp_path / "taipei.pem", tmp_path / "taipei.key")
    body = forwarded_body(federation, "rogue-1")
    rogue = NodeCredentials.load(
        "taipei", str(tmp_path / "taipei.pem"), str(tmp_path / "taipei.key")
    )
    with (
        httpx.Client(verify=context, timeout=10) as client,
        pytest.raises(httpx.HTTPError),
    ):
        client.post(
            f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}",
            content=body,
            headers={HEADER: rogue.sign("POST", EVIDENCE_PATH, body, audience="north-regional")},
        ).raise_for_status()
    # The signature alone (sent over a genuine channel) is refused for its certificate too.
    with peer_client(federation, "taipei") as client:
        forged = client.post(
            f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}",
            content=body,
            headers={HEADER: rogue.sign("POST", EVIDENCE_PATH, body, audience="north-regional")},
        )
    assert (forged.status_code, forged.json()["code"]) == (403, "unknown_ca")


def _faults_reach_the_clerk_as_reasons_and_a_retry_issues(federation: Federation) -> None:
    subject = federation.sample("indigenous")  # registered in 新北市

    federation.stop("new-taipei")
    try:
        down = federation.ask("taipei", "tpe-udd-clerk", subject, [LOW_INCOME])
    finally:
        federation.start("new-taipei")
    assert down.status_code == 503, dump(down)
    assert down.headers.get("Retry-After")
    result = piece(down, LOW_INCOME)
    assert result["status"] == "unavailable"
    assert "新北市節點" in result["reason"]["en"] and "cannot be reached" in result["reason"]["en"]
    [entry] = [e for e in federation.audit("taipei", down.json()["request_id"])]
    assert entry.decision == "failed" and "cannot be reached" in entry.reason_en
    again = federation.ask("taipei", "tpe-udd-clerk", subject, [LOW_INCOME])
    assert piece(again, LOW_INCOME)["status"] == "issued", dump(again)

    regional = federation.processes["north-regional"]
    os.kill(regional.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        slow = federation.ask(
            "taipei", "tpe-udd-clerk", federation.sample("yilan_resident"), [LOW_INCOME]
        )
        waited = time.monotonic() - started
    finally:
        os.kill(regional.pid, signal.SIGCONT)
    assert waited < 10
    result = piece(slow, LOW_INCOME)
    assert result["status"] == "unavailable", result
    assert "in time" in result["reason"]["en"] or "timeout" in result["reason"]["en"]
    assert federation.audit("taipei", slow.json()["request_id"])[0].decision == "failed"
    again = federation.ask(
        "taipei", "tpe-udd-clerk", federation.sample("yilan_resident"), [LOW_INCOME]
    )
    assert piece(again, LOW_INCOME)["status"] == "issued", dump(again)


def _an_expired_snapshot_stops_cross_node_requests_with_the_reason(
    federation: Federation,
) -> None:
    layout = federation.layout
    federation.stop("directory")
    taipei = layout.node("taipei")
    cache = federation_dir(taipei.settings) / "snapshot.jws"
    good = cache.read_text()
    try:
        directory = Directory(layout.directory_home, layout.ca_dir)
        past = datetime.now(UTC) - timedelta(hours=2)
        cache.write_text(directory.snapshot(now=past, valid=timedelta(hours=1)))
        time.sleep(1.0)
        response = federation.ask(
            "taipei", "tpe-udd-clerk", federation.sample("yilan_resident"), [LOW_INCOME]
        )
    finally:
        cache.write_text(good)
        federation.start("directory")
    result = piece(response, LOW_INCOME)
    assert result["status"] == "failed"
    assert "snapshot" in result["reason"]["en"] and "expired" in result["reason"]["en"]
    assert federation.audit("taipei", response.json()["request_id"])[0].decision == "failed"


def _off_site_backup_is_encrypted_signed_and_restores_completely(
    federation: Federation,
) -> None:
    runner = CliRunner()
    taipei = federation.layout.node("taipei")
    partner = federation.layout.node("new-taipei")
    shipped = runner.invoke(
        cli, ["backup", "ship", "--to", "new-taipei", "--data-dir", str(taipei.data_dir)]
    )
    assert shipped.exit_code == 0, shipped.output
    [stored] = list((federation_dir(partner.settings) / "backups" / "taipei").glob("*.obk"))
    assert b"tpe-udd-clerk" not in stored.read_bytes()

    drill = runner.invoke(cli, ["backup", "restore-drill", "--data-dir", str(partner.data_dir)])
    assert drill.exit_code == 0, drill.output
    assert "passed" in drill.output.lower() or "通過" in drill.output
    assert "audit_entries" in drill.output

    # Only the partner holds the key: the source node cannot even read what it shipped.
    elsewhere = runner.invoke(
        cli,
        [
            "backup",
            "restore-drill",
            "--file",
            str(stored),
            "--data-dir",
            str(federation.layout.node("north-regional").data_dir),
        ],
    )
    assert elsewhere.exit_code == 1
    assert "decrypt" in elsewhere.output


def _revoking_the_regional_node_stops_it_with_a_clear_reason(federation: Federation) -> None:
    layout = federation.layout
    regional = layout.node("north-regional")
    ca.revoke(layout.ca_dir, regional.cert_serial, "key_compromise")
    try:
        time.sleep(1.0)
        response = federation.ask(
            "taipei", "tpe-udd-clerk", federation.sample("yilan_resident"), [LOW_INCOME]
        )
        result = piece(response, LOW_INCOME)
        assert result["status"] == "failed", result
        assert "cert_revoked" in result["reason"]["en"]
        assert "keyCompromise" in result["reason"]["en"]
        assert "憑證不可信任" in result["reason"]["zh-TW"]
        assert federation.audit("taipei", response.json()["request_id"])[0].decision == "failed"

        # And the revoked node's own signature is refused by the others.
        body = forwarded_body(federation, "revoked-1")
        body = body.replace(b"taipei-city.urban_development", b"yilan-county.social_welfare")
        signed = credentials(federation, "north-regional")
        with peer_client(federation, "north-regional") as client:
            refused = client.post(
                f"https://127.0.0.1:{layout.node('taipei').peer_port}{EVIDENCE_PATH}",
                content=body,
                headers={HEADER: signed.sign("POST", EVIDENCE_PATH, body, audience="taipei")},
            )
        assert (refused.status_code, refused.json()["code"]) == (403, "cert_revoked")
        assert "cert_revoked" in refusals(federation, "taipei")
    finally:
        _reissue(federation)
    again = federation.ask(
        "taipei", "tpe-udd-clerk", federation.sample("yilan_resident"), [LOW_INCOME]
    )
    assert piece(again, LOW_INCOME)["status"] == "issued", dump(again)


def _reissue(federation: Federation) -> None:
    """A new certificate for the regional node, registered again (what an operator does)."""
    layout = federation.layout
    node = layout.node("north-regional")
    settings = node.settings
    config = NodeConfig.read(settings)
    assert config is not None
    federation.stop("north-regional")
    ca.issue_node(layout.ca_dir, config.id, federation_dir(settings))
    register_node(settings, config, Directory(layout.directory_home, layout.ca_dir))
    federation.start("north-regional")
    time.sleep(1.0)


# Each test below runs on one live federation (a worker builds one per module), so the
# scenarios are grouped to keep the number of federations small under pytest-xdist.


def test_done_means_a_yilan_transcript_then_revocation_stops_it(federation: Federation) -> None:
    _taipei_clerk_gets_a_transcript_signed_in_yilan(federation)
    _revoking_the_regional_node_stops_it_with_a_clear_reason(federation)


def test_attacks_are_refused_and_audited(federation: Federation, tmp_path: Path) -> None:
    _a_request_is_refused_when_replayed_tampered_or_from_a_skewed_clock(federation)
    _a_certificate_from_another_ca_cannot_even_connect(federation, tmp_path)


def test_faults_and_backup_lose_nothing(federation: Federation) -> None:
    _faults_reach_the_clerk_as_reasons_and_a_retry_issues(federation)
    _an_expired_snapshot_stops_cross_node_requests_with_the_reason(federation)
    _off_site_backup_is_encrypted_signed_and_restores_completely(federation)
