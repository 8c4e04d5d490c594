"""PDF transcripts (PDF 電子謄本): the signed JWS laid out like the paper 謄本, signed with PAdES.

The land offices' 電子謄本 are PDFs people keep, print and forward. This module renders a
verified transcript as an A4 page (title, issuing agency, subject masked, each field's label
in words with its value, issue time in Taipei time, request id, a QR code to the public
verification page), attaches the original JWS inside the file, and signs the whole with
PAdES (pyHanko, ``ETSI.CAdES.detached``) by the owner's seal key.

**Why a seal key.** The JWS is signed with the owner's Ed25519 key, but the PDF readers
people open it with (Adobe, poppler/Evince/Okular, pdf.js) do not check Ed25519 in CMS and
call such a file unsigned. So each owner key has an ECDSA P-256 *seal key* beside it (a key
file ``<kid>.seal.pem``, or in the same PKCS#11 token), certified by the Ed25519 key.

**Trust chain, honestly.** The owner key gets a *self-issued* certificate (subject = issuer =
the agency, public key = the published JWK, so its thumbprint is the ``kid``), and it issues
the seal key's certificate (:mod:`onceonly.exchange.certificates`). No certification
authority vouches for the chain: a reader trusts the seal because the chain ends in the key
the node publishes at ``/.well-known/jwks.json`` for that agency (the verification page says
which, and serves the chain), not because a PDF reader's trust list knows it.

Only a key this node can use signs: a key file here, or a PKCS#11 token registered for it in
this process with its seal key (:func:`onceonly.exchange.keys.register_signer`). An owner
whose key lives at its own gateway gets no PDF from this node (:class:`PdfUnavailable`); it
is never signed with another key in its name.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.db import Base, UTCDateTime, utcnow
from onceonly.domain import subjects
from onceonly.domain.roc_date import TAIWAN
from onceonly.errors import Problem
from onceonly.exchange.certificates import seal_certificate_for
from onceonly.exchange.keys import (
    CUSTODY,
    SealKey,
    SigningKey,
    active_key,
    can_seal_here,
    can_sign_here,
    seal_key,
)
from onceonly.exchange.transcript import (
    TranscriptInvalid,
    VerifiedTranscript,
    display_text,
    format_value,
    inspect_transcript,
    predicate_sentence,
)
from onceonly.i18n import t

PDF_MEDIA_TYPE = "application/pdf"
JWS_MEDIA_TYPE = "application/jose"
"""RFC 7515 §9.2.1: the media type of a JWS in compact serialisation."""
SIGNATURE_FIELD = "OwnerSignature"
_FONT = "MSung-Light"
"""Adobe's Traditional Chinese CID font: every PDF reader supplies it, nothing is embedded."""


class PdfUnavailable(Exception):
    """This node cannot make (sign) the PDF; ``code`` names why, the message says it in words."""

    def __init__(self, code: str, lang: str, **params: Any) -> None:
        self.code = code
        super().__init__(t(f"transcript.pdf.unavailable.{code}", lang, **params))


class TranscriptPdf(Base):
    """A PDF transcript this node signed: what the public verification page may say about it
    (who issued it, when, a fingerprint of its JWS), and nothing about the person."""

    __tablename__ = "transcript_pdfs"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    jws_sha256: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(120), index=True)
    dataset: Mapped[str] = mapped_column(String(80))
    transcript_kid: Mapped[str] = mapped_column(String(64))
    pdf_kid: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_made_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class IssuedPdf:
    """What the verification page shows about a registered PDF transcript."""

    jti: str
    issuer: str
    dataset: str
    transcript_kid: str
    pdf_kid: str
    issued_at: datetime
    expires_at: datetime
    first_made_at: datetime


def fingerprint(token: str) -> str:
    """SHA-256 of the compact JWS (hex): what the QR code carries to the verification page."""
    return hashlib.sha256(token.strip().encode("ascii")).hexdigest()


