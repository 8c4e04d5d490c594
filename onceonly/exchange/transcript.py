"""Signed electronic transcripts (電子謄本): evidence anyone can verify offline.

A transcript is a compact JWS signed by the owning agency's Ed25519 key (alg ``EdDSA``,
header ``kid`` and ``typ`` :data:`TYP`). Its payload holds either the minimised record
(``fields``) or a predicate answer (``predicate``: code, params, yes/no, as of when), the
purpose it was released for, who asked, and when it stops being valid.

Verification needs only the published JWK Set (``/.well-known/jwks.json``, or a saved copy).
It reports exactly why a token is refused (:class:`TranscriptInvalid`): ``malformed``,
``wrong_algorithm`` (anything but EdDSA, so ``none`` and HMAC confusion are refused before a
key is even looked up), ``unknown_key``, ``bad_signature``, ``wrong_issuer`` (signed by one
agency's key but claiming another agency issued it), ``expired`` or ``not_yet_valid``.

The optional ``display`` claim carries the names people read (issuer, dataset, field labels,
the predicate as a sentence) in both languages, so a printed or offline rendering needs no
catalogue; it is signed like everything else.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from onceonly.exchange.keys import ALGORITHM, CURVE, SigningKey
from onceonly.i18n import LANGUAGES, t

TYP = "onceonly-transcript+jwt"
LEEWAY = timedelta(seconds=60)
"""Clock difference tolerated between the issuing node and the verifier."""
DEFAULT_VALID_DAYS = 30

# RFC 9864 prefers the fully specified "Ed25519"; "EdDSA" is what verifiers support today.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
ERROR_CODES = (
    "malformed",
    "wrong_algorithm",
    "unknown_key",
    "bad_signature",
    "wrong_issuer",
    "expired",
    "not_yet_valid",
)


class TranscriptInvalid(Exception):
    """A transcript that must not be relied on, and exactly why."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.reason_zh = t(f"transcript.invalid.{code}", "zh-TW", **params)
        self.reason_en = t(f"transcript.invalid.{code}", "en", **params)
        super().__init__(f"{code}: {self.reason_en}")

    def reason(self, lang: str | None = None) -> str:
        return self.reason_en if lang == "en" else self.reason_zh


@dataclass(frozen=True, kw_only=True)
class TranscriptClaims:
    """What the owner attests. Exactly one of ``fields`` and ``predicate`` is set.

    ``predicate`` is ``{"code", "params", "answer", "as_of"}``. Times default at signing:
    issued now, valid for ``valid_days``.
    """

    issuer: str
    subject: str
    dataset: str
    application_item: str
    legal_basis: str
    request_id: str
    requester_agency: str
    requester_badge: str
    case_id: str | None = None
    fields: Mapping[str, Any] | None = None
    predicate: Mapping[str, Any] | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    jti: str | None = None
    display: Mapping[str, Any] | None = None

    def to_payload(self, now: datetime, valid_days: int) -> dict[str, Any]:
        if (self.fields is None) == (self.predicate is None):
            raise ValueError("a transcript holds either fields or a predicate answer")
        issued = _seconds(self.issued_at or now)
        expires = _seconds(self.expires_at) if self.expires_at else issued + valid_days * 86400
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "dataset": self.dataset,
            "purpose": {
                "application_item": self.application_item,
                "legal_basis": self.legal_basis,
            },
            "case_id": self.case_id,
            "request_id": self.request_id,
            "requester": {"agency": self.requester_agency, "badge": self.requester_badge},
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "jti": self.jti or uuid.uuid4().hex,
        }
        if self.fields is not None:
            payload["fields"] = dict(self.fields)
        else:
            predicate = dict(self.predicate or {})
            payload["predicate"] = {
                "code": predicate["code"],
                "params": dict(predicate.get("params") or {}),
                "answer": bool(predicate["answer"]),
                "as_of": predicate.get("as_of") or "",
            }
            if predicate.get("detail"):
                payload["predicate"]["detail"] = dict(predicate["detail"])
        if self.display:
            payload["display"] = dict(self.display)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> TranscriptClaims:
        """Raises ``ValueError`` naming the first claim that is missing or of the wrong type."""
        purpose = _member(payload, "purpose", dict)
        requester = _member(payload, "requester", dict)
        fields = payload.get("fields")
        predicate = payload.get("predicate")
        if (fields is None) == (predicate is None):
            raise ValueError("needs exactly one of fields and predicate")
        if fields is not None and not isinstance(fields, dict):
            raise ValueError("fields is not an object")
        if predicate is not None:
            if not isinstance(predicate, dict):
                raise ValueError("predicate is not an object")
            _member(predicate, "code", str)
            _member(predicate, "answer", bool)
            if "detail" in predicate and not isinstance(predicate["detail"], dict):
                raise ValueError("predicate.detail is not an object")
        display = payload.get("display")
        if display is not None and not isinstance(display, dict):
            raise ValueError("display is not an object")
        case_id = payload.get("case_id")
        if case_id is not None and not isinstance(case_id, str):
            raise ValueError("case_id is not a string")
        return cls(
            issuer=_member(payload, "iss", str),
            subject=_member(payload, "sub", str),
            dataset=_member(payload, "dataset", str),
            application_item=_member(purpose, "application_item", str),
            legal_basis=_member(purpose, "legal_basis", str),
            request_id=_member(payload, "request_id", str),
            requester_agency=_member(requester, "agency", str),
            requester_badge=_member(requester, "badge", str),
            case_id=case_id,
            fields=fields,
            predicate=predicate,
            issued_at=_from_seconds(_member(payload, "iat", int)),
            expires_at=_from_seconds(_member(payload, "exp", int)),
            jti=_member(payload, "jti", str),
            display=display,
        )


