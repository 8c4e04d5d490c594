"""Service functions of the accounts capability; routes, the CLI and other capabilities call
these and never touch the account tables directly.

Functions take an open SQLAlchemy session and never commit: the caller's transaction decides.
The one exception to "an error leaves nothing behind" is :func:`authenticate`, which flushes a
failed attempt before raising so that the caller can commit the lockout counter.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from onceonly.accounts.models import (
    ROLES,
    AccountSecret,
    ApiToken,
    LoginClientThrottle,
    LoginThrottle,
    Role,
    User,
    UserSession,
)
from onceonly.accounts.passwords import hash_password, verify_password
from onceonly.accounts.tenancy import CENTRAL, Scope, tenant_of_agency
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t

DEMO_PASSWORD = "onceonly-demo"
MAX_FAILURES = 5
"""Failed sign-ins in a row of one username from one address before that pair is locked."""
LOCKOUT_SECONDS = 60
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_TOKEN_DAYS = 3650
SESSION_TOUCH_SECONDS = 60
"""``last_seen_at`` / ``last_used_at`` are written at most this often per credential."""

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
AGENCY_CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_]*")
API_TOKEN_PREFIX = "oot_"
CITIZEN_ROLE = "citizen"
CITIZEN_USERNAME_PREFIX = "citizen-"
"""A citizen's account is ``citizen-`` and the national ID in lower case, at
:data:`CITIZEN_AGENCY`, with no password: made only when the citizen signs in with their card
(:func:`onceonly.citizens.accounts.ensure_citizen`, through :func:`create_citizen`). No
administrator can make one, give it a password or a token: whoever could would give consent
and approve previews in the citizen's name, and the log would say the citizen did."""
CITIZEN_AGENCY = "public.citizen"
NODE_OPERATOR = "node-operator"
"""``issued_by`` of a token made by the node's own tools (``onceonly users issue-token``, the
demo seed) rather than by a signed-in administrator."""
_BADGE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: str
    agency_code: str
    badge: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who is making this request, however they proved it."""

    user_id: int
    username: str
    display_name: str
    role: str
    agency_code: str
    badge: str
    auth_method: str
    """``session`` (a person's browser) or ``token`` (an agency system)."""
    token_id: int | None = None
    """The API token's id when ``auth_method == "token"``."""
    csrf_token: str | None = None
    """The session's anti-forgery token; forms post it as ``csrf_token``."""
    session_id: int | None = None
    """The browser session's id when ``auth_method == "session"``."""
    issued_by: str | None = None
    """Who made the credential: the account itself for a sign-in session, the administrator
    who issued an API token, or :data:`NODE_OPERATOR` for one issued by the node's own tools."""
    issuer_badge: str | None = None
    """The issuing administrator's badge, which is what the audit log records of them."""

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def credential(self) -> dict[str, Any]:
        """Which credential made this request and who issued it, as every audit entry written
        on this caller's behalf records it (in ``details["credential"]``, under the entry
        hash): a token used by someone other than its account's owner shows who minted it."""
        ident = self.token_id if self.auth_method == "token" else self.session_id
        return {"kind": self.auth_method, "id": ident, "issued_by": self.audit_issuer}

    @property
    def audit_issuer(self) -> str | None:
        """The issuer as the audit log may name it. The entry hash covers it and the proof a
        citizen downloads carries it, so it is never a staff username: ``self`` for the
        account's own credential, the issuing administrator's badge (auditors resolve badges
        to accounts), or :data:`NODE_OPERATOR`."""
        if self.issued_by in (None, NODE_OPERATOR):
            return self.issued_by
        if self.issued_by == self.username:
            return "self"
        return f"badge:{self.issuer_badge}" if self.issuer_badge else "another-account"


@dataclass(frozen=True)
class NewSession:
    token: str
    """Goes into the cookie; only its hash is stored."""
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ApiTokenView:
    id: int
    user_id: int
    username: str
    agency_code: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str | None

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    agency_code: str
    display_name: str
    password: str
    created: bool
    """False when the account already existed (a second seed creates nothing)."""


def _hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agency_code=user.agency_code,
        badge=user.badge or "",
        active=user.active,
        created_at=as_utc(user.created_at),
    )