def verification_path(jti: str, token: str) -> str:
    """The public verification page of a transcript; the fingerprint's first 32 hex digits
    prove the visitor holds the document, so an id alone confirms nothing."""
    return f"/verify/transcripts/{jti}?h={fingerprint(token)[:32]}"


def look_up(session: Session, jti: str, fingerprint_prefix: str) -> IssuedPdf | None:
    """The registered PDF transcript ``jti`` if ``fingerprint_prefix`` (at least 16 hex
    digits) matches its JWS; ``None`` otherwise, saying nothing about which part failed."""
    row = session.get(TranscriptPdf, jti)
    prefix = fingerprint_prefix.strip().lower()
    if row is None or len(prefix) < 16 or not row.jws_sha256.startswith(prefix):
        return None
    return IssuedPdf(
        row.jti,
        row.issuer,
        row.dataset,
        row.transcript_kid,
        row.pdf_kid,
        row.issued_at,
        row.expires_at,
        row.first_made_at,
    )


def _register(session: Session, verified: VerifiedTranscript, key: SigningKey) -> None:
    claims = verified.claims
    jti = claims.jti or ""
    if session.get(TranscriptPdf, jti) is not None:
        return
    assert claims.issued_at is not None and claims.expires_at is not None
    with suppress(IntegrityError), session.begin_nested():  # a concurrent first PDF won
        session.add(
            TranscriptPdf(
                jti=jti,
                jws_sha256=fingerprint(verified.token),
                issuer=claims.issuer,
                dataset=claims.dataset,
                transcript_kid=verified.kid,
                pdf_kid=key.kid,
                issued_at=claims.issued_at,
                expires_at=claims.expires_at,
                first_made_at=utcnow(),
            )
        )


DIGEST = "sha256"
"""The digest ECDSA P-256 pairs with (the seal key signs with SHA-256)."""


class _SealSigner(signers.Signer):
    """pyHanko's signer over :attr:`SealKey.sign`: the key file or its PKCS#11 token signs,
    the private key never passes through pyHanko. The chain (seal certificate, owner key's
    certificate) rides in the signature."""

    def __init__(
        self, seal: SealKey, cert: asn1_x509.Certificate, owner: asn1_x509.Certificate
    ) -> None:
        super().__init__(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs([cert, owner]),
            embed_roots=True,
        )
        self._seal = seal

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != DIGEST:
            raise ValueError(f"the seal key signs with {DIGEST}, not {digest_algorithm}")
        if dry_run:
            return bytes(72)  # the longest DER ECDSA P-256 signature
        return self._seal.sign(data)


# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label_zh: str
    label_en: str
    value: str


def taipei_time(moment: datetime | None) -> str:
    """``2026-12-05 20:19（臺北時間 UTC+8）``: the time zone always said."""
    if moment is None:
        return "—"
    return f"{moment.astimezone(TAIWAN):%Y-%m-%d %H:%M}（{t('transcript.pdf.taipei', 'zh-TW')}）"


def _both(key: str) -> tuple[str, str]:
    return t(key, "zh-TW"), t(key, "en")


def _sub_label(claims: Any, name: str, part: str) -> str:
    """A column of a list of records (``members.relation``): its signed label, else its name."""
    shown = display_text(claims, "fields", "zh-TW", f"{name}.{part}")
    return part if shown == f"{name}.{part}" else shown


def _field_rows(verified: VerifiedTranscript) -> list[Row]:
    claims = verified.claims
    rows: list[Row] = []
    for name, value in (claims.fields or {}).items():
        zh = display_text(claims, "fields", "zh-TW", name)
        en = display_text(claims, "fields", "en", name)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts = []
            for record in value:
                parts.append(
                    "，".join(
                        f"{_sub_label(claims, name, k)}：{format_value(v, 'zh-TW')}"
                        for k, v in record.items()
                    )
                )
            rows.append(Row(zh, en, "\n".join(parts)))
        else:
            rows.append(Row(zh, en, format_value(value, "zh-TW")))
    return rows


