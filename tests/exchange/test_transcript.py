"""Signed transcripts: sign, verify offline, and refuse each kind of bad token for the exact
reason; rotation keeps old transcripts valid; the CLI and the printable page."""

from __future__ import annotations

import base64
import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OctKey, OKPKey
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.exchange.keys import SigningKey, ensure_key, published_jwks, rotate_key
from onceonly.exchange.transcript import (
    TYP,
    TranscriptClaims,
    TranscriptInvalid,
    inspect_transcript,
    render_transcript_html,
    sign_transcript,
    verify_transcript,
)
from tests.exchange.test_keys import key_sessions, key_settings  # noqa: F401 (fixtures)

OWNER = "central.moi_household"
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def household_claims(**overrides: Any) -> TranscriptClaims:
    values: dict[str, Any] = {
        "issuer": OWNER,
        "subject": "A123456789",
        "dataset": "household_registration",
        "application_item": "public_housing_rental",
        "legal_basis": "housing_act_art_22",
        "case_id": "TPE-2025-000123",
        "request_id": "req-0001",
        "requester_agency": "taipei-city.urban_development",
        "requester_badge": "B00042",
        "fields": {
            "name": "王小明",
            "address": "臺北市中山區中山里5鄰南京東路二段100號",
            "members": [{"name": "王大明", "relation": "父"}],
        },
        "issued_at": NOW,
        "display": {
            "issuer": {"zh-TW": "內政部戶政司", "en": "Department of Household Registration"},
            "dataset": {"zh-TW": "戶籍資料", "en": "Household registration"},
            "fields": {"name": {"zh-TW": "姓名", "en": "Name"}},
        },
    }
    values.update(overrides)
    return TranscriptClaims(**values)


def income_claims() -> TranscriptClaims:
    return household_claims(
        issuer=OWNER,
        dataset="income",
        fields=None,
        predicate={
            "code": "avg_monthly_income_below",
            "params": {"threshold": 19013},
            "answer": True,
            "as_of": "113 年度綜合所得稅",
        },
        display={
            "predicate": {
                "zh-TW": "家戶平均每人每月所得低於 19,013 元",
                "en": "Average monthly income per person below NT$19,013",
            }
        },
    )


@pytest.fixture
def key(key_settings: Settings, key_sessions: sessionmaker[Session]) -> SigningKey:  # noqa: F811
    with transaction(key_sessions) as session:
        return ensure_key(session, key_settings, OWNER)


@pytest.fixture
def jwks(key: SigningKey, key_sessions: sessionmaker[Session]) -> dict[str, Any]:  # noqa: F811
    with transaction(key_sessions) as session:
        return published_jwks(session)


@pytest.fixture
def token(key: SigningKey) -> str:
    return sign_transcript(key, household_claims(), valid_days=30)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def reason_code(token: str, jwks: dict[str, Any], now: datetime = NOW) -> str:
    with pytest.raises(TranscriptInvalid) as caught:
        verify_transcript(token, jwks, now=now)
    return caught.value.code


# --- round trip --------------------------------------------------------------------------


def test_signed_record_verifies_with_the_published_keys(
    token: str, jwks: dict[str, Any], key: SigningKey
) -> None:
    verified = verify_transcript(token, jwks, now=NOW + timedelta(days=1))
    claims = verified.claims
    assert verified.valid and verified.kid == key.kid and verified.key_agency == OWNER
    assert claims.fields == household_claims().fields
    assert (claims.issuer, claims.subject, claims.case_id) == (
        OWNER,
        "A123456789",
        "TPE-2025-000123",
    )
    assert claims.issued_at == NOW and claims.expires_at == NOW + timedelta(days=30)
    assert verified.header == {"alg": "EdDSA", "kid": key.kid, "typ": TYP}
    assert verified.payload["purpose"] == {
        "application_item": "public_housing_rental",
        "legal_basis": "housing_act_art_22",
    }
    assert verified.payload["requester"] == {
        "agency": "taipei-city.urban_development",
        "badge": "B00042",
    }


def test_signed_predicate_answer_carries_no_raw_values(
    key: SigningKey, jwks: dict[str, Any]
) -> None:
    token = sign_transcript(key, income_claims())
    verified = verify_transcript(token, jwks, now=NOW)
    assert "fields" not in verified.payload
    assert verified.payload["predicate"] == {
        "code": "avg_monthly_income_below",
        "params": {"threshold": 19013},
        "answer": True,
        "as_of": "113 年度綜合所得稅",
    }