def _principal(user: User, auth_method: str, **extra: Any) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agency_code=user.agency_code,
        badge=user.badge or "",
        auth_method=auth_method,
        **extra,
    )


# --- badge numbers -------------------------------------------------------------------------


def _badge_key(session: Session) -> bytes:
    """The database's badge key, made on first use so no configuration is needed."""
    row = session.get(AccountSecret, "badge")
    if row is None:
        row = AccountSecret(name="badge", value=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.value)


def badge_number(user_id: int, key: bytes, attempt: int = 0) -> str:
    """``B-`` and six Crockford base-32 characters from HMAC-SHA256(key, user id): stable for
    the user, meaningless to anyone without the key."""
    message = f"user:{user_id}" + (f":{attempt}" if attempt else "")
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:4], "big") >> 2
    chars = [_BADGE_ALPHABET[(number >> (5 * i)) & 31] for i in range(6)]
    return "B-" + "".join(reversed(chars))


def _assign_badge(session: Session, user: User) -> None:
    key = _badge_key(session)
    attempt = 0
    while True:
        badge = badge_number(user.id, key, attempt)
        if session.scalar(select(User.id).where(User.badge == badge)) is None:
            user.badge = badge
            return
        attempt += 1


# --- users ---------------------------------------------------------------------------------


def _password_errors(password: str | None, lang: str | None) -> list[FieldError]:
    if password is None:
        return []
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = t("accounts.password.too_short", lang, min=MIN_PASSWORD_LENGTH)
        return [FieldError("password", reason, "too_short")]
    if len(password) > MAX_PASSWORD_LENGTH:
        reason = t("accounts.password.too_long", lang, max=MAX_PASSWORD_LENGTH)
        return [FieldError("password", reason, "too_long")]
    return []


def check_new_password(password: str, lang: str | None = None) -> None:
    """Refuse (422, field ``password``) a password ``create_user`` would refuse, before a
    caller such as ``onceonly init`` does anything else."""
    errors = _password_errors(password, lang)
    if errors:
        raise validation_problem(errors, lang)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def create_user(
    session: Session,
    username: str,
    password: str | None,
    role: str,
    agency_code: str,
    display_name: str,
    *,
    lang: str | None = None,
    password_hash: str | None = None,
) -> UserView:
    """Add an account. Every invalid field is reported at once (422), nothing is written.

    ``password=None`` makes an account that cannot sign in with a password (an agency system
    that only uses API tokens); ``password_hash`` lets a bulk caller reuse one hash.
    """
    username = normalise_username(username)
    display_name = display_name.strip()
    agency_code = agency_code.strip()
    errors: list[FieldError] = []
    if not USERNAME_RE.fullmatch(username):
        errors.append(FieldError("username", t("accounts.username.invalid", lang)))
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        reason = t("accounts.username.taken", lang, username=username)
        errors.append(FieldError("username", reason, "duplicate"))
    if password_hash is None:
        errors += _password_errors(password, lang)
    if role == CITIZEN_ROLE:
        errors.append(FieldError("role", t("accounts.role.citizen_by_card", lang), "citizen"))
    elif role not in ROLES:
        reason = t("accounts.role.invalid", lang, roles=", ".join(ROLES))
        errors.append(FieldError("role", reason))
    if username.startswith(CITIZEN_USERNAME_PREFIX):
        reason = t("accounts.username.citizen_prefix", lang, prefix=CITIZEN_USERNAME_PREFIX)
        errors.append(FieldError("username", reason, "reserved"))
    if not AGENCY_CODE_RE.fullmatch(agency_code) or len(agency_code) > 100:
        errors.append(FieldError("agency_code", t("accounts.agency.invalid", lang)))
    if not display_name or len(display_name) > 100:
        errors.append(FieldError("display_name", t("accounts.display_name.invalid", lang)))
    if errors:
        raise validation_problem(errors, lang)
    if password_hash is None and password is not None:
        password_hash = hash_password(password)
    return _add_user(session, username, role, agency_code, display_name, password_hash)