def transcript_rows(session: Session, verified: VerifiedTranscript) -> list[Row]:
    """Everything the paper 謄本 says, label in words (Chinese and English) and value."""
    claims = verified.claims
    basis = catalog.get_legal_basis(session, claims.legal_basis)
    item = catalog.get_application_item(session, claims.application_item)
    requester = catalog.get_agency(session, claims.requester_agency)
    rows = [
        Row(*_both("transcript.label.issuer"), display_text(claims, "issuer", "zh-TW")),
        Row(*_both("transcript.label.dataset"), display_text(claims, "dataset", "zh-TW")),
        Row(*_both("transcript.label.subject"), subjects.shown(claims.subject)),
        Row(
            *_both("transcript.label.application_item"),
            item.name_zh if item else claims.application_item,
        ),
        Row(
            *_both("transcript.label.legal_basis"),
            basis.citation_zh if basis else claims.legal_basis,
        ),
        Row(
            *_both("transcript.label.requester"),
            f"{requester.name_zh if requester else claims.requester_agency}"
            f"／{claims.requester_badge}",
        ),
    ]
    if claims.case_id:
        rows.append(Row(*_both("transcript.label.case"), claims.case_id))
    return rows


def _styles() -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    base = {"fontName": _FONT, "wordWrap": "CJK"}
    return {
        "title": ParagraphStyle("title", fontSize=20, leading=28, alignment=1, **base),
        "subtitle": ParagraphStyle("subtitle", fontSize=11, leading=15, alignment=1, **base),
        "label": ParagraphStyle("label", fontSize=9.5, leading=13, **base),
        "value": ParagraphStyle("value", fontSize=10.5, leading=15, **base),
        "heading": ParagraphStyle("heading", fontSize=12, leading=18, spaceBefore=8, **base),
        "small": ParagraphStyle("small", fontSize=8, leading=11, **base),
    }


def _escape(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text).replace("\n", "<br/>")


def render_pdf(session: Session, verified: VerifiedTranscript, verify_url: str) -> bytes:
    """The unsigned A4 PDF of ``verified`` (call :func:`transcript_pdf` for the signed one)."""
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    claims = verified.claims
    s = _styles()

    def label(zh: str, en: str) -> Paragraph:
        return Paragraph(f"{_escape(zh)}<br/><font size=7.5>{_escape(en)}</font>", s["label"])

    def table(rows: list[Row]) -> Table:
        body = [
            [label(r.label_zh, r.label_en), Paragraph(_escape(r.value), s["value"])] for r in rows
        ]
        shown = Table(body, colWidths=[45 * mm, 125 * mm])
        shown.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0")),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        return shown

    title_zh, title_en = _both("transcript.title")
    story: list[Any] = [
        Paragraph(
            f"{_escape(display_text(claims, 'dataset', 'zh-TW'))}　{_escape(title_zh)}", s["title"]
        ),
        Paragraph(
            f"{_escape(display_text(claims, 'dataset', 'en'))} · {_escape(title_en)}",
            s["subtitle"],
        ),
        Spacer(1, 6 * mm),
        table(transcript_rows(session, verified)),
    ]
    if claims.predicate is not None:
        story += [
            Paragraph(_escape("／".join(_both("transcript.label.predicate"))), s["heading"]),
            table(
                [
                    Row(
                        *_both("transcript.label.predicate"),
                        predicate_sentence(claims, "zh-TW"),
                    )
                ]
            ),
        ]
    else:
        story += [
            Paragraph(_escape("／".join(_both("transcript.label.fields"))), s["heading"]),
            table(_field_rows(verified)),
        ]
    story += [
        Spacer(1, 4 * mm),
        table(
            [
                Row(*_both("transcript.label.issued_at"), taipei_time(claims.issued_at)),
                Row(*_both("transcript.label.expires_at"), taipei_time(claims.expires_at)),
                Row(*_both("transcript.label.id"), claims.jti or ""),
                Row(*_both("transcript.label.request"), claims.request_id),
                Row(*_both("transcript.label.key"), verified.kid),
            ]
        ),
        Spacer(1, 5 * mm),
    ]
    qr = QrCodeWidget(verify_url, barLevel="M")
    left, bottom, right, top = qr.getBounds()
    size = 32 * mm
    drawing = Drawing(
        size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0]
    )
    drawing.add(qr)
    note_zh, note_en = _both("transcript.pdf.note")
    scan_zh, scan_en = _both("transcript.pdf.scan")
    note = (
        f"{_escape(note_zh)}<br/>{_escape(note_en)}<br/><br/>"
        f"{_escape(scan_zh)}／{_escape(scan_en)}：<br/>"
        f'<a href="{_escape(verify_url)}" color="blue">{_escape(verify_url)}</a>'
    )
    foot = Table([[drawing, Paragraph(note, s["small"])]], colWidths=[36 * mm, 134 * mm])
    foot.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(foot)

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{title_zh} {display_text(claims, 'dataset', 'zh-TW')}",
        author=display_text(claims, "issuer", "zh-TW"),
        subject=claims.jti or "",
        creator="onceonly",
        lang="zh-TW",
    )
    document.build(story)
    return out.getvalue()


