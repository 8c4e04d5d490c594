"""The federation's trust, without the network: certificates, CRL, snapshots, signed requests."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.exchange.schemas import EvidenceAsk
from onceonly.federation.directory import Directory, RegistrationInvalid
from onceonly.federation.node import NodeConfig, SnapshotCache
from onceonly.federation.signing import NodeCredentials, NonceStore, RequestRefused, verify_request
from onceonly.federation.snapshot import SnapshotRefused, verify_snapshot
from onceonly.i18n import both
from onceonly.pki import ca
from onceonly.pki.trust import CertificateRefused, TrustAnchor


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    ca.init_ca(root / "ca")
    for node in ("taipei", "yilan"):
        ca.issue_node(root / "ca", node, root / "certs")
    return root


def _anchor(pki: Path) -> TrustAnchor:
    return TrustAnchor.from_pem((pki / "ca" / "ca.pem").read_bytes(), ca.build_crl(pki / "ca"))


def _cert(pki: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki / "certs" / f"{name}.pem").read_bytes())


def _registration(pki: Path, node: str, jurisdictions: list[str]) -> dict[str, object]:
    return {
        "id": node,
        "jurisdictions": jurisdictions,
        "endpoint": f"https://127.0.0.1:1/{node}",
        "cert_pem": (pki / "certs" / f"{node}.pem").read_text(),
        "agencies": {f"{jurisdictions[0]}.social_welfare": ["welfare_status"]},
        "jwks": {"keys": []},
    }


def test_cli_makes_a_ca_issues_revokes_and_publishes_the_crl(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "ca")
    assert runner.invoke(cli, ["pki", "init-ca", "--ca-dir", home]).exit_code == 0
    again = runner.invoke(cli, ["pki", "init-ca", "--ca-dir", home])
    assert again.exit_code == 1 and "exists" in again.output
    issued = runner.invoke(
        cli, ["pki", "issue-node", "keelung", "--ca-dir", home, "--out", str(tmp_path)]
    )
    assert issued.exit_code == 0, issued.output
    cert = x509.load_pem_x509_certificate((tmp_path / "keelung.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert (tmp_path / "keelung.key").stat().st_mode & 0o077 == 0
    agency = runner.invoke(
        cli,
        [
            "pki",
            "issue-agency",
            "keelung-city.social_welfare",
            "--ca-dir",
            home,
            "--out",
            str(tmp_path),
        ],
    )
    assert agency.exit_code == 0, agency.output
    for name in ("../outside", "a/b", "", ".hidden"):  # the name is also the files' name
        out = tmp_path / "out"
        refused = runner.invoke(
            cli, ["pki", "issue-node", name, "--ca-dir", home, "--out", str(out)]
        )
        said = " ".join(refused.output.split())
        assert refused.exit_code == 1 and "cannot name a certificate" in said, refused.output
        assert "不能作為憑證名稱" in said
    assert not (tmp_path / "outside.pem").exists() and not (tmp_path / "out").exists()

    serial = format(cert.serial_number, "x")
    unknown = runner.invoke(cli, ["pki", "revoke", "abc123", "--ca-dir", home])
    assert unknown.exit_code == 1 and "abc123" in unknown.output
    elsewhere = runner.invoke(cli, ["pki", "revoke", serial, "--ca-dir", str(tmp_path / "no-ca")])
    said = " ".join(elsewhere.output.split())
    assert elsewhere.exit_code == 1 and "There is no CA in" in said and "根憑證機構" in said
    revoked = runner.invoke(
        cli, ["pki", "revoke", serial, "--reason", "key_compromise", "--ca-dir", home]
    )
    assert revoked.exit_code == 0, revoked.output
    crl = x509.load_pem_x509_crl(
        runner.invoke(cli, ["pki", "crl", "--ca-dir", home]).stdout.encode()
    )
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert len(list(crl)) == 1


def test_trust_names_why_a_certificate_is_refused(pki: Path, tmp_path: Path) -> None:
    anchor = _anchor(pki)
    assert anchor.check(_cert(pki, "taipei"), "taipei") == "taipei"
    with pytest.raises(CertificateRefused) as wrong:
        anchor.check(_cert(pki, "taipei"), "yilan")
    assert wrong.value.code == "wrong_node"

    ca.init_ca(tmp_path / "other")
    ca.issue_node(tmp_path / "other", "taipei", tmp_path)
    foreign = x509.load_pem_x509_certificate((tmp_path / "taipei.pem").read_bytes())
    with pytest.raises(CertificateRefused) as unknown:
        anchor.check(foreign, "taipei")
    assert unknown.value.code == "unknown_ca"

    with pytest.raises(CertificateRefused) as bad_crl:
        TrustAnchor.from_pem((pki / "ca" / "ca.pem").read_bytes(), ca.build_crl(tmp_path / "other"))
    assert bad_crl.value.code == "crl_bad_signature"


def test_a_certificate_checked_before_is_still_refused_once_revoked_or_altered(
    tmp_path: Path,
) -> None:
    """A node checks the same certificates on every request; what it remembers of them must
    not outlive a revocation, nor vouch for a copy with one byte of its signature changed."""
    pki = tmp_path  # its own CA: the revocation below must not reach the other tests
    ca.init_ca(pki / "ca")
    ca.issue_node(pki / "ca", "taipei", pki / "certs")
    genuine = _cert(pki, "taipei")
    assert _anchor(pki).check(genuine, "taipei") == "taipei"
    der = bytearray(genuine.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature, the last field of the certificate
    altered = x509.load_der_x509_certificate(bytes(der))
    with pytest.raises(CertificateRefused) as forged:
        _anchor(pki).check(altered, "taipei")
    assert forged.value.code == "unknown_ca"
    ca.revoke(pki / "ca", format(genuine.serial_number, "x"), "key_compromise")
    with pytest.raises(CertificateRefused) as revoked:
        _anchor(pki).check(genuine, "taipei")
    assert revoked.value.code == "cert_revoked"


def _credentials(pki: Path, node: str) -> NodeCredentials:
    return NodeCredentials.load(
        node, str(pki / "certs" / f"{node}.pem"), str(pki / "certs" / f"{node}.key")
    )


def test_signed_requests_are_checked_for_every_attack(pki: Path) -> None:
    anchor = _anchor(pki)
    taipei = _credentials(pki, "taipei")
    taipei_tls = _cert(pki, "taipei")
    body = b'{"subject": "A123456789"}'
    nonces = NonceStore()
    path = "/federation/v1/evidence"
    token = taipei.sign("POST", path, body, audience="yilan")
    claims = verify_request(
        token, "POST", path, body, anchor, nonces, audience="yilan", peer=taipei_tls
    )
    assert (claims["node"], claims["aud"]) == ("taipei", "yilan")

    def code(**kw: object) -> str:
        args = {
            "token": taipei.sign("POST", path, body, audience="yilan"),
            "method": "POST",
            "path": path,
            "body": body,
            "audience": "yilan",
            "peer": taipei_tls,
        } | kw
        with pytest.raises(RequestRefused) as refused:
            verify_request(
                args["token"],  # type: ignore[arg-type]
                args["method"],  # type: ignore[arg-type]
                args["path"],  # type: ignore[arg-type]
                args["body"],  # type: ignore[arg-type]
                anchor,
                nonces,
                audience=args["audience"],  # type: ignore[arg-type]
                peer=args["peer"],  # type: ignore[arg-type]
            )
        return refused.value.code

    assert code(token=token) == "replay"
    assert code(path="/federation/v1/backups") == "tampered"
    assert code(method="PUT") == "tampered"
    # well past the ±120 s window, so a slow machine between signing and checking cannot matter
    late = taipei.sign("POST", path, body, audience="yilan", now=time.time() + 600)
    assert code(token=late) == "clock_skew"
    assert code(token=None) == "missing_signature"
    assert code(token="not.a.jws") == "malformed"
    head, payload, signature = taipei.sign("POST", path, body, audience="yilan").split(".")
    assert code(token=f"{head}.{payload}.{signature[:-4]}AAAA") == "bad_signature"


def test_a_request_is_bound_to_its_receiver_and_to_its_signer_s_tls_connection(
    pki: Path,
) -> None:
    """A node cannot pass on what another node sent it (the signature names the receiver), and
    a signature only counts when the signer's own certificate carried it over TLS."""
    anchor = _anchor(pki)
    taipei, taipei_tls, yilan_tls = (
        _credentials(pki, "taipei"),
        _cert(pki, "taipei"),
        _cert(pki, "yilan"),
    )
    body = b'{"subject": "A123456789"}'
    for_yilan = taipei.sign("POST", "/p", body, audience="yilan")

    # yilan, having received it, sends it on to a third node over its own connection
    with pytest.raises(RequestRefused) as passed_on:
        verify_request(
            for_yilan, "POST", "/p", body, anchor, NonceStore(), audience="keelung", peer=yilan_tls
        )
    assert passed_on.value.code == "wrong_audience"
    assert "signed by 'taipei' for 'yilan', received by 'keelung'" in passed_on.value.detail
    # ... even over a connection that seems to be taipei's
    with pytest.raises(RequestRefused) as as_taipei:
        verify_request(
            for_yilan, "POST", "/p", body, anchor, NonceStore(), audience="keelung", peer=taipei_tls
        )
    assert as_taipei.value.code == "wrong_audience"

    for peer, why in ((yilan_tls, "TLS client certificate of 'yilan'"), (None, "no TLS client")):
        with pytest.raises(RequestRefused) as carried:
            verify_request(
                for_yilan, "POST", "/p", body, anchor, NonceStore(), audience="yilan", peer=peer
            )
        assert carried.value.code == "peer_mismatch"
        assert why in carried.value.detail

    # the same node id with another key (a certificate from elsewhere) is not the signer either
    other = pki / "other-taipei"
    ca.issue_node(pki / "ca", "taipei", other)
    twin = x509.load_pem_x509_certificate((other / "taipei.pem").read_bytes())
    with pytest.raises(RequestRefused) as twin_key:
        verify_request(
            for_yilan, "POST", "/p", body, anchor, NonceStore(), audience="yilan", peer=twin
        )
    assert twin_key.value.code == "peer_mismatch"


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=63))
def test_any_change_to_the_body_is_tampering(extra: bytes, at: int) -> None:
    pki = _PKI
    anchor = _anchor(pki)
    taipei = _credentials(pki, "taipei")
    body = b'{"subject": "A123456789", "ask": {"type": "income"}}'
    changed = body[: at % len(body)] + extra + body[at % len(body) :]
    token = taipei.sign("POST", "/p", body, audience="yilan")
    with pytest.raises(RequestRefused) as refused:
        verify_request(
            token,
            "POST",
            "/p",
            changed,
            anchor,
            NonceStore(),
            audience="yilan",
            peer=_cert(pki, "taipei"),
        )
    assert refused.value.code == "tampered"


