"""Cross-node evidence with real nodes on loopback: the federation issue's "done means", the
faults a clerk must understand (peer down, slow, directory gone with an expired snapshot), the
attacks a node must refuse (replay, tampering, clock skew, foreign CA, revoked certificate),
and off-site backup with a restore drill. Each failure gives the clerk a reason and leaves an
audit entry; a retry after the fault issues the evidence (nothing is lost)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from onceonly.audit.log import EntryFilter, find_entries
from onceonly.citizens.accesses import describe
from onceonly.cli import app as cli
from onceonly.db import make_engine, make_session_factory
from onceonly.demo.federated.cluster import register_node
from onceonly.exchange.schemas import EvidenceAsk
from onceonly.exchange.transcript import verify_transcript
from onceonly.federation.directory import Directory
from onceonly.federation.node import NodeConfig, federation_dir
from onceonly.federation.peer_http import PeerUnreachable
from onceonly.federation.remote import EVIDENCE_PATH, RemoteNodes
from onceonly.federation.signing import HEADER, NodeCredentials
from onceonly.pki import ca
from tests.conftest import post_login
from tests.federation.conftest import (
    LOW_INCOME,
    Federation,
    credentials,
    dump,
    forwarded_body,
    peer_client,
    piece,
    refusals,
    tls_hello,
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


def _bad_certificates_are_refused_in_the_handshake_with_an_alert(
    federation: Federation, tmp_path: Path
) -> None:
    """The TLS layer itself refuses, and says why in an alert: no client certificate, one from
    another CA, one the CA revoked (not even ``GET /healthz`` gets through)."""
    layout = federation.layout
    regional = layout.node("north-regional")
    ca_pem = layout.ca_dir / "ca.pem"
    rogue_ca = tmp_path / "rogue-ca"
    ca.init_ca(rogue_ca, "rogue CA")
    ca.issue_node(rogue_ca, "taipei", tmp_path / "rogue")
    ghost = ca.issue_node(layout.ca_dir, "ghost", tmp_path / "ghost")
    ghost_pem = tmp_path / "ghost" / "ghost.pem"
    taipei_pem = Path(layout.node("taipei").data_dir / "federation" / "taipei.pem")

    def hello(cert: Path | None, tls12: bool = False) -> str:
        return tls_hello(regional.peer_port, ca_pem, cert, tls12)

    # a certificate of the federation is let in (the app decides what it may ask)
    assert hello(taipei_pem) == "HTTP/1.1 200 OK"
    assert hello(ghost_pem) == "HTTP/1.1 200 OK"
    assert hello(None) == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert hello(None, tls12=True) == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    rogue = tmp_path / "rogue" / "taipei.pem"
    assert hello(rogue) == "TLSV1_ALERT_UNKNOWN_CA"
    assert hello(rogue, tls12=True) == "TLSV1_ALERT_UNKNOWN_CA"

    ca.revoke(layout.ca_dir, ghost.serial, "key_compromise")
    deadline = time.monotonic() + 15
    while hello(ghost_pem) == "HTTP/1.1 200 OK" and time.monotonic() < deadline:
        time.sleep(0.2)  # the listener loads the directory's new CRL within its refresh period
    assert hello(ghost_pem) == "SSLV3_ALERT_CERTIFICATE_REVOKED"
    assert hello(ghost_pem, tls12=True) == "SSLV3_ALERT_CERTIFICATE_REVOKED"
    assert hello(taipei_pem) == "HTTP/1.1 200 OK"

    # A rogue signature sent over a genuine channel is refused for its certificate too.
    body = forwarded_body(federation, "rogue-1")
    forger = NodeCredentials.load("taipei", str(rogue), str(rogue.with_suffix(".key")))
    with peer_client(federation, "taipei") as client:
        forged = client.post(
            f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}",
            content=body,
            headers={HEADER: forger.sign("POST", EVIDENCE_PATH, body, audience=regional.plan.id)},
        )
    assert (forged.status_code, forged.json()["code"]) == (403, "unknown_ca")


def _a_node_can_neither_pass_on_a_request_nor_carry_another_s(federation: Federation) -> None:
    """Hole 5: 臺北市 asks the regional node; the regional node, a dishonest member, sends the
    very request on to 新北市 as if 臺北市 had asked there. And a signature of 臺北市 carried
    over a TLS connection that authenticated 新北市 is not 臺北市 asking."""
    layout = federation.layout
    new_taipei = f"https://127.0.0.1:{layout.node('new-taipei').peer_port}{EVIDENCE_PATH}"
    subject = federation.sample("indigenous")  # registered in 新北市: 新北市 would answer
    body = forwarded_body(federation, "passed-on-1", subject)
    for_regional = credentials(federation, "taipei").sign(
        "POST", EVIDENCE_PATH, body, audience="north-regional"
    )
    with peer_client(federation, "north-regional") as regional:
        passed_on = regional.post(new_taipei, content=body, headers={HEADER: for_regional})
    assert passed_on.status_code == 403, passed_on.text
    problem = passed_on.json()
    assert problem["code"] == "wrong_audience"
    assert "signed by 'taipei' for 'north-regional', received by 'new-taipei'" in problem["detail"]
    assert problem["title"].startswith("The request was signed for another node")

    body = forwarded_body(federation, "borrowed-channel-1", subject)
    for_new_taipei = credentials(federation, "taipei").sign(
        "POST", EVIDENCE_PATH, body, audience="new-taipei"
    )
    with peer_client(federation, "north-regional") as regional:
        carried = regional.post(new_taipei, content=body, headers={HEADER: for_new_taipei})
    assert (carried.status_code, carried.json()["code"]) == (403, "peer_mismatch")
    assert "TLS client certificate of 'north-regional'" in carried.json()["detail"]
    # the same request from 臺北市 itself is answered: the refusals above were for the above
    with peer_client(federation, "taipei") as taipei:
        asked = taipei.post(new_taipei, content=body, headers={HEADER: for_new_taipei})
    assert asked.status_code == 200, asked.text

    codes = refusals(federation, "new-taipei")
    assert "wrong_audience" in codes and "peer_mismatch" in codes


def _a_node_cannot_ask_for_an_agency_outside_its_jurisdictions(federation: Federation) -> None:
    """臺北市's node signs, correctly, a request naming an agency of 新北市 as the asker: the
    regional node refuses it (the asking agency must be of the sending node's jurisdictions)."""
    regional = federation.layout.node("north-regional")
    url = f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}"
    taipei = credentials(federation, "taipei")
    for agency in ("new-taipei-city.urban_development", "nowhere.urban_development"):
        body = forwarded_body(federation, f"outside-{agency}", agency=agency)
        signature = taipei.sign("POST", EVIDENCE_PATH, body, audience="north-regional")
        with peer_client(federation, "taipei") as client:
            refused = client.post(url, content=body, headers={HEADER: signature})
        assert refused.status_code == 403, refused.text
        assert (refused.json()["code"], refused.json()["detail"]) == ("agency_not_of_node", agency)
        [entry] = [
            e
            for e in federation.audit("north-regional", f"outside-{agency}")
            if e.event == "federation.refused"
        ]
        assert (entry.actor_username, entry.details["code"]) == (
            "node:taipei",
            "agency_not_of_node",
        )
    # the same request in 臺北市's own name is answered
    body = forwarded_body(federation, "inside-1")
    with peer_client(federation, "taipei") as client:
        answered = client.post(
            url,
            content=body,
            headers={HEADER: taipei.sign("POST", EVIDENCE_PATH, body, audience="north-regional")},
        )
    assert answered.status_code == 200, answered.text


