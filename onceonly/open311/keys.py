"""Open311 API keys: issued per app and city by that city's administrator, kept as a SHA-256
hash, with daily quotas of writes (new requests) and reads counted per Taiwan day.

A key files only in its own city (another city's key is refused like an unknown one, 403);
a revoked key is refused from the next call on. A quota is checked and counted in one
``UPDATE ... WHERE used < limit``, so concurrent calls never go past it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from onceonly.db import as_utc, utcnow
from onceonly.domain.roc_date import TAIWAN
from onceonly.errors import FieldError, Problem
from onceonly.open311.models import ApiKey, KeyUsage
from onceonly.open311.service import Filer, words

KEY_PREFIX = "o311_"
DEFAULT_DAILY_WRITES = 200
DEFAULT_DAILY_READS = 20000
MAX_DAILY = 10_000_000
"""The largest daily quota of either kind (the column is a 32-bit integer)."""
APP_NAME_MAX = 200
CONTACT_MAX = 254
ISSUED_BY_MAX = 64


class KeyView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    prefix: str
    app_name: str
    contact: str | None
    jurisdiction: str
    daily_writes: int
    daily_reads: int
    issued_by: str
    issued_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    writes_today: int = 0
    reads_today: int = 0


def _hash(plain: str) -> str:
    return hashlib.sha256(plain.strip().encode("utf-8")).hexdigest()


def _today(now: datetime) -> date:
    return now.astimezone(TAIWAN).date()


def _seconds_to_midnight(now: datetime) -> int:
    local = now.astimezone(TAIWAN)
    midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=TAIWAN)
    return max(1, int((midnight - local).total_seconds()))


def _view(row: ApiKey, usage: KeyUsage | None = None) -> KeyView:
    return KeyView(
        id=row.id,
        prefix=row.prefix,
        app_name=row.app_name,
        contact=row.contact,
        jurisdiction=row.jurisdiction,
        daily_writes=row.daily_writes,
        daily_reads=row.daily_reads,
        issued_by=row.issued_by,
        issued_at=as_utc(row.issued_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        revoked_by=row.revoked_by,
        writes_today=usage.writes if usage else 0,
        reads_today=usage.reads if usage else 0,
    )


def _field(field: str, key: str, lang: str | None, **params: str | int) -> Problem:
    reason = words(key, lang, field=field, **params)
    return Problem(400, "bad-request", words("open311.problem.bad-request", lang), reason,
                   [FieldError(field, reason)])  # fmt: skip


def issue_key(
    session: Session,
    *,
    jurisdiction: str,
    app_name: str,
    issued_by: str,
    contact: str | None = None,
    daily_writes: int = DEFAULT_DAILY_WRITES,
    daily_reads: int = DEFAULT_DAILY_READS,
    now: datetime | None = None,
    lang: str | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[KeyView, str]:
    """A new key for ``app_name`` in ``jurisdiction``; the plain key is returned once only.

    A refused input is named by its parameter's name, or by what ``names`` maps it to: how
    the caller's user gave it (a command's options, ``{"app_name": "--app", ...}``)."""

    def refused(field: str, key: str, **params: str | int) -> Problem:
        return _field((names or {}).get(field, field), key, lang, **params)

    name = app_name.strip()
    if not name:
        raise refused("app_name", "open311.error.required")
    if len(name) > APP_NAME_MAX:
        raise refused("app_name", "open311.error.too_long", limit=APP_NAME_MAX)
    if contact is not None and len(contact.strip()) > CONTACT_MAX:
        raise refused("contact", "open311.error.too_long", limit=CONTACT_MAX)
    if not issued_by.strip():
        raise refused("issued_by", "open311.error.required")
    if len(issued_by) > ISSUED_BY_MAX:
        raise refused("issued_by", "open311.error.too_long", limit=ISSUED_BY_MAX)
    for field, quota in (("daily_writes", daily_writes), ("daily_reads", daily_reads)):
        if quota < 0:
            raise refused(field, "open311.keys.quota_negative")
        if quota > MAX_DAILY:
            raise refused(field, "open311.keys.quota_too_large", limit=MAX_DAILY)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        key_hash=_hash(plain),
        prefix=plain[:12],
        app_name=name,
        contact=(contact or "").strip() or None,
        jurisdiction=jurisdiction,
        daily_writes=daily_writes,
        daily_reads=daily_reads,
        issued_by=issued_by,
        issued_at=(now or utcnow()).astimezone(UTC),
    )
    session.add(row)
    session.flush()
    return _view(row), plain


def list_keys(
    session: Session, jurisdiction: str | None = None, now: datetime | None = None
) -> list[KeyView]:
    """Keys (of one city), newest first, with today's usage."""
    query = select(ApiKey).order_by(ApiKey.id.desc())
    if jurisdiction is not None:
        query = query.where(ApiKey.jurisdiction == jurisdiction)
    today = _today(now or utcnow())
    usage = {
        u.api_key_id: u for u in session.scalars(select(KeyUsage).where(KeyUsage.day == today))
    }
    return [_view(row, usage.get(row.id)) for row in session.scalars(query)]