_PKI: Path


@pytest.fixture(autouse=True)
def _share_pki(pki: Path) -> None:
    global _PKI
    _PKI = pki


def test_directory_snapshot_is_signed_expires_and_refuses_double_service(
    pki: Path, tmp_path: Path
) -> None:
    directory = Directory(tmp_path / "directory", pki / "ca")
    directory.add_node(_registration(pki, "taipei", ["taipei-city"]))
    directory.add_node(_registration(pki, "yilan", ["yilan-county"]))
    with pytest.raises(RegistrationInvalid, match="yilan-county already served by node yilan"):
        directory.add_node(_registration(pki, "taipei", ["taipei-city", "yilan-county"]))
    with pytest.raises(RegistrationInvalid, match="cert_pem"):
        directory.add_node(
            {**_registration(pki, "yilan", ["tainan-city"]), "id": "x", "cert_pem": ""}
        )

    key = directory.public_jwk()
    snapshot = verify_snapshot(directory.snapshot(), key)
    assert snapshot.node_serving("yilan-county").id == "yilan"  # type: ignore[union-attr]
    assert snapshot.node_of_agency("yilan-county.social_welfare").id == "yilan"  # type: ignore[union-attr]
    assert snapshot.expires_at - snapshot.issued_at == timedelta(hours=24)

    old = directory.snapshot(now=datetime.now(UTC) - timedelta(days=2))
    with pytest.raises(SnapshotRefused) as expired:
        verify_snapshot(old, key)
    assert expired.value.code == "expired"
    impostor = Directory(tmp_path / "impostor", pki / "ca")
    with pytest.raises(SnapshotRefused) as forged:
        verify_snapshot(impostor.snapshot(), key)
    assert forged.value.code == "bad_signature"
    head, payload, signature = directory.snapshot().split(".")
    data = json.loads(__import__("base64").urlsafe_b64decode(payload + "=="))
    data["nodes"] = []
    tampered = (
        __import__("base64").urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    )
    with pytest.raises(SnapshotRefused) as changed:
        verify_snapshot(f"{head}.{tampered}.{signature}", key)
    assert changed.value.code == "bad_signature"