def create_citizen(session: Session, national_id: str, display_name: str) -> UserView:
    """The account of a citizen who has just proved who they are with their card: the only
    way a citizen account is made (:data:`CITIZEN_USERNAME_PREFIX`)."""
    username = CITIZEN_USERNAME_PREFIX + national_id.lower()
    return _add_user(session, username, CITIZEN_ROLE, CITIZEN_AGENCY, display_name[:100], None)


def _add_user(
    session: Session,
    username: str,
    role: str,
    agency_code: str,
    display_name: str,
    password_hash: str | None,
) -> UserView:
    now = utcnow()
    user = User(
        username=username,
        display_name=display_name,
        role=role,
        agency_code=agency_code,
        password_hash=password_hash,
        active=True,
        created_at=now,
        password_changed_at=now if password_hash else None,
    )
    session.add(user)
    session.flush()
    _assign_badge(session, user)
    session.flush()
    return _user_view(user)


def check_agency_served(
    session: Session, agency_code: str, hosted: Sequence[str] | None, lang: str | None = None
) -> None:
    """Refuse an account for an agency this node does not serve: one missing from the
    catalog, or of a jurisdiction the node does not host (``hosted`` from
    :func:`~onceonly.accounts.tenancy.hosted_tenants`; ``None`` on a stand-alone node).
    Such an account could sign in but would see nothing and could fetch nothing, or worse,
    speak for another node's agency in this node's audit log."""
    agency_code = agency_code.strip()
    if not AGENCY_CODE_RE.fullmatch(agency_code):
        return
    if catalog.get_agency(session, agency_code) is None:
        reason = t("accounts.agency.unknown", lang, agency=agency_code)
        raise validation_problem([FieldError("agency_code", reason, "unknown")], lang)
    if not _hosted(agency_code, hosted):
        served = "、".join(hosted or ())
        reason = t("accounts.agency.not_hosted", lang, agency=agency_code, hosted=served)
        raise validation_problem([FieldError("agency_code", reason, "not_hosted")], lang)


def _hosted(agency_code: str, hosted: Sequence[str] | None) -> bool:
    """Whether the node speaks for the agency: every agency stand-alone, national ones always."""
    tenant = tenant_of_agency(agency_code)
    return hosted is None or tenant == CENTRAL or tenant in hosted


def agencies_for_accounts(
    session: Session, scope: Scope, hosted: Sequence[str] | None
) -> list[catalog.AgencyView]:
    """The catalog agencies an administrator of ``scope`` may make accounts for
    (:meth:`Scope.provisions`) that :func:`check_agency_served` would also accept."""
    return [
        agency
        for agency in catalog.list_agencies(session)
        if any(scope.provisions(role, agency.code) for role in ROLES)
        and _hosted(agency.code, hosted)
    ]


def get_user(session: Session, username: str) -> UserView | None:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    return _user_view(user) if user else None


def get_user_by_id(session: Session, user_id: int) -> UserView | None:
    user = session.get(User, user_id)
    return _user_view(user) if user else None


def get_user_by_badge(session: Session, badge: str) -> UserView | None:
    """For the citizen portal's "who looked": badge number to account (for auditors)."""
    user = session.scalar(select(User).where(User.badge == badge.strip().upper()))
    return _user_view(user) if user else None


def list_users(
    session: Session,
    *,
    role: str | None = None,
    agency_code: str | None = None,
    lang: str | None = None,
) -> list[UserView]:
    """The accounts, filtered; a filter no account could ever match (a role that does not
    exist, a malformed agency code) is refused rather than answered with an empty list."""
    errors = []
    if role is not None and role not in ROLES:
        errors.append(FieldError("role", t("accounts.role.invalid", lang, roles=", ".join(ROLES))))
    if agency_code is not None and not AGENCY_CODE_RE.fullmatch(agency_code):
        errors.append(FieldError("agency", t("accounts.agency.invalid", lang)))
    if errors:
        raise validation_problem(errors, lang)
    query = select(User).order_by(User.agency_code, User.role, User.username)
    if role is not None:
        query = query.where(User.role == role)
    if agency_code is not None:
        query = query.where(User.agency_code == agency_code)
    return [_user_view(u) for u in session.scalars(query)]


def _require_user(session: Session, user_id: int, lang: str | None) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found(t("accounts.user.not_found", lang, user=user_id), lang)
    return user


