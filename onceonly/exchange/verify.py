"""The public verification page of transcripts (謄本查驗), where a PDF transcript's QR code leads.

Anyone holding a transcript, without signing in, can learn whether this node made it and who
issued it when (by its id and the fingerprint the QR code carries), or upload the PDF or the
JWS file to have its signature checked. Nothing personal is ever shown: no subject, no field
values; only the issuing agency, the dataset's name, times, ids and keys, and those only of a
transcript found valid. Of an invalid or unverifiable one the page says that it is not valid
and why, in words of its own, and nothing the file claims: a forger could otherwise have a
real agency's name, a dataset and times shown beside the verdict (and an unknown key's id or
an algorithm's name is text the forger wrote, too).

There is no rate limiting in the application itself (none of the public pages has any); a
deployment limits requests at its reverse proxy (see docs/deploy).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from onceonly.catalog import service as catalog
from onceonly.errors import not_found
from onceonly.exchange import certificates, keys, pdf
from onceonly.exchange.transcript import (
    ERROR_CODES,
    TranscriptInvalid,
    display_text,
    inspect_transcript,
)
from onceonly.i18n import t
from onceonly.web.deps import Db, get_language, get_session_factory
from onceonly.web.templating import render

router = APIRouter(include_in_schema=False)

MAX_UPLOAD_BYTES = 512 * 1024
"""A PDF transcript is some 20 KB; anything far larger is not one."""


@dataclass(frozen=True)
class Outcome:
    """What the page says about a checked file: valid or not, why, and who issued it. The
    issuer, dataset, times, id and key are filled in only when ``valid``."""

    valid: bool
    reason: str
    issuer: str = ""
    dataset: str = ""
    jti: str = ""
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    kid: str = ""


def _name(db: Session, code: str, lang: str) -> str:
    agency = catalog.get_agency(db, code)
    if agency is None:
        return code
    return agency.name_en if lang == "en" else agency.name_zh


def _page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("found", None)
    context.setdefault("outcome", None)
    context.setdefault("form", {})
    context.setdefault("error", "")
    # times in the page's language: ``render``'s ``when``, not the PDF's Chinese-only one
    return render(request, "exchange/verify.html", status, **context)


@router.get("/verify", response_class=HTMLResponse)
def verify_home(request: Request, db: Db, jti: str = "", h: str = "") -> HTMLResponse:
    """The page's forms; with ``jti`` (the look-up form), the look-up's answer."""
    if jti.strip():
        return verify_by_id(request, jti, db, h)
    return _page(request)


@router.get("/verify/transcripts/{jti}", response_class=HTMLResponse)
def verify_by_id(request: Request, jti: str, db: Db, h: str = "") -> HTMLResponse:
    """Where the QR code leads: the id and the first digits of the JWS's SHA-256."""
    lang = get_language(request)
    found = pdf.look_up(db, jti.strip()[:64], h)
    if found is None:
        return _page(request, 404, form={"jti": jti, "h": h}, error=t("verify.not_found", lang))
    record = next(
        (
            k
            for k in keys.list_keys(db, request.app.state.settings, found.issuer)
            if k.kid == found.pdf_kid
        ),
        None,
    )
    return _page(
        request,
        found=found,
        issuer_name=_name(db, found.issuer, lang),
        dataset_name=_dataset_name(db, found.dataset, lang),
        key_status=record.status if record else "",
        form={"jti": jti, "h": h},
    )


def _dataset_name(db: Session, code: str, lang: str) -> str:
    dataset = catalog.get_dataset(db, code)
    if dataset is None:
        return code
    return dataset.name_en if lang == "en" else dataset.name_zh


