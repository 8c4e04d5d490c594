"""PDF transcripts: signed with PAdES by the owner's key and its self-issued certificate, valid
under pyHanko's validator with that certificate as the trust root; a changed byte or an added
revision fails; the JWS travels inside; keys this node does not hold never sign."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import onceonly.models  # noqa: F401 - every table
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import Base, make_engine, make_session_factory, transaction
from onceonly.errors import Problem
from onceonly.exchange import certificates, keys, pdf, verify
from onceonly.exchange.keys import ensure_key, hand_over, published_jwks, register_signer
from onceonly.exchange.transcript import display_text, inspect_transcript, sign_transcript
from tests.exchange.test_transcript import OWNER, household_claims, income_claims
from tests.pdf_support import assert_reader_valid, pdfsig, validated

BASE = "https://onceonly.example.gov.tw"


@pytest.fixture
def pdf_settings(tmp_path: Path, empty_database_url: str) -> Iterator[Settings]:
    engine = make_engine(empty_database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "data", database_url=empty_database_url)
    settings.ensure_dirs()
    yield settings


@pytest.fixture
def sessions(pdf_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pdf_settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _issue(db: Session, settings: Settings, claims_kind: str = "fields") -> str:
    key = ensure_key(db, settings, OWNER)
    claims = household_claims(issued_at=None) if claims_kind == "fields" else income_claims()
    if claims_kind != "fields":
        claims = type(claims)(**{**claims.__dict__, "issued_at": None})
    return sign_transcript(key, claims)


def _status(data: bytes, root: asn1_x509.Certificate) -> object:
    return validated(data, root)


def _made(sessions: sessionmaker[Session], settings: Settings, kind: str = "fields") -> tuple:
    with transaction(sessions) as db:
        token = _issue(db, settings, kind)
        verified = inspect_transcript(token, published_jwks(db))
        data = pdf.transcript_pdf(db, settings, verified, BASE)
        key = keys.active_key(db, settings, OWNER)
        assert key is not None
        cert = certificates.stored_certificate(key)
    assert cert is not None
    return token, data, key, cert


def test_the_pdf_is_signed_by_the_owner_key_and_valid_under_its_certificate(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    token, data, key, cert = _made(sessions, pdf_settings)
    status = _status(data, cert)
    assert status.bottom_line and status.intact and status.valid and status.trusted  # type: ignore[attr-defined]
    assert status.coverage.name == "ENTIRE_FILE"  # type: ignore[attr-defined]
    assert status.md_algorithm == "sha256"  # type: ignore[attr-defined]
    # the root certificate is the published key's, kept beside the key file
    assert Path(certificates.certificate_path(key)).is_file()
    assert Path(certificates.certificate_path(key)).parent == key.pem_path.parent
    raw = cert.public_key["public_key"].native
    assert keys.install_kid({"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}) == key.kid
    assert cert.subject.native["common_name"] == OWNER
    # the PDF is sealed by a P-256 key beside it, certified by the published key
    signer = PdfFileReader(io.BytesIO(data)).embedded_signatures[0].signer_cert
    assert signer.public_key.algorithm == "ec" and signer.public_key.curve[1] == "secp256r1"
    assert certificates.issued_by(signer, cert)
    assert key.seal_path.is_file() and key.seal_path.stat().st_mode & 0o077 == 0
    seal = keys.seal_key(key)
    assert seal is not None
    assert certificates._seal_info(seal).dump() == signer.public_key.dump()
    # the original JWS rides inside, and the QR target is on the page's verification path
    reader = PdfFileReader(io.BytesIO(data))
    assert verify._embedded_jws(reader) == token
    jti = inspect_transcript(token, {"keys": []}).claims.jti or ""
    with sessions() as db:
        assert pdf.look_up(db, jti, pdf.fingerprint(token)[:32]) is not None


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_common_pdf_readers_call_it_signed_by_the_owner(
    sessions: sessionmaker[Session],
    pdf_settings: Settings,
    tmp_path: Path,
) -> None:
    """poppler (Evince, Okular) checks the seal: valid, whole file, signed by the agency by
    name; a changed byte in the signed range, or a seal made with another key, is not."""
    token, data, _, _ = _made(sessions, pdf_settings)
    verified = inspect_transcript(token, {"keys": []})
    agency = display_text(verified.claims, "issuer", "zh-TW")
    assert_reader_valid(pdfsig(data, tmp_path), agency)

    at = data.index(b"/Producer")
    tampered = data[:at] + b"/Producex" + data[at + len(b"/Producer") :]
    assert "Signature is Valid." not in pdfsig(tampered, tmp_path)

    # the seal certificate of the owner, but the PDF signed with another P-256 key
    with transaction(sessions) as db:
        key = keys.active_key(db, pdf_settings, OWNER)
        assert key is not None
        seal = keys.seal_key(key)
        assert seal is not None
        chain = certificates.seal_certificate_for(key, seal, agency)
        other = ec.generate_private_key(ec.SECP256R1())
        impostor = keys.SealKey(
            other.public_key(), lambda raw: other.sign(raw, ec.ECDSA(hashes.SHA256()))
        )
        unsigned = pdf.render_pdf(db, verified, BASE)
        forged = pdf._sign(unsigned, verified, impostor, chain)
        assert "Signature is Valid." not in pdfsig(forged, tmp_path)
        assert not verify.check_file(db, forged, "en").valid
        # a seal certificate issued by a key no one published is no owner's seal
        stranger = keys.SigningKey(
            kid="stranger",
            agency_code=OWNER,
            public_jwk={},
            status="active",
            created_at=key.created_at,
            retired_at=None,
            pem_path=tmp_path / "stranger.pem",
        )
        private = Ed25519PrivateKey.generate()
        object.__setattr__(stranger, "sign", private.sign)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(
            stranger, "public_jwk", {"kty": "OKP", "crv": "Ed25519", "x": _b64(public)}
        )
        root = certificates.make_certificate(stranger, agency)
        leaf = certificates.make_seal_certificate(stranger, seal, root, agency)
        assert not certificates.issued_by(leaf, chain[1])
        foreign = pdf._sign(unsigned, verified, seal, (leaf, root))
        assert "Signature is Valid." in pdfsig(foreign, tmp_path), "a reader cannot tell"
        outcome = verify.check_file(db, foreign, "en")
        assert not outcome.valid and "key" in outcome.reason
        # nor when it rides with the owner's real certificate (the same name) as its issuer
        assert root.subject == chain[1].subject
        smuggled = pdf._sign(unsigned, verified, seal, (leaf, chain[1]))
        assert not verify.check_file(db, smuggled, "en").valid


def test_a_changed_byte_or_an_added_revision_fails_validation(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    _, data, _, cert = _made(sessions, pdf_settings)
    # change one byte of the signed page content (the issuer's name in the metadata)
    at = data.index(b"/Producer")
    tampered = data[:at] + b"/Producex" + data[at + len(b"/Producer") :]
    status = _status(tampered, cert)
    assert not status.bottom_line and not status.intact  # type: ignore[attr-defined]
    # or keep the bytes and append a revision that changes what is shown
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.root["/PageMode"] = generic.NameObject("/UseOutlines")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    appended = out.getvalue()
    assert _status(appended, cert).coverage.name != "ENTIRE_FILE"  # type: ignore[attr-defined]
    with sessions() as db:
        assert verify.check_file(db, data, "en").valid
        for bad in (tampered, appended):
            outcome = verify.check_file(db, bad, "en")
            assert not outcome.valid and "changed after signing" in outcome.reason


def test_a_predicate_transcript_renders_and_signs(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    _, data, _, cert = _made(sessions, pdf_settings, "predicate")
    assert _status(data, cert).bottom_line  # type: ignore[attr-defined]


def test_the_certificate_is_made_once_and_reused(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    _, _, key, cert = _made(sessions, pdf_settings)
    again = certificates.certificate_for(key, "any name")
    assert again.dump() == cert.dump()


def test_a_token_held_key_signs_without_a_key_file(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    """A PKCS#11 token registered for the key certifies the seal key and the token's seal
    key signs the PDF; a token without a seal key gets no PDF (never a seal file's)."""
    with transaction(sessions) as db:
        token = _issue(db, pdf_settings)
        key = keys.active_key(db, pdf_settings, OWNER)
        assert key is not None
        private = key.private_key().private_key
        calls: list[int] = []
        sealed: list[int] = []

        def token_sign(data: bytes) -> bytes:
            calls.append(len(data))
            return private.sign(data)  # type: ignore[union-attr]

        in_token = ec.generate_private_key(ec.SECP256R1())

        def token_seal(data: bytes) -> bytes:
            sealed.append(len(data))
            return in_token.sign(data, ec.ECDSA(hashes.SHA256()))

        key.pem_path.unlink()
        verified = inspect_transcript(token, published_jwks(db))
        register_signer(key.kid, token_sign)
        try:
            with pytest.raises(pdf.PdfUnavailable):
                pdf.transcript_pdf(db, pdf_settings, verified, BASE)
            assert pdf.why_no_pdf(db, pdf_settings, verified, "en")
            assert not key.seal_path.exists()
            register_signer(key.kid, token_sign, keys.SealKey(in_token.public_key(), token_seal))
            assert pdf.why_no_pdf(db, pdf_settings, verified, "en") is None
            data = pdf.transcript_pdf(db, pdf_settings, verified, BASE)
        finally:
            keys._signers.pop(key.kid, None)
            keys._seals.pop(key.kid, None)
        cert = certificates.stored_certificate(key)
        assert not key.seal_path.exists()
    assert calls and sealed and cert is not None
    assert _status(data, cert).bottom_line  # type: ignore[attr-defined]


def test_an_owner_whose_key_is_at_its_gateway_gets_no_pdf_here(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    with transaction(sessions) as db:
        token = _issue(db, pdf_settings)
        jwks = published_jwks(db)
        held = keys.active_key(db, pdf_settings, OWNER)
        assert held is not None
        assert pdf.why_no_pdf(db, pdf_settings, inspect_transcript(token, jwks), "en") is None
        assert not held.seal_path.exists(), "asking whether a PDF can be made makes nothing"
        pdf.transcript_pdf(db, pdf_settings, inspect_transcript(token, jwks), BASE)
        assert held.seal_path.is_file()
        gateway_key = {"kty": "OKP", "crv": "Ed25519", "x": _b64(bytes(range(32)))}
        member = gateway_key | {"kid": keys.install_kid(gateway_key), "agency": OWNER}
        hand_over(db, pdf_settings, OWNER, [member])
        assert not held.seal_path.exists(), "the seal key goes with the key it belongs to"
        verified = inspect_transcript(token, jwks)
        with pytest.raises(pdf.PdfUnavailable) as refused:
            pdf.transcript_pdf(db, pdf_settings, verified, BASE, "en")
        assert refused.value.code == "gateway"
        assert "cannot sign in its name" in str(refused.value)
        assert pdf.why_no_pdf(db, pdf_settings, verified, "en") == str(refused.value)
        with pytest.raises(Problem) as problem:
            pdf.pdf_for_token(db, pdf_settings, token, jwks, BASE, "en")
        assert problem.value.status == 409


def test_an_invalid_or_foreign_transcript_gets_no_pdf(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    with transaction(sessions) as db:
        token = _issue(db, pdf_settings)
        jwks = published_jwks(db)
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        with pytest.raises(Problem) as problem:
            pdf.pdf_for_token(db, pdf_settings, forged, jwks, BASE, "en")
        assert problem.value.status == 409 and "not valid" in problem.value.detail
        said = pdf.why_no_pdf_for_token(db, pdf_settings, forged, jwks, "en")
        assert said == problem.value.detail
        # a transcript signed on another node: its key is published there, not held here
        other = sign_transcript(
            ensure_key(db, pdf_settings, "keelung-city.household"),
            household_claims(issuer="keelung-city.household", issued_at=None),
        )
        verified = inspect_transcript(other, published_jwks(db))
        keys_here = keys.active_key(db, pdf_settings, "keelung-city.household")
        assert keys_here is not None
        keys_here.pem_path.unlink()
        keys._cache.clear()
        with pytest.raises(pdf.PdfUnavailable) as refused:
            pdf.transcript_pdf(db, pdf_settings, verified, BASE, "en")
        assert refused.value.code == "gateway"
        assert pdf.why_no_pdf(db, pdf_settings, verified, "en") == str(refused.value)


def test_the_verification_look_up_needs_the_fingerprint(
    sessions: sessionmaker[Session], pdf_settings: Settings
) -> None:
    token, _, _, _ = _made(sessions, pdf_settings)
    claims = inspect_transcript(token, {"keys": []}).claims
    digest = pdf.fingerprint(token)
    with sessions() as db:
        found = pdf.look_up(db, claims.jti or "", digest[:32])
        assert found is not None and found.issuer == OWNER
        assert pdf.look_up(db, claims.jti or "", digest[:15]) is None, "too short"
        assert pdf.look_up(db, claims.jti or "", "0" * 32) is None, "wrong fingerprint"
        assert pdf.look_up(db, "no-such-id", digest[:32]) is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=600).map(lambda tail: b"%PDF-1.7\n" + tail),
        st.text(alphabet="ABCxyz-_.", max_size=200).map(str.encode),
    )
)
def test_any_uploaded_bytes_get_a_verdict_never_an_error(
    sessions: sessionmaker[Session], data: bytes
) -> None:
    with sessions() as db:
        outcome = verify.check_file(db, data, "en")
    assert not outcome.valid and outcome.reason


