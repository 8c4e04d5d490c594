"""Browser sessions, a signed-in person's (not the database's): starting one when they sign in,
finding the person behind its cookie, ending one (sign-out) or all of an account's. The
cookie and its anti-forgery token travel through :mod:`onceonly.accounts.deps`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.models import User, UserSession
from onceonly.accounts.password_rules import temporary_since
from onceonly.accounts.principal import SESSION_TOUCH_SECONDS, Principal, hash_secret, principal_for
from onceonly.db import as_utc, utcnow


@dataclass(frozen=True)
class NewSession:
    token: str
    """Goes into the cookie; only its hash is stored."""
    csrf_token: str
    expires_at: datetime


def create_session(
    session: Session, user_id: int, minutes: int, *, now: datetime | None = None
) -> NewSession:
    """Start a browser session lasting ``minutes`` (``Settings.session_minutes``)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(minutes=minutes)
    session.add(
        UserSession(
            user_id=user_id,
            token_hash=hash_secret(token),
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
        )
    )
    session.flush()
    return NewSession(token, csrf_token, expires_at)


def resolve_session(
    session: Session, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The person behind a session cookie, or None when it is unknown, expired, revoked or
    its account disabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == hash_secret(token))
    ).first()
    if row is None:
        return None
    user_session, user = row
    if (
        user_session.revoked_at is not None
        or as_utc(user_session.expires_at) <= now
        or not user.active
    ):
        return None
    if (now - as_utc(user_session.last_seen_at)).total_seconds() >= SESSION_TOUCH_SECONDS:
        user_session.last_seen_at = now
        session.flush()
    return principal_for(
        user,
        "session",
        csrf_token=user_session.csrf_token,
        session_id=user_session.id,
        issued_by=user.username,
        must_change_password=bool(user.must_change_password),
        temporary_since=temporary_since(user),
    )


def revoke_session(session: Session, token: str, *, now: datetime | None = None) -> bool:
    """End a session (sign out); True when there was a live one."""
    user_session = session.scalar(
        select(UserSession).where(UserSession.token_hash == hash_secret(token))
    )
    if user_session is None or user_session.revoked_at is not None:
        return False
    user_session.revoked_at = now or utcnow()
    session.flush()
    return True


def revoke_user_sessions(session: Session, user_id: int, *, keep: int | None = None) -> int:
    """End every live session of one account (but the session ``keep``); returns how many."""
    conditions = [UserSession.user_id == user_id, UserSession.revoked_at.is_(None)]
    if keep is not None:
        conditions.append(UserSession.id != keep)
    live = session.scalars(select(UserSession).where(*conditions)).all()
    now = utcnow()
    for user_session in live:
        user_session.revoked_at = now
    session.flush()
    return len(live)