def set_password(
    session: Session, username: str, password: str, *, lang: str | None = None
) -> UserView:
    """Replace the password and end the account's sessions (tokens stay valid)."""
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise not_found(t("accounts.user.not_found", lang, user=username), lang)
    if user.role == CITIZEN_ROLE:
        reason = t("accounts.citizen.no_password", lang)
        raise validation_problem([FieldError("username", reason, "citizen")], lang)
    errors = _password_errors(password, lang)
    if errors:
        raise validation_problem(errors, lang)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    revoke_user_sessions(session, user.id)
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == user.username))
    pairs = LoginClientThrottle.key.like(_escape_like(f"pair:{user.username}|") + "%", escape="\\")
    session.execute(delete(LoginClientThrottle).where(pairs))
    session.flush()
    return _user_view(user)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def set_active(
    session: Session, user_id: int, active: bool, *, lang: str | None = None
) -> UserView:
    """Disable or re-enable an account; a disabled account's sessions end at once and its
    tokens stop working (they answer 401 ``account-disabled``)."""
    user = _require_user(session, user_id, lang)
    user.active = active
    if not active:
        revoke_user_sessions(session, user.id)
    session.flush()
    return _user_view(user)


# --- signing in ----------------------------------------------------------------------------


def _locked_out(kind: str, seconds: int, lang: str | None) -> Problem:
    """429 with ``Retry-After`` and, in words, whose failures locked what."""
    return Problem(
        429,
        "login-locked",
        t("accounts.login.locked_title", lang),
        t(f"accounts.login.locked_{kind}", lang, seconds=seconds),
        retry_after=seconds,
        extra={"locked": kind},
    )


@dataclass(frozen=True)
class _Limit:
    """One sign-in throttle: ``failures`` failed attempts within the window lock for
    ``seconds``."""

    kind: str
    failures: int
    seconds: int


PAIR_LIMIT = _Limit("pair", MAX_FAILURES, LOCKOUT_SECONDS)
"""One username from one address: the ordinary lockout, felt by whoever keeps failing."""
ADDRESS_LIMIT = _Limit("address", 20, 120)
"""One address, any usernames: slows trying many accounts once each. Generous, since an
agency's staff may share one address behind its gateway."""
USERNAME_LIMIT = _Limit("username", 10, 15)
"""One username, any addresses: a short back-off only, because anyone can fail a known
username's password and must not lock its owner out for long."""
FAILURE_WINDOW_SECONDS = 900
"""Failures older than this are forgotten."""


def _throttle_key(kind: str, username: str, address: str) -> str:
    if kind == "pair":
        return f"pair:{username}|{address}"[:200]
    return f"addr:{address}"[:200]


def _remaining(row: LoginThrottle | LoginClientThrottle | None, now: datetime) -> int:
    if row is None or row.locked_until is None:
        return 0
    seconds = (as_utc(row.locked_until) - now).total_seconds()
    return max(1, int(seconds + 0.999)) if seconds > 0 else 0


def _failure_row(
    session: Session, model: type[LoginThrottle] | type[LoginClientThrottle], key: str
) -> LoginThrottle | LoginClientThrottle:
    """The throttle row for ``key``, made if missing without racing a concurrent sign-in
    (an insert that ignores a conflict, then the row locked for update)."""
    column = "username" if model is LoginThrottle else "key"
    dialect = session.get_bind().dialect.name
    insert_of = sqlite_insert if dialect == "sqlite" else postgresql_insert
    session.execute(insert_of(model).values({column: key, "failures": 0}).on_conflict_do_nothing())
    row = session.get(model, key, with_for_update=True, populate_existing=True)
    assert isinstance(row, LoginThrottle | LoginClientThrottle)
    return row