def run_to_end(job: Coroutine[Any, Any, Any]) -> Any:
    """pyHanko signs asynchronously. A thread already running an event loop (an async caller,
    or a test that drives a browser) cannot ``asyncio.run`` another, so it waits on a thread
    of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, job).result()


def _sign(
    pdf: bytes,
    verified: VerifiedTranscript,
    seal: SealKey,
    chain: tuple[asn1_x509.Certificate, asn1_x509.Certificate],
) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    name = f"transcript-{verified.claims.jti}.jws"
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=name,
            file_name=name,
            embedded_data=embed.EmbeddedFileObject.from_file_data(
                writer, data=verified.token.encode("ascii"), mime_type=JWS_MEDIA_TYPE
            ),
            description=t("transcript.pdf.attachment", "en"),
            af_relationship=generic.NameObject("/Source"),
        ),
    )
    issuer = display_text(verified.claims, "issuer", "zh-TW")
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm=DIGEST,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=t("transcript.pdf.reason", "zh-TW"),
        location=issuer,
        name=issuer,
    )
    out = io.BytesIO()
    pdf_signer = signers.PdfSigner(metadata, signer=_SealSigner(seal, *chain))
    run_to_end(pdf_signer.async_sign_pdf(writer, output=out))
    return out.getvalue()


OwnerKeys = dict[str, SigningKey | None]
"""Each issuer's active key (``None``: none here) as one page render has looked it up: a page
listing a dozen transcripts of one owner asks :func:`why_no_pdf` a dozen times, and the
database once (the key does not change while a page is made)."""


def _active_key(
    session: Session, settings: Settings, owner: str, known: OwnerKeys | None
) -> SigningKey | None:
    if known is None:
        return active_key(session, settings, owner)
    if owner not in known:
        known[owner] = active_key(session, settings, owner)
    return known[owner]


def _owner_key(
    session: Session,
    settings: Settings,
    verified: VerifiedTranscript,
    lang: str,
    known: OwnerKeys | None = None,
) -> SigningKey:
    """The owner's active key, if this node holds it; else :class:`PdfUnavailable` saying
    why (the transcript is not valid, or the owner signs elsewhere). ``known``: the keys this
    page has looked up already, added to."""
    if not verified.valid:
        raise PdfUnavailable(
            "invalid", lang, reason=verified.problem.reason(lang) if verified.problem else ""
        )
    owner = verified.claims.issuer
    name = display_text(verified.claims, "issuer", lang)
    key = _active_key(session, settings, owner, known)
    if key is None:
        raise PdfUnavailable("elsewhere", lang, owner=name)
    if key.public_jwk.get(CUSTODY) == "gateway" or not can_sign_here(key):
        raise PdfUnavailable("gateway", lang, owner=name)
    return key


def signing_key_for(
    session: Session, settings: Settings, verified: VerifiedTranscript, lang: str
) -> tuple[SigningKey, SealKey]:
    """The owner's active key and its seal key, if this node may sign with them; else
    :class:`PdfUnavailable` saying why (the transcript is not valid, or the owner signs
    elsewhere, or its token holds no seal key)."""
    key = _owner_key(session, settings, verified, lang)
    seal = seal_key(key)
    if seal is None:
        raise PdfUnavailable("gateway", lang, owner=display_text(verified.claims, "issuer", lang))
    return key, seal


def why_no_pdf(
    session: Session,
    settings: Settings,
    verified: VerifiedTranscript,
    lang: str,
    known: OwnerKeys | None = None,
) -> str | None:
    """Why this node cannot make ``verified``'s PDF, in words, or ``None`` when it can: a page
    offers the PDF only when it can be made (a link that answers 409 is a dead end), and
    says why otherwise. Makes nothing (no seal key file). A page asking for many transcripts
    passes one ``known`` to every call, so each issuer's key is looked up once."""
    try:
        key = _owner_key(session, settings, verified, lang, known)
    except PdfUnavailable as error:
        return str(error)
    if can_seal_here(key):
        return None
    return str(PdfUnavailable("gateway", lang, owner=display_text(verified.claims, "issuer", lang)))