def _taipei_node(
    pki: Path, directory: Directory, directory_url: str, *, refresh_seconds: float
) -> NodeConfig:
    return NodeConfig(
        id="taipei",
        name="taipei",
        jurisdictions=("taipei-city",),
        endpoint="https://x",
        cert=str(pki / "certs" / "taipei.pem"),
        key=str(pki / "certs" / "taipei.key"),
        ca=str(pki / "ca" / "ca.pem"),
        directory_url=directory_url,
        directory_jwk=directory.public_jwk(),
        refresh_seconds=refresh_seconds,
    )


def test_a_node_keeps_the_last_good_snapshot_while_the_directory_is_down(
    pki: Path, tmp_path: Path
) -> None:
    directory = Directory(tmp_path / "directory", pki / "ca")
    directory.add_node(_registration(pki, "taipei", ["taipei-city"]))
    settings = Settings(data_dir=tmp_path / "node")
    config = _taipei_node(pki, directory, "http://127.0.0.1:9", refresh_seconds=0)
    cache = SnapshotCache(settings, config)
    with pytest.raises(SnapshotRefused) as nothing:
        cache.current()
    assert nothing.value.code == "unavailable"
    # what the clerk reads, inside the refusal: the directory not reached, in words
    told = both(
        "federation.snapshot_refused", owner="taipei-city.land_office", why=nothing.value.why
    )
    assert "the directory at http://127.0.0.1:9 could not be reached" in told["en"]
    assert "無法連線到目錄 http://127.0.0.1:9" in told["zh-TW"]
    for words in told.values():
        assert "ConnectError" not in words and "unavailable" not in words

    cache.path.parent.mkdir(parents=True)
    cache.path.write_text(directory.snapshot())
    assert cache.current().node("taipei") is not None
    assert cache.last_error is not None  # the directory could not be reached

    cache.path.write_text(directory.snapshot(now=datetime.now(UTC) - timedelta(days=2)))
    with pytest.raises(SnapshotRefused) as expired:
        cache.refresh()
    assert expired.value.code == "expired"
    assert "the snapshot expired at" in expired.value.why["en"]
    assert "臺北時間" in expired.value.why["zh-TW"] and "過期" in expired.value.why["zh-TW"]