def _count_failure(row: LoginThrottle | LoginClientThrottle, limit: _Limit, now: datetime) -> int:
    """Count one failure; the lock in seconds it starts, or 0."""
    last = row.last_failure_at
    if last is None or (now - as_utc(last)).total_seconds() > FAILURE_WINDOW_SECONDS:
        row.failures = 0
    row.failures = (row.failures or 0) + 1
    row.last_failure_at = now
    if row.failures >= limit.failures:
        row.failures = 0
        row.locked_until = now + timedelta(seconds=limit.seconds)
        return limit.seconds
    return 0


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    address: str | None = None,
    now: datetime | None = None,
    lang: str | None = None,
) -> UserView:
    """Check a username and password from the client at ``address``.

    Raises :class:`Problem` 401 ``login-failed`` (the same for an unknown user and a wrong
    password), 403 ``account-disabled``, or 429 ``login-locked`` with ``retry_after`` and
    ``locked`` naming the throttle: ``pair`` after :data:`MAX_FAILURES` failures of this
    username from this address, ``address`` after many from the address whatever the
    usernames, ``username`` (briefly) after many of the username from anywhere. A failure is
    flushed before raising; commit it (catch the problem inside the transaction) or the
    throttles never count.
    """
    now = now or utcnow()
    username = normalise_username(username)[:64]
    address = (address or "unknown")[:100]
    pair_key = _throttle_key("pair", username, address)
    address_key = _throttle_key("address", username, address)
    locks = [
        (_remaining(session.get(LoginClientThrottle, address_key), now), "address"),
        (_remaining(session.get(LoginClientThrottle, pair_key), now), "pair"),
        (_remaining(session.get(LoginThrottle, username), now), "username"),
    ]
    seconds, kind = max(locks)
    if seconds:
        raise _locked_out(kind, seconds, lang)
    user = session.scalar(select(User).where(User.username == username))
    # a citizen signs in with their card only, even if an account of theirs has a password
    # (one made by an administrator before that was refused): failed, as for anyone unknown
    known = user.password_hash if user and user.role != CITIZEN_ROLE else None
    result = verify_password(known, password)
    if not result.ok:
        started = [
            (_count_failure(_failure_row(session, model, key), limit, now), limit.kind)
            for model, key, limit in (
                (LoginClientThrottle, pair_key, PAIR_LIMIT),
                (LoginClientThrottle, address_key, ADDRESS_LIMIT),
                (LoginThrottle, username, USERNAME_LIMIT),
            )
        ]
        session.flush()
        seconds, kind = max(started)
        if seconds:
            raise _locked_out(kind, seconds, lang)
        raise Problem(401, "login-failed", t("accounts.login.failed", lang))
    assert user is not None
    if not user.active:
        raise Problem(403, "account-disabled", t("accounts.account.disabled", lang))
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))
    session.execute(delete(LoginClientThrottle).where(LoginClientThrottle.key == pair_key))
    if result.new_hash is not None:
        user.password_hash = result.new_hash
    session.flush()
    return _user_view(user)


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
            token_hash=_hash_secret(token),
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
        .where(UserSession.token_hash == _hash_secret(token))
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
    return _principal(
        user,
        "session",
        csrf_token=user_session.csrf_token,
        session_id=user_session.id,
        issued_by=user.username,
    )


def revoke_session(session: Session, token: str, *, now: datetime | None = None) -> bool:
    """End a session (sign out); True when there was a live one."""
    user_session = session.scalar(
        select(UserSession).where(UserSession.token_hash == _hash_secret(token))
    )
    if user_session is None or user_session.revoked_at is not None:
        return False
    user_session.revoked_at = now or utcnow()
    session.flush()
    return True


def revoke_user_sessions(session: Session, user_id: int) -> int:
    """End every live session of one account; returns how many."""
    live = session.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    ).all()
    now = utcnow()
    for user_session in live:
        user_session.revoked_at = now
    session.flush()
    return len(live)


# --- API tokens ----------------------------------------------------------------------------


def _token_view(token: ApiToken, user: User, created_by: str | None) -> ApiTokenView:
    return ApiTokenView(
        id=token.id,
        user_id=user.id,
        username=user.username,
        agency_code=user.agency_code,
        name=token.name,
        prefix=token.prefix,
        created_at=as_utc(token.created_at),
        expires_at=as_utc(token.expires_at),
        revoked_at=as_utc(token.revoked_at) if token.revoked_at else None,
        last_used_at=as_utc(token.last_used_at) if token.last_used_at else None,
        created_by=created_by,
    )