def _a_node_cannot_pass_its_clerk_off_as_the_citizen(federation: Federation) -> None:
    """Found by an attacker's review: a node sending ``role: citizen`` for its clerk had the
    look listed on the citizen's page as their own ("you"), without agency or badge."""
    regional = federation.layout.node("north-regional")
    url = f"https://127.0.0.1:{regional.peer_port}{EVIDENCE_PATH}"
    taipei = credentials(federation, "taipei")
    for role, status in (("citizen", 403), ("clerk", 200)):
        body = forwarded_body(federation, f"as-{role}", role=role)
        signature = taipei.sign("POST", EVIDENCE_PATH, body, audience="north-regional")
        with peer_client(federation, "taipei") as client:
            answer = client.post(url, content=body, headers={HEADER: signature})
        assert answer.status_code == status, answer.text
    assert refusals(federation, "north-regional")[-1] == "actor_not_clerk"
    # a member's body is bounded like a browser's: read whole, it could exhaust the memory
    with peer_client(federation, "taipei") as client:
        huge = client.post(url, content=b"{" + b" " * (1024 * 1024) + b"}")
    assert huge.status_code == 413, huge.text[:300]
    [looked] = [e for e in federation.audit("north-regional", "as-clerk") if e.subject]
    engine = make_engine(regional.settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        found, _ = find_entries(session, EntryFilter(subject=looked.subject), limit=500)
        [view] = [e for e in found if e.request_id == "as-clerk"]
        shown = describe(session, view, "zh-TW")
        claimed = describe(session, dataclasses.replace(view, actor_role="citizen"), "zh-TW")
    engine.dispose()
    assert not shown.by_citizen and shown.agency == "taipei-city.urban_development"
    assert not claimed.by_citizen, "a forwarded look never passes for the citizen's own"


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
        # Hole 6: not "owner unavailable, retry": the node's certificate is revoked.
        assert response.status_code == 403, dump(response)
        assert "Retry-After" not in response.headers
        result = piece(response, LOW_INCOME)
        assert result["status"] == "denied", result
        assert result["retry_after"] is None
        assert (
            result["cause"] == "partner_certificate_revoked"
        )  # the counter: "contact the operator"
        assert "certificate has been revoked" in result["reason"]["en"]
        assert "cert_revoked" in result["reason"]["en"]
        assert "keyCompromise" in result["reason"]["en"]
        assert "憑證已被廢止" in result["reason"]["zh-TW"]
        assert "節點憑證已被廢止" in response.json()["detail"]
        assert federation.audit("taipei", response.json()["request_id"])[0].decision == "denied"

        # The revoked node cannot even complete a handshake with the others ...
        revoked_pem = Path(regional.data_dir / "federation" / "north-regional.pem")
        taipei_port = layout.node("taipei").peer_port
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if tls_hello(taipei_port, layout.ca_dir / "ca.pem", revoked_pem) != "HTTP/1.1 200 OK":
                break
            time.sleep(0.2)
        hello = tls_hello(taipei_port, layout.ca_dir / "ca.pem", revoked_pem, tls12=True)
        assert hello == "SSLV3_ALERT_CERTIFICATE_REVOKED"
        # ... and its signature is refused for its certificate even over a genuine channel.
        body = forwarded_body(federation, "revoked-1")
        body = body.replace(b"taipei-city.urban_development", b"yilan-county.social_welfare")
        signed = credentials(federation, "north-regional")
        with peer_client(federation, "taipei") as client:
            refused = client.post(
                f"https://127.0.0.1:{taipei_port}{EVIDENCE_PATH}",
                content=body,
                headers={HEADER: signed.sign("POST", EVIDENCE_PATH, body, audience="taipei")},
            )
        assert (refused.status_code, refused.json()["code"]) == (403, "cert_revoked")
        assert "cert_revoked" in refusals(federation, "taipei")

        # A node asking checks the server's certificate against the CRL in the handshake too.
        taipei_config = NodeConfig.read(layout.node("taipei").settings)
        assert taipei_config is not None
        asking = RemoteNodes(layout.node("taipei").settings, taipei_config, set())
        try:
            snapshot = asking.snapshots.refresh()
            assert asking.revocations.update(snapshot.ca_pem, snapshot.crl_pem)
            with pytest.raises(PeerUnreachable, match="certificate revoked"):
                asking.client.get(f"https://127.0.0.1:{regional.peer_port}/healthz")
        finally:
            asking.close()

        # The revoked node itself says so to its own clerks, and not to retry.
        config = NodeConfig.read(regional.settings)
        assert config is not None
        remote = RemoteNodes(regional.settings, config, set())
        try:
            own = remote.forward(
                "taipei-city.social_welfare",
                dataset="welfare_status",
                ask=EvidenceAsk(type=LOW_INCOME),
                request_id="own-revoked-1",
                case_id="ILA-1",
                application_item="public-housing-low-income",
                subject=federation.sample("yilan_resident"),
                actor={"username": "ila-udd-clerk", "agency": "yilan-county.urban_development"},
            )
        finally:
            remote.close()
        assert (own.status, own.retry_after) == ("denied", None)
        assert "this node's own certificate has been revoked" in own.reason.en
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


def test_a_kinship_chart_is_drawn_from_records_asked_of_three_nodes(
    federation: Federation,
) -> None:
    """A Taipei household office's clerk draws the 親系關係圖 of a man who died in Taipei: his
    former wife's and daughter's records are asked of the 新北市 node, his son's, parents'
    and grandparents' (a Japanese-era register) of the regional node; each owner signs and
    audits its own answer, and the chart names the heirs."""
    taipei = federation.layout.node("taipei")
    deceased = federation.sample("kinship_deceased")
    number = federation.case("taipei", "tpe-hh-clerk", "kinship-chart", deceased)
    with httpx.Client(base_url=taipei.url, timeout=60) as client:
        post_login(client, {"username": "tpe-hh-clerk", "password": "onceonly-demo"})
        page = client.get(f"/counter/cases/{number}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"csrf_token": token.group(1)}
        fetched = client.post(f"/counter/cases/{number}/evidence", data=form)
        assert fetched.status_code == 303, fetched.text
        drawn = client.post(f"/counter/cases/{number}/kinship", data=form, follow_redirects=True)
        assert drawn.status_code == 200, drawn.text
    chart = re.search(r'<svg[^>]*class="kin-chart".*?</svg>', drawn.text, re.S)
    assert chart is not None
    for name in ("蘇麗珠", "鄭怡君", "鄭家豪", "鄭文雄", "鄭國華", "鄭水木", "林罔市"):
        assert name in chart.group(0), name
    heirs = re.search(r'<ul class="kin-heirs">(.*?)</ul>', drawn.text, re.S)
    assert heirs is not None
    assert set(re.findall(r"<strong>(.*?)</strong>", heirs.group(1))) == {
        "許淑惠",
        "鄭怡君",
        "鄭家豪",
    }
    assert "臺北州宜蘭郡宜蘭街戶口調查簿" in drawn.text
    for node, owner in (
        ("new-taipei", "new-taipei-city.household_office"),
        ("north-regional", "keelung-city.household_office"),
        ("north-regional", "yilan-county.household_office"),
    ):
        answered = [
            e
            for e in federation.audit(node)
            if e.dataset == "kinship" and e.owner_agency == owner and e.decision == "allowed"
        ]
        assert answered, (node, owner)
        assert all(e.actor_agency == "taipei-city.household_office" for e in answered)


def test_done_means_a_yilan_transcript_then_revocation_stops_it(federation: Federation) -> None:
    _taipei_clerk_gets_a_transcript_signed_in_yilan(federation)
    _revoking_the_regional_node_stops_it_with_a_clear_reason(federation)


def test_attacks_are_refused_and_audited(federation: Federation, tmp_path: Path) -> None:
    _a_request_is_refused_when_replayed_tampered_or_from_a_skewed_clock(federation)
    _bad_certificates_are_refused_in_the_handshake_with_an_alert(federation, tmp_path)


def test_a_node_speaks_only_for_itself_its_agencies_and_to_its_addressee(
    federation: Federation,
) -> None:
    _a_node_can_neither_pass_on_a_request_nor_carry_another_s(federation)
    _a_node_cannot_ask_for_an_agency_outside_its_jurisdictions(federation)
    _a_node_cannot_pass_its_clerk_off_as_the_citizen(federation)


def test_faults_and_backup_lose_nothing(federation: Federation) -> None:
    _faults_reach_the_clerk_as_reasons_and_a_retry_issues(federation)
    _an_expired_snapshot_stops_cross_node_requests_with_the_reason(federation)
    _off_site_backup_is_encrypted_signed_and_restores_completely(federation)