def why_no_pdf_for_token(
    session: Session, settings: Settings, token: str, jwks: Mapping[str, Any], lang: str
) -> str | None:
    """:func:`why_no_pdf` of a stored transcript, checked against ``jwks`` now."""
    try:
        verified = inspect_transcript(token, jwks)
    except TranscriptInvalid as error:
        return str(PdfUnavailable("invalid", lang, reason=error.reason(lang)))
    return why_no_pdf(session, settings, verified, lang)


def transcript_pdf(
    session: Session,
    settings: Settings,
    verified: VerifiedTranscript,
    base_url: str,
    lang: str = "zh-TW",
) -> bytes:
    """The PAdES-signed PDF transcript, registered for the verification page. Raises
    :class:`PdfUnavailable` when this node cannot sign it in the owner's name."""
    key, seal = signing_key_for(session, settings, verified, lang)
    chain = seal_certificate_for(key, seal, display_text(verified.claims, "issuer", "zh-TW"))
    url = base_url.rstrip("/") + verification_path(verified.claims.jti or "", verified.token)
    signed = _sign(render_pdf(session, verified, url), verified, seal, chain)
    _register(session, verified, key)
    return signed


def pdf_for_token(
    session: Session,
    settings: Settings,
    token: str,
    jwks: Mapping[str, Any],
    base_url: str,
    lang: str,
) -> bytes:
    """:func:`transcript_pdf` of a stored transcript, checked against ``jwks`` now; when no
    PDF can be made here, a 409 problem saying why in words (the JWS is still offered)."""
    try:
        verified = inspect_transcript(token, jwks)
        return transcript_pdf(session, settings, verified, base_url, lang)
    except TranscriptInvalid as error:
        reason = PdfUnavailable("invalid", lang, reason=error.reason(lang))
        title = t("transcript.pdf.unavailable", lang)
        raise Problem(409, "pdf-unavailable", title, str(reason)) from error
    except PdfUnavailable as error:
        title = t("transcript.pdf.unavailable", lang)
        raise Problem(409, "pdf-unavailable", title, str(error)) from error


def download_name(case_or_ref: str, evidence_type: str, index: int, suffix: str) -> str:
    """``transcript-<case>-<evidence type>-<n>.<suffix>``: ASCII only, safe in a header."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{case_or_ref}-{evidence_type}")
    return f"transcript-{safe}-{index + 1}.{suffix}"


def attachment_headers(filename: str) -> Mapping[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