def issue_api_token(
    session: Session,
    user: UserView | int,
    name: str,
    days: int,
    *,
    created_by: int | None = None,
    now: datetime | None = None,
    lang: str | None = None,
) -> tuple[str, ApiTokenView]:
    """Make a bearer token for an agency system acting as ``user``, valid ``days`` days
    (``Settings.api_token_days`` by convention). The plain token is returned once and only
    its hash is kept."""
    user_id = user if isinstance(user, int) else user.id
    owner = _require_user(session, user_id, lang)
    name = name.strip()
    errors: list[FieldError] = []
    if not name or len(name) > 100:
        errors.append(FieldError("name", t("accounts.token.name_invalid", lang)))
    if not 1 <= days <= MAX_TOKEN_DAYS:
        reason = t("accounts.token.days_invalid", lang, max=MAX_TOKEN_DAYS)
        errors.append(FieldError("days", reason))
    if not owner.active:
        errors.append(FieldError("username", t("accounts.account.disabled", lang)))
    if owner.role == CITIZEN_ROLE:
        errors.append(FieldError("username", t("accounts.citizen.no_token", lang), "citizen"))
    if errors:
        raise validation_problem(errors, lang)
    now = now or utcnow()
    plain = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=owner.id,
        name=name,
        token_hash=_hash_secret(plain),
        prefix=plain[:10],
        created_at=now,
        created_by_id=created_by,
        expires_at=now + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    creator = session.get(User, created_by) if created_by is not None else None
    return plain, _token_view(token, owner, creator.username if creator else None)


def hash_token(plain: str) -> str:
    """What a bearer token is stored and looked up as."""
    return _hash_secret(plain.strip())


def _token_problem(reason: str, lang: str | None) -> Problem:
    return Problem(
        401,
        "unauthenticated",
        t("problem.unauthenticated", lang),
        t(f"accounts.token.{reason}", lang),
        extra={"reason": reason.replace("_", "-")},
    )


def resolve_api_token(
    session: Session, plain: str, *, now: datetime | None = None, lang: str | None = None
) -> Principal:
    """The account behind a bearer token; 401 with ``reason`` ``token-unknown``,
    ``token-expired``, ``token-revoked`` or ``account-disabled`` otherwise."""
    now = now or utcnow()
    creator = aliased(User, name="creator")
    row = session.execute(
        select(ApiToken, User, creator.username, creator.badge)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(creator, creator.id == ApiToken.created_by_id)
        .where(ApiToken.token_hash == hash_token(plain))
    ).first()
    if row is None:
        raise _token_problem("token_unknown", lang)
    token, user, issued_by, issuer_badge = row
    if token.revoked_at is not None:
        raise _token_problem("token_revoked", lang)
    if as_utc(token.expires_at) <= now:
        raise _token_problem("token_expired", lang)
    if not user.active:
        raise _token_problem("account_disabled", lang)
    if user.role == CITIZEN_ROLE:  # one issued before that was refused: never a citizen's
        raise _token_problem("token_unknown", lang)
    last = token.last_used_at
    if last is None or (now - as_utc(last)).total_seconds() >= SESSION_TOUCH_SECONDS:
        token.last_used_at = now
        session.flush()
    return _principal(
        user,
        "token",
        token_id=token.id,
        issued_by=issued_by or NODE_OPERATOR,
        issuer_badge=issuer_badge,
    )


def get_api_token(session: Session, token_id: int) -> ApiTokenView | None:
    views = _token_views(session, ApiToken.id == token_id)
    return views[0] if views else None


def revoke_api_token(
    session: Session, token_id: int, *, now: datetime | None = None, lang: str | None = None
) -> ApiTokenView:
    """Revoke a token from the next request on; revoking twice keeps the first time."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise not_found(t("accounts.token.not_found", lang, id=token_id), lang)
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.flush()
    view = get_api_token(session, token_id)
    assert view is not None
    return view


def _token_views(session: Session, *conditions: Any) -> list[ApiTokenView]:
    creator = aliased(User, name="creator")
    query = (
        select(ApiToken, User, creator.username)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(creator, creator.id == ApiToken.created_by_id)
        .where(*conditions)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [_token_view(tok, user, by) for tok, user, by in session.execute(query)]


def list_api_tokens(session: Session, user_id: int | None = None) -> list[ApiTokenView]:
    """Every token (newest first), or one account's; revoked and expired ones included."""
    if user_id is None:
        return _token_views(session)
    return _token_views(session, ApiToken.user_id == user_id)