def test_signing_refuses_inconsistent_requests(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="either fields or a predicate"):
        sign_transcript(key, household_claims(fields=None))
    with pytest.raises(ValueError, match="belongs to"):
        sign_transcript(key, household_claims(issuer="central.fia_income"))


# --- each reason a token is refused ---------------------------------------------------------


def test_changed_payload_is_a_bad_signature(token: str, jwks: dict[str, Any]) -> None:
    header, payload, signature = token.split(".")
    changed = unb64(payload).replace("王小明".encode(), "王大明".encode())
    assert reason_code(f"{header}.{b64(changed)}.{signature}", jwks) == "bad_signature"


def test_changed_signature_is_a_bad_signature(token: str, jwks: dict[str, Any]) -> None:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01
    assert reason_code(f"{header}.{payload}.{b64(bytes(raw))}", jwks) == "bad_signature"


def test_key_not_published_is_unknown(token: str) -> None:
    assert reason_code(token, {"keys": []}) == "unknown_key"
    stranger = OKPKey.generate_key("Ed25519").as_dict(private=False)
    assert reason_code(token, {"keys": [stranger]}) == "unknown_key"


def test_expiry_and_future_issue_are_checked_against_now(token: str, jwks: dict[str, Any]) -> None:
    expires = NOW + timedelta(days=30)
    assert verify_transcript(token, jwks, now=expires - timedelta(minutes=1)).valid
    assert reason_code(token, jwks, now=expires + timedelta(minutes=2)) == "expired"
    assert reason_code(token, jwks, now=NOW - timedelta(hours=1)) == "not_yet_valid"


def test_unsigned_alg_none_token_is_refused(
    token: str, jwks: dict[str, Any], key: SigningKey
) -> None:
    _header, payload, _signature = token.split(".")
    header = b64(json.dumps({"alg": "none", "kid": key.kid, "typ": TYP}).encode())
    assert reason_code(f"{header}.{payload}.", jwks) == "wrong_algorithm"


def test_hmac_signed_with_the_public_key_is_refused(
    token: str, jwks: dict[str, Any], key: SigningKey
) -> None:
    """Algorithm confusion: HS256 keyed with the published x must not pass as EdDSA."""
    payload = unb64(token.split(".")[1])
    secret = OctKey.import_key(key.public_jwk["x"].encode())
    forged = jws.serialize_compact(
        {"alg": "HS256", "kid": key.kid, "typ": TYP}, payload, secret, ["HS256"]
    )
    assert reason_code(forged, jwks) == "wrong_algorithm"


def test_key_of_another_agency_cannot_issue_in_this_agencys_name(
    key_settings: Settings,  # noqa: F811
    key_sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    with transaction(key_sessions) as session:
        other = ensure_key(session, key_settings, "kaohsiung-city.household_office")
        ensure_key(session, key_settings, OWNER)
        jwks = published_jwks(session)
    payload = household_claims().to_payload(NOW, 30)
    forged = jws.serialize_compact(
        {"alg": "EdDSA", "kid": other.kid, "typ": TYP},
        json.dumps(payload).encode(),
        other.private_key(),
        ["EdDSA"],
    )
    assert reason_code(forged, jwks) == "wrong_issuer"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "not a token",
        lambda t: ".".join(t.split(".")[:2]),
        lambda t: t + "=",
        lambda t: t.split(".")[0] + ".e30." + t.split(".")[2],
        lambda t: b64(b'{"alg":"EdDSA"}') + "." + ".".join(t.split(".")[1:]),
    ],
    ids=["garbage", "two-parts", "padding", "empty-claims", "no-typ"],
)
def test_malformed_tokens(token: str, jwks: dict[str, Any], mangle: Any) -> None:
    assert reason_code(mangle(token), jwks) == "malformed"


def test_reasons_are_given_in_both_languages(token: str) -> None:
    with pytest.raises(TranscriptInvalid) as caught:
        verify_transcript(token, {"keys": []}, now=NOW)
    assert "不在公布的金鑰清單" in caught.value.reason_zh
    assert "not among the published keys" in caught.value.reason_en


@given(data=st.data())
def test_any_single_character_change_in_payload_or_signature_fails(
    data: st.DataObject, signed_once: tuple[str, dict[str, Any]]
) -> None:
    token, jwks = signed_once
    header, payload, signature = token.split(".")
    part = data.draw(st.sampled_from(["payload", "signature"]))
    segment = payload if part == "payload" else signature
    position = data.draw(st.integers(0, len(segment) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != segment[position]))
    changed = segment[:position] + replacement + segment[position + 1 :]
    tampered = (
        f"{header}.{changed}.{signature}" if part == "payload" else f"{header}.{payload}.{changed}"
    )
    try:
        result = inspect_transcript(tampered, jwks, now=NOW)
    except TranscriptInvalid:
        return
    assert not result.valid