def test_no_request_waits_for_a_slow_directory_while_the_copy_held_is_recent(
    pki: Path, tmp_path: Path
) -> None:
    """A node fetches the snapshot again every ``refresh_seconds``. Every request of the node
    used to queue behind that fetch; now a recent copy answers while the fetch runs beside
    it, and only a copy older than twice the period (a quiet node) waits for the directory."""
    directory = Directory(tmp_path / "directory", pki / "ca")
    directory.add_node(_registration(pki, "taipei", ["taipei-city"]))
    answering = threading.Event()
    answering.set()

    class SlowDirectory(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answering.wait(10)
            body = directory.snapshot().encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowDirectory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    period = 2.0  # long enough that a loaded machine's stall cannot make the copy look fresh
    config = _taipei_node(
        pki, directory, f"http://127.0.0.1:{server.server_address[1]}", refresh_seconds=period
    )
    cache = SnapshotCache(Settings(data_dir=tmp_path / "node"), config)
    cache.path.parent.mkdir(parents=True)
    try:
        assert cache.current().node("yilan") is None
        directory.add_node(_registration(pki, "yilan", ["yilan-county"]))
        answering.clear()  # the directory now takes its time
        time.sleep(period * 1.1)
        started = time.monotonic()
        held = cache.current()
        assert time.monotonic() - started < period / 2, "a request waited for the directory"
        assert held.node("yilan") is None
        answering.set()
        deadline = time.monotonic() + 5
        while cache.current().node("yilan") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.current().node("yilan") is not None  # the fetch beside it was kept

        directory.add_node(_registration(pki, "taipei", ["taipei-city", "keelung-city"]))
        answering.clear()
        time.sleep(period * 2.2)  # nobody asked for two periods: the copy is too old to use
        got: list[object] = []
        asking = threading.Thread(target=lambda: got.append(cache.current()))
        asking.start()
        # A quarter period, well inside the fetch's two-second timeout: a thread that has ended
        # by then used the held copy (a longer wait raced that timeout on a busy machine).
        asking.join(period / 4)
        assert asking.is_alive(), "a copy older than twice the period was used unchecked"
        answering.set()
        asking.join(5)
        assert got, "the request never got the directory's snapshot"
        taipei = got[0].node("taipei")  # type: ignore[attr-defined]
        assert taipei is not None and "keelung-city" in taipei.jurisdictions, (
            "the request went on with the old copy instead of the directory's"
        )
    finally:
        answering.set()
        server.shutdown()
        server.server_close()


def test_a_mistyped_home_is_no_new_directory(pki: Path, tmp_path: Path) -> None:
    """Only ``directory init`` makes a directory: a typo in ``--home`` used to start a second
    one with a key no node pins, or register a node where no node looks."""
    runner = CliRunner()
    home, typo = tmp_path / "directory", tmp_path / "directroy"
    made = runner.invoke(cli, ["directory", "init", "--home", str(home)])
    assert made.exit_code == 0 and "Made a directory in" in made.output, made.output
    key = json.loads(made.output.splitlines()[-1])
    again = runner.invoke(cli, ["directory", "init", "--home", str(home)])
    assert "already holds a directory; nothing was changed" in again.output
    assert json.loads(again.output.splitlines()[-1]) == key

    document = tmp_path / "taipei.json"
    document.write_text(json.dumps(_registration(pki, "taipei", ["taipei-city"])), "utf-8")
    where = ["--ca-dir", str(pki / "ca")]
    for command in (["add-node", str(document)], ["nodes"], ["key"], ["serve"]):
        refused = runner.invoke(cli, ["directory", *command, "--home", str(typo), *where])
        said = " ".join(refused.output.split())
        assert refused.exit_code == 2, (command, said)
        assert "--home" in said and "holds no directory" in said, (command, said)
    assert not typo.exists()
    added = runner.invoke(
        cli, ["directory", "add-node", str(document), "--home", str(home), *where]
    )
    assert added.exit_code == 0, added.output
    assert [n["id"] for n in Directory(home, pki / "ca").nodes()] == ["taipei"]


def test_removing_a_node_says_what_happened(pki: Path, tmp_path: Path) -> None:
    """A name that is no member is said so (it left no output and no trace before), and is no
    event in the directory's log; a member is removed and said so."""
    home = tmp_path / "directory"
    directory = Directory(home, pki / "ca")
    directory.add_node(_registration(pki, "taipei", ["taipei-city"]))
    runner = CliRunner()
    where = ["--home", str(home), "--ca-dir", str(pki / "ca")]
    ghost = runner.invoke(cli, ["directory", "remove-node", "taipi", *where])
    assert ghost.exit_code == 1 and "目錄中沒有節點「taipi」" in " ".join(ghost.output.split())
    assert [n["id"] for n in directory.nodes()] == ["taipei"]
    gone = runner.invoke(cli, ["directory", "remove-node", "taipei", *where])
    assert gone.exit_code == 0 and "已將節點「taipei」移出目錄" in " ".join(gone.output.split())
    assert directory.nodes() == []


ASKED = {"ask": EvidenceAsk(type="household_income_below"), "dataset": "income"}
"""The question a peer's answer is checked against (checked_answer)."""


def test_a_peers_words_in_a_clerks_reason_are_bounded() -> None:
    """A node or gateway chooses much of what a refusal of its answer quotes (a key id, its
    own problem's detail): a clerk's reason holds at most 200 characters of it."""
    import base64

    from onceonly.federation.peer_http import PeerResponse
    from onceonly.federation.remote import AnswerRefused, checked_answer

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": "請改用紙本" * 1000}).encode())
    jws = f"{header}.{b64(b'{}')}.{b64(b'x' * 64)}"
    result = {"evidence_type": "income", "dataset": "income", "status": "issued",
              "owners": ["central.fia"], "reason": {"zh-TW": "-", "en": "-"},
              "transcripts": [{"owner": "central.fia", "kid": "k", "jws": jws,
                               "expires_at": "2030-01-01T00:00:00+00:00"}]}  # fmt: skip
    answer = PeerResponse(200, json.dumps({"result": result}).encode())
    with pytest.raises(AnswerRefused) as refused:
        checked_answer(answer, jwks={"keys": []}, issuers={"central.fia"}, holder="gw",
                       request_id="r", subject="A123456789", **ASKED)  # fmt: skip
    detail = refused.value.details["detail"]
    assert isinstance(detail, dict) and all(0 < len(text) <= 200 for text in detail.values())
    problem = PeerResponse(503, json.dumps({"detail": "x" * 5000}).encode())
    with pytest.raises(AnswerRefused) as by_peer:
        checked_answer(problem, jwks={}, issuers=set(), holder="gw", request_id="r", subject="s",
                       **ASKED)  # fmt: skip
    assert len(by_peer.value.details["detail"]) == 200


def test_a_peers_refusal_reads_in_words_not_its_code() -> None:
    """A clerk read "refused the request (no-approved-rule)": the code the peer chose. The
    kind of refusal is said in words, then the peer's own words."""
    from onceonly.federation.peer_http import PeerResponse
    from onceonly.federation.remote import AnswerRefused, checked_answer

    said = {}
    for status in (403, 404, 422, 429, 503, 418):
        problem = {"code": "no-approved-rule", "title": "No rule", "detail": "沒有核准的規則"}
        answer = PeerResponse(status, json.dumps(problem).encode())
        with pytest.raises(AnswerRefused) as refused:
            checked_answer(answer, jwks={}, issuers=set(), holder="gw", request_id="r",
                           subject="A123456789", **ASKED)  # fmt: skip
        assert refused.value.by_peer
        for key in ("federation.peer_refused", "gateway.refused"):
            texts = both(key, node="臺北市", gateway="gw", owner="central.fia",
                         **refused.value.details)  # fmt: skip
            assert all("no-approved-rule" not in text for text in texts.values()), texts
            assert all("沒有核准的規則" in text for text in texts.values())
        said[status] = both("federation.peer_refused", node="n", owner="o",
                            **refused.value.details)["en"]  # fmt: skip
    assert "does not allow this node to ask for this" in said[403]
    assert "found no such record" in said[404] and "found the request invalid" in said[422]
    assert "try again later" in said[429] and "its server failed" in said[503]
    assert "could not handle the request" in said[418]
    ours = PeerResponse(403, json.dumps({"code": "replay", "detail": "nonce n"}).encode())
    with pytest.raises(AnswerRefused) as replayed:
        checked_answer(ours, jwks={}, issuers=set(), holder="gw", request_id="r", subject="s",
                       **ASKED)  # fmt: skip
    assert replayed.value.details["why"] == both("federation.refused.replay")