# --- demo accounts -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _demo_plan() -> dict[str, Any]:
    path = Path(__file__).with_name("demo_accounts.yaml")
    plan: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return plan


def _agency_kind(code: str) -> str:
    return code.split(".", 1)[1] if "." in code else code


def demo_account_plan(
    jurisdictions: Sequence[str], agency_codes: Mapping[str, Sequence[str]] | None = None
) -> list[tuple[str, str, str, str]]:
    """The demo accounts as (username, role, agency_code, display name), without touching the
    database; see ``demo_accounts.yaml`` for the username scheme.

    ``agency_codes`` maps a jurisdiction to the agencies it has (full codes such as
    ``taipei-city.land_office`` or bare kinds); without it every listed kind is assumed.
    """
    plan = _demo_plan()
    clerk_kinds: dict[str, dict[str, str]] = plan["clerk_agencies"]
    owner_kinds: list[str] = plan["owner_agencies"]
    auditor: dict[str, str] = plan["auditor_agency"]
    role_label = {r: t(f"accounts.role.{r}", "zh-TW") for r in ROLES}
    accounts: list[tuple[str, str, str, str]] = []
    for jurisdiction in jurisdictions:
        known = plan["jurisdictions"].get(jurisdiction, {})
        abbr = known.get("abbr", jurisdiction)
        place = known.get("name", jurisdiction)
        if agency_codes is not None and jurisdiction in agency_codes:
            kinds = {_agency_kind(c) for c in agency_codes[jurisdiction]}
        else:
            kinds = set(clerk_kinds)
        for kind, info in clerk_kinds.items():
            if kind not in kinds:
                continue
            agency = f"{jurisdiction}.{kind}"
            for role in (Role.CLERK, Role.OWNER):
                if role is Role.OWNER and kind not in owner_kinds:
                    continue
                accounts.append(
                    (
                        f"{abbr}-{info['abbr']}-{role.value}",
                        role.value,
                        agency,
                        f"{place}{info['name']} {role_label[role.value]}",
                    )
                )
        accounts.append(
            (
                f"{abbr}-auditor",
                Role.AUDITOR.value,
                f"{jurisdiction}.{auditor['kind']}",
                f"{place}{auditor['name']} {role_label['auditor']}",
            )
        )
        tenant_admin = plan.get("tenant_admins", {}).get(jurisdiction)
        if tenant_admin:
            accounts.append(
                (
                    tenant_admin["username"],
                    Role.ADMIN.value,
                    tenant_admin["agency"],
                    f"{tenant_admin['name']} {role_label['admin']}",
                )
            )
    for code, info in plan["central_owners"].items():
        accounts.append(
            (info["username"], Role.OWNER.value, code, f"{info['name']} {role_label['owner']}")
        )
    admin = plan["admin"]
    accounts.append(
        (
            admin["username"],
            Role.ADMIN.value,
            admin["agency"],
            f"{admin['name']} {role_label['admin']}",
        )
    )
    return accounts


def seed_demo_accounts(
    session: Session,
    jurisdictions: Sequence[str],
    agency_codes: Mapping[str, Sequence[str]] | None = None,
    password: str = DEMO_PASSWORD,
) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet (idempotent) and list them all.

    For each jurisdiction: a clerk per agency, an owner per data-owning agency and an
    auditor; plus the central data owners and one admin. All share ``password``, hashed once
    (the demo password is public anyway).
    """
    planned = demo_account_plan(jurisdictions, agency_codes)
    existing = set(
        session.scalars(select(User.username).where(User.username.in_([p[0] for p in planned])))
    )
    shared_hash = hash_password(password) if len(existing) < len(planned) else None
    result: list[DemoAccount] = []
    for username, role, agency_code, display_name in planned:
        created = username not in existing
        if created:
            create_user(
                session, username, None, role, agency_code, display_name, password_hash=shared_hash
            )
            existing.add(username)
        result.append(DemoAccount(username, role, agency_code, display_name, password, created))
    return result