@pytest.fixture(scope="module")
def signed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One key and token for the property test (Hypothesis reruns the test body, not fixtures)."""
    from onceonly.db import make_engine, make_session_factory
    from onceonly.exchange.keys import SigningKeyRecord
    from onceonly.models import Base

    directory = tmp_path_factory.mktemp("property")
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'k.sqlite'}")
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    Base.metadata.create_all(engine, tables=[SigningKeyRecord.__table__])
    with transaction(make_session_factory(engine)) as session:
        signing_key = ensure_key(session, settings, OWNER)
        jwks = published_jwks(session)
    engine.dispose()
    return sign_transcript(signing_key, household_claims()), jwks


# --- rotation ----------------------------------------------------------------------------


def test_old_transcripts_still_verify_after_rotation(
    key_settings: Settings,  # noqa: F811
    key_sessions: sessionmaker[Session],  # noqa: F811
    key: SigningKey,
    token: str,
) -> None:
    with transaction(key_sessions) as session:
        new_key = rotate_key(session, key_settings, OWNER)
        jwks = published_jwks(session)
    new_token = sign_transcript(new_key, household_claims(request_id="req-0002"))
    assert verify_transcript(token, jwks, now=NOW).kid == key.kid
    assert verify_transcript(new_token, jwks, now=NOW).kid == new_key.kid != key.kid
    with pytest.raises(ValueError, match="retired"):
        sign_transcript(dataclasses.replace(key, status="retired"), household_claims())


# --- for people: the page and the command line ----------------------------------------------


def test_printable_page_shows_labels_status_and_the_answer_as_a_sentence(
    key: SigningKey, jwks: dict[str, Any]
) -> None:
    verified = verify_transcript(sign_transcript(key, income_claims()), jwks, now=NOW)
    page = render_transcript_html(verified)
    assert "家戶平均每人每月所得低於 19,013 元：是" in page
    assert "Average monthly income per person below NT$19,013: yes" in page
    assert "有效" in page and "@media print" in page
    assert "A12345****" in page and "A123456789" not in page

    record_page = render_transcript_html(
        verify_transcript(sign_transcript(key, household_claims()), jwks, now=NOW)
    )
    assert "姓名" in record_page and "王小明" in record_page and "內政部戶政司" in record_page
    assert "王大明" in record_page


def test_printable_page_of_an_invalid_transcript_says_why(token: str) -> None:
    page = render_transcript_html(inspect_transcript(token, {"keys": []}, now=NOW))
    assert "無效" in page and "not among the published keys" in page


@pytest.fixture
def files(tmp_path: Path, key: SigningKey, jwks: dict[str, Any]) -> tuple[Path, Path]:
    """A transcript issued just now and the keys to check it, as files."""
    transcript = tmp_path / "transcript.jws"
    transcript.write_text(sign_transcript(key, household_claims(issued_at=None)) + "\n", "utf-8")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks), "utf-8")
    return transcript, keys


def test_cli_verify_prints_what_is_attested_and_valid(files: tuple[Path, Path]) -> None:
    transcript, keys = files
    result = CliRunner().invoke(cli, ["transcript", "verify", str(transcript), "--jwks", str(keys)])
    assert result.exit_code == 0, result.output
    for expected in (
        "內政部戶政司",
        "A12345****",
        "王小明",
        "public_housing_rental",
        "有效 / valid",
        "（臺北時間）",
    ):
        assert expected in result.output
    assert "A123456789" not in result.output and "+00:00" not in result.output


def test_cli_verify_fails_with_the_exact_reason(files: tuple[Path, Path]) -> None:
    transcript, keys = files
    header, payload, signature = transcript.read_text("utf-8").strip().split(".")
    changed = unb64(payload).replace("王小明".encode(), "王大明".encode())
    transcript.write_text(f"{header}.{b64(changed)}.{signature}", "utf-8")
    result = CliRunner().invoke(cli, ["transcript", "verify", str(transcript), "--jwks", str(keys)])
    assert result.exit_code == 1
    assert "無效 / INVALID" in result.output and "簽章不符" in result.output
    assert "the content was changed after signing" in " ".join(result.output.split())
    assert "bad_signature" not in result.output  # words, not the verifier's code
    for claimed in ("王大明", "內政部戶政司", "A12345****"):  # nothing the altered file says
        assert claimed not in result.output
    shown = CliRunner().invoke(cli, ["transcript", "show", str(transcript), "--jwks", str(keys)])
    assert shown.exit_code == 1 and "王大明" not in shown.output and "無效" in shown.output


def test_cli_verify_malformed_file_fails(files: tuple[Path, Path]) -> None:
    transcript, keys = files
    transcript.write_text("hello", "utf-8")
    result = CliRunner().invoke(cli, ["transcript", "verify", str(transcript), "--jwks", str(keys)])
    assert result.exit_code == 1
    assert "Malformed: this is not an onceonly transcript" in result.output


@pytest.fixture
def jwks_url(files: tuple[Path, Path]) -> Iterator[str]:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(files[1].parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{files[1].name}"
    server.shutdown()
    server.server_close()


def test_cli_verify_fetches_keys_from_a_url(files: tuple[Path, Path], jwks_url: str) -> None:
    result = CliRunner().invoke(cli, ["transcript", "verify", str(files[0]), "--jwks", jwks_url])
    assert result.exit_code == 0, result.output


def test_cli_verify_uses_this_nodes_keys_by_default(
    files: tuple[Path, Path],
    key_settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(key_settings.data_dir))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", key_settings.resolved_database_url)
    result = CliRunner().invoke(cli, ["transcript", "verify", str(files[0])])
    assert result.exit_code == 0, result.output


def test_cli_show_renders_a_table_and_writes_html(files: tuple[Path, Path], tmp_path: Path) -> None:
    transcript, keys = files
    html = tmp_path / "transcript.html"
    result = CliRunner().invoke(
        cli,
        ["transcript", "show", str(transcript), "--jwks", str(keys), "--html", str(html)],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "姓名" in result.output and "王小明" in result.output
    assert "王小明" in html.read_text("utf-8")


def test_a_peers_answer_is_what_its_signed_transcripts_say(
    key: SigningKey, jwks: dict[str, Any]
) -> None:
    """Found by an attacker's review: another node or an owner's gateway had every transcript
    checked for who signed it, for which request and citizen, but not for which question,
    and its unsigned "answer" beside the transcripts was the one taken; an "issued" answer
    needed no transcript at all."""
    from onceonly.exchange.schemas import EvidenceAsk
    from onceonly.federation.peer_http import PeerResponse
    from onceonly.federation.remote import AnswerRefused, checked_answer

    claims = dataclasses.replace(income_claims(), request_id="r-1", issued_at=None)
    signed = sign_transcript(key, claims, valid_days=30)
    asked = EvidenceAsk(type="avg_monthly_income_below", params={"threshold": 19013})

    def answer(*, says: bool, transcripts: list[str], ask: EvidenceAsk = asked) -> Any:
        result = {
            "evidence_type": ask.type, "dataset": "income", "predicate": ask.type,
            "status": "issued", "reason": {"zh-TW": "核發", "en": "issued"}, "answer": says,
            "transcripts": [{"owner": OWNER, "kid": key.kid, "jws": t,
                             "expires_at": "2030-01-01T00:00:00+00:00"} for t in transcripts],
        }  # fmt: skip
        response = PeerResponse(200, json.dumps({"result": result}).encode())
        return checked_answer(response, jwks=jwks, issuers={OWNER}, holder="gw",
                              request_id="r-1", subject="A123456789", ask=ask,
                              dataset="income")  # fmt: skip

    assert answer(says=True, transcripts=[signed]).answer is True
    # the transcript says "yes"; a peer saying "no" beside it is not believed, nor the reverse
    no = dataclasses.replace(claims, predicate={**claims.predicate, "answer": False})  # type: ignore[dict-item]
    assert answer(says=True, transcripts=[sign_transcript(key, no, valid_days=30)]).answer is False
    for wrong in (
        EvidenceAsk(type="avg_monthly_income_below", params={"threshold": 25000}),
        EvidenceAsk(type="household_income_below", params={"threshold": 19013}),
    ):
        with pytest.raises(AnswerRefused) as other:
            answer(says=True, transcripts=[signed], ask=wrong)
        assert "another question" in str(other.value.details["detail"])
    with pytest.raises(AnswerRefused) as unsigned:
        answer(says=True, transcripts=[])
    assert "carries no transcript" in str(unsigned.value.details["detail"])