def test_the_command_line_checks_the_transcript_a_pdf_carries(
    sessions: sessionmaker[Session], pdf_settings: Settings, tmp_path: Path
) -> None:
    """``onceonly transcript verify`` took only the JWS file: given the PDF offered beside it,
    it said it could not decode byte 0x93. It checks the transcript the PDF carries now, says
    so, and says in words what a file that is neither is."""
    _, data, _, _ = _made(sessions, pdf_settings)
    with transaction(sessions) as db:
        (tmp_path / "jwks.json").write_text(json.dumps(published_jwks(db)), "utf-8")
    (tmp_path / "t.pdf").write_bytes(data)
    (tmp_path / "plain.pdf").write_bytes(b"%PDF-1.7\n%\x93\x8c\x8b\x9e junk")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not text")

    def verify(name: str) -> Any:
        command = ["transcript", "verify", str(tmp_path / name), "--jwks"]
        return CliRunner().invoke(cli, [*command, str(tmp_path / "jwks.json")])

    checked = verify("t.pdf")
    assert checked.exit_code == 0, checked.output
    assert "有效 / valid" in checked.output and "這是 PDF 謄本" in checked.output
    plain = verify("plain.pdf")
    assert plain.exit_code == 2 and "沒有附上本平臺的電子謄本檔" in plain.output
    photo = verify("photo.jpg")
    assert photo.exit_code == 2 and "不是電子謄本檔" in photo.output
    assert "codec" not in plain.output + photo.output


def test_no_library_warning_is_printed_before_a_commands_own_output() -> None:
    """pyhanko's import warned that DSA is deprecated on every command, and as the first lines
    of `onceonly serve`'s JSON log; onceonly signs nothing with DSA."""
    import subprocess
    import sys

    shown = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import onceonly.exchange.pdf"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "DSA" not in shown.stderr and "Warning" not in shown.stderr, shown.stderr