def revoke_key(
    session: Session,
    key_id: int,
    *,
    revoked_by: str,
    jurisdiction: str | None = None,
    now: datetime | None = None,
    lang: str | None = None,
    names: Mapping[str, str] | None = None,
) -> KeyView:
    """Revoke a key (of ``jurisdiction`` only, when given: another city's key is 404). A
    refused ``revoked_by`` is named as ``names`` maps it (as :func:`issue_key` does)."""
    by = (names or {}).get("revoked_by", "revoked_by")
    if not revoked_by.strip():
        raise _field(by, "open311.error.required", lang)
    if len(revoked_by) > ISSUED_BY_MAX:
        raise _field(by, "open311.error.too_long", lang, limit=ISSUED_BY_MAX)
    row = session.get(ApiKey, key_id)
    if row is None or (jurisdiction is not None and row.jurisdiction != jurisdiction):
        reason = words("open311.keys.not_found", lang, id=key_id)
        raise Problem(404, "not-found", words("open311.problem.not-found", lang), reason,
                      [FieldError("key_id", reason)])  # fmt: skip
    if row.revoked_at is None:
        row.revoked_at = (now or utcnow()).astimezone(UTC)
        row.revoked_by = revoked_by
        session.flush()
    return _view(row)


def _count(session: Session, key: ApiKey, kind: Literal["reads", "writes"], day: date) -> bool:
    """Count one call if the quota allows it; ``False`` when today's quota is used up."""
    column = KeyUsage.writes if kind == "writes" else KeyUsage.reads
    limit = key.daily_writes if kind == "writes" else key.daily_reads
    statement = (
        update(KeyUsage)
        .where(KeyUsage.api_key_id == key.id, KeyUsage.day == day, column < limit)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    if session.execute(statement).rowcount:  # type: ignore[attr-defined]
        return True
    exists = session.get(KeyUsage, {"api_key_id": key.id, "day": day}) is not None
    if exists or limit <= 0:
        return False
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    seed = insert(KeyUsage).values(api_key_id=key.id, day=day, reads=0, writes=0)
    session.execute(seed.on_conflict_do_nothing(index_elements=["api_key_id", "day"]))
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def authenticate(
    session: Session,
    plain: str,
    jurisdiction: str,
    *,
    write: bool,
    now: datetime | None = None,
    lang: str | None = None,
) -> Filer:
    """The app behind ``plain`` for a call in ``jurisdiction``, with the call counted: 403
    for an unknown, revoked or other city's key, 429 with Retry-After over today's quota."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(plain)))
    if row is None or row.revoked_at is not None:
        reason = words("open311.error.key_invalid", lang, field="api_key")
        raise Problem(403, "forbidden", words("open311.problem.forbidden", lang), reason,
                      [FieldError("api_key", reason)])  # fmt: skip
    if row.jurisdiction != jurisdiction:
        reason = words(
            "open311.error.key_other_city", lang, field="api_key", jurisdiction=jurisdiction
        )
        raise Problem(403, "forbidden", words("open311.problem.forbidden", lang), reason,
                      [FieldError("api_key", reason)])  # fmt: skip
    moment = now or utcnow()
    kind: Literal["reads", "writes"] = "writes" if write else "reads"
    if not _count(session, row, kind, _today(moment)):
        retry = _seconds_to_midnight(moment)
        limit = row.daily_writes if write else row.daily_reads
        reason = words(f"open311.error.quota_{kind}", lang, field="api_key", limit=limit,
                       retry=retry)  # fmt: skip
        raise Problem(429, "quota", words("open311.problem.quota", lang), reason,
                      [FieldError("api_key", reason)], retry_after=retry)  # fmt: skip
    return Filer(
        kind="api_key", name=row.app_name, api_key_id=row.id, jurisdiction=row.jurisdiction
    )