def _member(mapping: Mapping[str, Any], name: str, kind: type) -> Any:
    value = mapping.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"claim {name!r} is missing or not a {kind.__name__}")
    return value


def _seconds(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _from_seconds(value: int) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ValueError(f"time {value} is out of range") from error


@dataclass(frozen=True)
class VerifiedTranscript:
    """A decoded transcript; ``problem`` is ``None`` when it is valid."""

    token: str
    header: dict[str, Any]
    payload: dict[str, Any]
    claims: TranscriptClaims
    key_agency: str | None = None
    problem: TranscriptInvalid | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def kid(self) -> str:
        return str(self.header.get("kid", ""))


def sign_transcript(
    key: SigningKey,
    claims: TranscriptClaims,
    *,
    valid_days: int = DEFAULT_VALID_DAYS,
    now: datetime | None = None,
) -> str:
    """The compact JWS of ``claims``, signed with ``key`` (the issuer's active key)."""
    if claims.issuer != key.agency_code:
        raise ValueError(f"key {key.kid} belongs to {key.agency_code}, not {claims.issuer}")
    if not key.active:
        raise ValueError(f"key {key.kid} is retired; it only verifies what it signed before")
    payload = claims.to_payload(now or datetime.now(UTC), valid_days)
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TYP}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}.{_b64(body)}"
    # RFC 7515 compact form, signed through the key (a file or a PKCS#11 token alike)
    return f"{signing_input}.{_b64(key.sign(signing_input.encode('ascii')))}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_segment(segment: str, name: str) -> bytes:
    """Strict base64url: no padding, no stray characters, and only the canonical spelling
    (a changed unused bit in the last character is a changed token, not the same one)."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise TranscriptInvalid("malformed", detail=f"{name}: not base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise TranscriptInvalid("malformed", detail=f"{name}: not canonical base64url")
    return data


def _decode_json(segment: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode_segment(segment, name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TranscriptInvalid("malformed", detail=f"{name}: {error}") from error
    if not isinstance(value, dict):
        raise TranscriptInvalid("malformed", detail=f"{name}: not a JSON object")
    return value


def _find_key(jwks: Mapping[str, Any], kid: str) -> dict[str, Any] | None:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for member in keys if isinstance(keys, list) else []:
        if isinstance(member, dict) and member.get("kid") == kid:
            return member
    return None


@functools.lru_cache(maxsize=256)
def _public_key(x: str) -> OKPKey:
    """An owner's Ed25519 key by its public value: every transcript a node receives is
    checked against one of a few keys, and importing one costs more than the check."""
    return OKPKey.import_key({"kty": "OKP", "crv": CURVE, "x": x})


def _check_signature(token: str, jwk: dict[str, Any]) -> None:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != CURVE or jwk.get("alg", ALGORITHM) != ALGORITHM:
        raise TranscriptInvalid("unknown_key", kid=jwk.get("kid", ""))
    try:
        jws.deserialize_compact(token, _public_key(jwk["x"]), [ALGORITHM])
    except BadSignatureError as error:
        raise TranscriptInvalid("bad_signature") from error
    except (JoseError, ValueError, KeyError) as error:
        raise TranscriptInvalid("bad_signature") from error


def inspect_transcript(
    token: str, jwks: Mapping[str, Any], now: datetime | None = None
) -> VerifiedTranscript:
    """Decode and check ``token``; the result names the problem instead of raising, so an
    invalid transcript can still be shown (clearly marked). Raises :class:`TranscriptInvalid`
    only when there is nothing to show (``malformed``)."""
    segments = token.strip().split(".")
    if len(segments) != 3:
        raise TranscriptInvalid("malformed", detail="a compact JWS has three parts")
    header = _decode_json(segments[0], "header")
    _decode_segment(segments[2], "signature")
    if header.get("alg") != ALGORITHM:
        algorithm = str(header.get("alg", "(none)"))
        raise TranscriptInvalid("wrong_algorithm", alg=algorithm)
    if header.get("typ") != TYP or "crit" in header:
        raise TranscriptInvalid("malformed", detail=f"header typ must be {TYP}")
    payload = _decode_json(segments[1], "payload")
    try:
        claims = TranscriptClaims.from_payload(payload)
    except ValueError as error:
        raise TranscriptInvalid("malformed", detail=str(error)) from error

    def result(problem: TranscriptInvalid | None, agency: str | None = None) -> VerifiedTranscript:
        return VerifiedTranscript(token.strip(), header, payload, claims, agency, problem)

    kid = header.get("kid")
    jwk = _find_key(jwks, kid) if isinstance(kid, str) else None
    if jwk is None:
        return result(TranscriptInvalid("unknown_key", kid=kid or "(none)"))
    agency = jwk.get("agency") if isinstance(jwk.get("agency"), str) else None
    try:
        _check_signature(token.strip(), jwk)
    except TranscriptInvalid as problem:
        return result(problem, agency)
    if agency is not None and agency != claims.issuer:
        return result(
            TranscriptInvalid("wrong_issuer", issuer=claims.issuer, agency=agency), agency
        )
    moment = now or datetime.now(UTC)
    assert claims.expires_at is not None and claims.issued_at is not None
    not_before = _from_seconds(payload["nbf"]) if isinstance(payload.get("nbf"), int) else None
    if moment > claims.expires_at + LEEWAY:
        return result(TranscriptInvalid("expired", at=claims.expires_at.isoformat()), agency)
    if moment + LEEWAY < max(claims.issued_at, not_before or claims.issued_at):
        return result(TranscriptInvalid("not_yet_valid", at=claims.issued_at.isoformat()), agency)
    return result(None, agency)


def verify_transcript(
    token: str, jwks: Mapping[str, Any], now: datetime | None = None
) -> VerifiedTranscript:
    """The transcript if it is valid at ``now`` under the published keys ``jwks``; otherwise
    raises :class:`TranscriptInvalid` with the exact reason."""
    verified = inspect_transcript(token, jwks, now)
    if verified.problem is not None:
        raise verified.problem
    return verified


def display_text(claims: TranscriptClaims, part: str, lang: str, name: str | None = None) -> str:
    """A signed display name (``issuer``, ``dataset``, ``fields``/<name>) or the code."""
    display = claims.display or {}
    entry = display.get(part)
    if name is not None:
        entry = entry.get(name) if isinstance(entry, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get(lang), str):
        return str(entry[lang])
    fallback = {"issuer": claims.issuer, "dataset": claims.dataset}.get(part, name or part)
    return str(fallback)


def predicate_sentence(claims: TranscriptClaims, lang: str) -> str:
    """The predicate and its answer as one plain sentence, e.g.
    「家戶平均每人每月所得低於 19,013 元：是」."""
    predicate = claims.predicate or {}
    question = (claims.display or {}).get("predicate")
    if isinstance(question, dict) and isinstance(question.get(lang), str):
        text = question[lang]
    else:
        params = ", ".join(f"{k}={v}" for k, v in sorted((predicate.get("params") or {}).items()))
        text = t(
            "transcript.predicate.generic", lang, code=predicate.get("code", ""), params=params
        )
    answer = t("transcript.answer.yes" if predicate.get("answer") else "transcript.answer.no", lang)
    return t("transcript.predicate.sentence", lang, question=text, answer=answer)


def format_value(value: Any, lang: str) -> str:
    """A field value as one line of text (nested records joined, yes/no spelled out)."""
    if isinstance(value, bool):
        return t("transcript.answer.yes" if value else "transcript.answer.no", lang)
    if value is None:
        return "—"
    if isinstance(value, dict):
        return "，".join(f"{k}: {format_value(v, lang)}" for k, v in value.items())
    if isinstance(value, list):
        return "；".join(format_value(item, lang) for item in value)
    return str(value)


def render_transcript_html(verified: VerifiedTranscript) -> str:
    """A printable, bilingual page for people: issuer, subject (masked), purpose, the fields as
    a labelled table or the predicate as a sentence, validity, and the signature status."""
    from onceonly.domain.subjects import shown
    from onceonly.web.templating import templates

    claims = verified.claims
    template = templates.env.get_template("exchange/transcript.html")
    return template.render(
        v=verified,
        claims=claims,
        languages=LANGUAGES,
        subject_masked=shown(claims.subject),
        display=lambda part, lang, name=None: display_text(claims, part, lang, name),
        sentence=lambda lang: predicate_sentence(claims, lang),
        value=format_value,
    )
