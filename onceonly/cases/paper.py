"""Paper a citizen brought anyway: a scan checked by its first bytes, kept under the uploads
directory, and the slot it stands for marked as met on paper.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from onceonly.cases.fields import field_problem
from onceonly.cases.holding import audit_carried_reads, sight
from onceonly.cases.scans import WHOLE
from onceonly.cases.schemas import CaseView
from onceonly.cases.state import (
    CaseActor,
    add_event,
    after_change,
    held_elsewhere,
    load_case,
    move_case,
    require_handler,
    require_reader,
    start_gathering,
)
from onceonly.cases.views import carried_scans, evidence_slots, now_or_given
from onceonly.config import Settings
from onceonly.db import as_utc
from onceonly.errors import FieldError, Problem
from onceonly.i18n import t

MAX_PAPER_BYTES = 10 * 1024 * 1024


PAPER_TYPES: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
}
"""Accepted scans: content type → (the bytes such a file starts with, file suffix)."""


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def _clean_filename(name: str, suffix: str) -> str:
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:255] or f"scan{suffix}"


def _check_paper(data: bytes, content_type: str, lang: str | None) -> str:
    """The file suffix, or the problem: empty, over 10 MB, a type not accepted, or bytes that
    are not what the type says (a renamed file)."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if not data:
        raise field_problem("file", "cases.paper.empty", lang)
    if len(data) > MAX_PAPER_BYTES:
        raise Problem(
            413,
            "paper-too-large",
            t("cases.paper.too_large_title", lang),
            t("cases.paper.too_large", lang, size=len(data), limit=MAX_PAPER_BYTES),
            [
                FieldError(
                    "file",
                    t("cases.paper.too_large", lang, size=len(data), limit=MAX_PAPER_BYTES),
                    "too_large",
                )
            ],
        )
    if declared not in PAPER_TYPES:
        reason = t("cases.paper.type", lang, type=declared or "?")
        raise Problem(
            415,
            "paper-type",
            t("cases.paper.type_title", lang),
            reason,
            [FieldError("file", reason, "content_type")],
        )
    magic, suffix = PAPER_TYPES[declared]
    if not data.startswith(magic):
        raise field_problem("file", "cases.paper.mismatch", lang, type=declared)
    if not WHOLE[declared](data):
        raise field_problem("file", "cases.paper.damaged", lang, type=declared)
    return suffix


def attach_paper(
    session: Session,
    settings: Settings,
    actor: CaseActor,
    number: str,
    evidence_type: str,
    *,
    filename: str,
    content_type: str,
    data: bytes,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Attach a scanned paper document in place of one piece of evidence that could not be
    fetched, or replace the one attached. Stored as ``uploads/<case number>/<sha256><suffix>``
    under the data directory; a replaced scan's file stays there and its event names it, so
    the timeline still shows what was attached before and can be checked against its hash."""
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    target = move_case(session, case, "gather", lang)
    row = next((r for r in evidence_slots(session, case) if r.evidence_type == evidence_type), None)
    if row is None:
        raise field_problem("evidence_type", "cases.paper.unknown_type", lang, type=evidence_type)
    suffix = _check_paper(data, content_type, lang)
    moment = now_or_given(now)
    before = start_gathering(session, case, target, actor, moment)
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{case.number}/{digest}{suffix}"
    stored = uploads_dir(settings) / relative
    stored.parent.mkdir(parents=True, exist_ok=True)
    if not stored.exists():
        handle, temporary = tempfile.mkstemp(dir=stored.parent, prefix=".upload-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, stored)
    replaced: dict[str, Any] = (
        {
            "replaces": {
                "filename": row.paper_filename,
                "sha256": row.paper_sha256,
                "attached_by": row.paper_attached_by,
            }
        }
        if row.paper_sha256
        else {}
    )
    row.paper_filename = _clean_filename(filename, suffix)
    row.paper_path = relative
    row.paper_sha256 = digest
    row.paper_size = len(data)
    row.paper_content_type = content_type.split(";", 1)[0].strip().lower()
    row.paper_attached_by = actor.username
    row.paper_attached_at = moment
    add_event(
        session,
        case,
        "paper_attached",
        actor,
        moment,
        evidence_type=evidence_type,
        filename=row.paper_filename,
        sha256=digest,
        size=len(data),
        content_type=row.paper_content_type,
        **replaced,
    )
    return after_change(session, case, actor, before, moment, lang)


def paper_file(
    settings: Settings,
    session: Session,
    actor: CaseActor,
    number: str,
    evidence_type: str,
    lang: str | None = None,
) -> tuple[Path, str, str] | None:
    """The stored scan of one piece (path, content type, file name), for readers of the case
    whose agency attached it or received the case after it was attached; the first download
    of a scan carried to the reader's agency audited (in the caller's transaction), as its
    first sight on the case would be (:func:`~onceonly.cases.holding.audit_carried_reads`)."""
    case = load_case(session, number, lang, actor)
    require_reader(session, case, actor, lang)
    row = next((r for r in evidence_slots(session, case) if r.evidence_type == evidence_type), None)
    if row is None or not row.paper_path:
        return None
    seen = sight(session, case, actor.agency)
    if row.paper_attached_at and not seen.sees(row.paper_attached_at):
        holder = seen.fetcher(as_utc(row.paper_attached_at))
        item = case.application_item
        raise held_elsewhere(session, case.number, item, evidence_type, holder, lang)
    audit_carried_reads(session, case, actor, carried_scans(session, case, [row], seen))
    return (
        uploads_dir(settings) / row.paper_path,
        row.paper_content_type or "",
        row.paper_filename or "",
    )
