"""Tables of the accounts capability: users, their sessions and API tokens, login throttles.

Secrets (session tokens, API tokens) are stored only as SHA-256 hashes so that a copy of the
database cannot be used to sign in; passwords only as Argon2 hashes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    CLERK = "clerk"
    """承辦人: handles cases at one agency and fetches evidence for them."""
    OWNER = "owner"
    """資料管理者: approves and revokes access rules on its agency's datasets."""
    AUDITOR = "auditor"
    """稽核人員: reads the audit log and answers citizens' flags."""
    ADMIN = "admin"
    """系統管理者: manages accounts and API tokens; sees no citizen data by that role."""
    CITIZEN = "citizen"
    """Reserved for the citizen portal."""


ROLES: tuple[str, ...] = tuple(r.value for r in Role)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")",
            name="role",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    agency_code: Mapped[str] = mapped_column(String(100), index=True)
    """The catalog's agency code; kept as text so accounts do not depend on catalog tables."""
    badge: Mapped[str | None] = mapped_column(String(16), unique=True)
    """Pseudonymous badge number shown to citizens; set in the transaction that creates the
    user (it is derived from the id, known only after the insert)."""
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_set_by: Mapped[str | None] = mapped_column(String(64))
    """Who chose the current password: ``self`` (the account's holder), ``operator`` (the
    node's command line) or the username of the administrator who set it; ``None``: not
    recorded (accounts made before migration 0029, or by a caller that did not say)."""
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    """The password was chosen by someone else: signing in with it opens only the
    change-password page (``/account/password``) until the holder sets their own."""
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The last time someone other than the holder could have held this account: an
    administrator or the operator set its password, or re-enabled it. Whoever answers for it
    since may not be its holder (the staff survey counts no such answer)."""


class UserSession(Base):
    """A signed-in person's browser session (cookie ``onceonly_session``)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A bearer token for an agency system acting as one user."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the token, so people can tell their tokens apart."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed sign-ins per username from every address; kept in the database so every worker
    sees the back-off. Only a short one: anyone can fail a known username's password."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginClientThrottle(Base):
    """Failed sign-ins per client address (``addr:<address>``) and per username from one
    address (``pair:<username>|<address>``), so that one address trying many usernames is
    slowed, and a stranger's failures lock only the stranger out of a known username."""

    __tablename__ = "login_client_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccountSecret(Base):
    """Secrets of this database generated on first use (the badge-number key)."""

    __tablename__ = "account_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