@router.get("/verify/certificates/{kid}")
def certificate(request: Request, kid: str, db: Db) -> Response:
    """The certificates of a published key's PDF seal (seal certificate first, then the
    key's self-issued one that issued it), once a PDF was signed with them."""
    lang = get_language(request)
    record = db.get(keys.SigningKeyRecord, kid)
    cert = None
    if record is not None:
        view = next(
            (
                k
                for k in keys.list_keys(db, request.app.state.settings, record.agency_code)
                if k.kid == kid
            ),
            None,
        )
        cert = certificates.stored_certificate(view) if view else None
        seal = certificates.stored_seal_certificate(view) if view else None
    if cert is None:
        raise not_found(t("verify.no_certificate", lang), lang)
    chain = [c for c in (seal, cert) if c is not None and (c is cert or c.issuer == cert.subject)]
    return Response(
        b"".join(certificates.certificate_pem(c) for c in chain),
        media_type="application/pem-certificate-chain",
        headers=dict(pdf.attachment_headers(f"{kid}.crt")),
    )


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload(
    request: Request, file: Annotated[UploadFile | None, File()] = None
) -> HTMLResponse:
    """Check an uploaded PDF transcript (its PAdES signature and the JWS inside) or a JWS."""
    lang = get_language(request)
    data = await file.read(MAX_UPLOAD_BYTES + 1) if file is not None else b""
    if not data:
        return _page(request, 422, error=t("verify.upload.missing", lang))
    if len(data) > MAX_UPLOAD_BYTES:
        return _page(
            request, 413, error=t("verify.upload.too_large", lang, kb=MAX_UPLOAD_BYTES // 1024)
        )

    def check() -> Outcome:
        with get_session_factory(request)() as db:
            return check_file(db, data, lang)

    return _page(request, outcome=await run_in_threadpool(check))


INVALID_REASONS = frozenset(ERROR_CODES)
"""The problems :mod:`onceonly.exchange.transcript` names; each has a ``verify.invalid.*``
message that quotes nothing from the file (its own messages quote the kid, the algorithm or
the claimed issuer, all written by whoever made the file)."""


def _invalid(problem: TranscriptInvalid, lang: str) -> Outcome:
    """An invalid transcript's verdict: why, in words, and no claim of its content."""
    code = problem.code if problem.code in INVALID_REASONS else "malformed"
    return Outcome(False, t(f"verify.invalid.{code}", lang))


def _jws_outcome(db: Session, token: str, lang: str) -> Outcome:
    try:
        verified = inspect_transcript(token, keys.published_jwks(db))
    except TranscriptInvalid as error:
        return _invalid(error, lang)
    if verified.problem is not None:
        return _invalid(verified.problem, lang)
    claims = verified.claims
    return Outcome(
        valid=True,
        reason=t("verify.valid", lang),
        issuer=display_text(claims, "issuer", lang),
        dataset=display_text(claims, "dataset", lang),
        jti=claims.jti or "",
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        kid=verified.kid,
    )


def check_file(db: Session, data: bytes, lang: str) -> Outcome:
    """The verdict on an uploaded file: a PDF transcript or a compact JWS."""
    if data.lstrip()[:5] != b"%PDF-":
        try:
            token = data.decode("ascii").strip()
        except UnicodeDecodeError:
            return Outcome(False, t("verify.upload.not_a_transcript", lang))
        return _jws_outcome(db, token, lang)
    return _pdf_outcome(db, data, lang)


def _pdf_outcome(db: Session, data: bytes, lang: str) -> Outcome:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # an untrusted file: any parser failure means "not a transcript"
        return Outcome(False, t("verify.upload.unreadable", lang))
    try:
        token = _embedded_jws(reader)
    except Exception:  # no attachment tree, or a damaged one: no transcript inside
        token = None
    if not signatures:
        return Outcome(False, t("verify.pdf.unsigned", lang))
    if token is None:
        return Outcome(False, t("verify.pdf.no_jws", lang))
    signature = signatures[-1]
    owner = _owner_certificate(signature)
    if owner is None:
        return Outcome(False, t("verify.pdf.unknown_key", lang))
    try:
        raw = owner.public_key["public_key"].native
        kid = keys.install_kid(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
            }
        )
    except (KeyError, ValueError, TypeError):
        return Outcome(False, t("verify.pdf.unknown_key", lang))
    record = db.get(keys.SigningKeyRecord, kid)
    if record is None:
        return Outcome(False, t("verify.pdf.unknown_key", lang))
    try:
        status = pdf.run_to_end(
            async_validate_pdf_signature(
                signature, ValidationContext(trust_roots=[owner], allow_fetching=False)
            )
        )
        intact = (
            bool(status.bottom_line)
            and status.coverage is not None
            and (status.coverage.name == "ENTIRE_FILE")
        )
    except Exception:  # a damaged signature structure is a failed check, not a server error
        intact = False
    if not intact:
        return Outcome(False, t("verify.pdf.bad_signature", lang))
    outcome = _jws_outcome(db, token, lang)
    if outcome.valid and record.agency_code != _issuer_code(token):
        return Outcome(False, t("verify.pdf.other_agency", lang))
    return outcome


def _owner_certificate(signature: Any) -> Any:
    """The owner key's (Ed25519) certificate the PDF's seal chains to: the certificate in the
    signature that issued the seal certificate, checked by its signature; or the signer's
    own when the owner key signed the PDF directly (as PDFs made before seal keys were)."""
    cert = signature.signer_cert
    try:
        if cert.public_key.algorithm == "ed25519":
            return cert
        for choice in signature.signed_data["certificates"]:
            candidate = choice.chosen
            if certificates.issued_by(cert, candidate):
                return candidate
    except Exception:  # a damaged certificate set is no chain
        return None
    return None


def _issuer_code(token: str) -> str:
    import json

    segment = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return str(payload.get("iss", ""))


def pdf_transcript_jws(data: bytes) -> str | None:
    """The JWS a PDF transcript carries, or ``None`` when the file holds none (not a PDF this
    platform made, or a damaged one): what an offline check verifies, the owner's signature
    being on it."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        return _embedded_jws(PdfFileReader(io.BytesIO(data), strict=False))
    except Exception:  # an untrusted file: any parser failure means "no transcript inside"
        return None


def _embedded_jws(reader: Any) -> str | None:
    """The JWS attached to a PDF transcript (its ``/EmbeddedFiles`` name tree's first leaf)."""
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    for position in range(1, len(names), 2):
        spec = names[position].get_object()
        stream = spec["/EF"]["/F"].get_object()
        text = stream.data.decode("ascii").strip()
        if text.count(".") == 2:
            return text
    return None
