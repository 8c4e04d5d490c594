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
from typing import Any, Literal

import yaml
from sqlalchemy import Select, delete, or_, select
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
from onceonly.audit.log import AuditRecord, append
from onceonly.catalog import service as catalog
from onceonly.config import TEMPORARY_PASSWORD_DAYS
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
SELF: Literal["self"] = "self"
"""``password_set_by`` of a password the account's holder chose."""
OPERATOR: Literal["operator"] = "operator"
"""``password_set_by`` of a password the node's operator set (``onceonly users create`` or
``set-password``)."""
RESERVED_USERNAMES = frozenset({SELF, OPERATOR, NODE_OPERATOR})
"""Names that ``password_set_by`` and the audit log use for someone other than an account: an
account so named would pass for the holder or the operator."""
PASSWORD_CHANGE_PATH = "/account/password"
"""The one page a session signed in with a temporary password may open (with sign-out)."""
TEMPORARY_EXPIRED = "temporary-password-expired"
"""The problem ``kind`` of a sign-in, or a session, refused because its temporary password is
older than ``Settings.temporary_password_days``."""
PasswordSetter = Literal["self", "operator"]
"""Who chose a password when it was not a signed-in administrator: the holder or the operator."""
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
    password_set_by: str | None = None
    """Who chose the current password: :data:`SELF`, :data:`OPERATOR` or an administrator's
    username; ``None`` when not recorded (or the account has no password)."""
    password_changed_at: datetime | None = None
    must_change_password: bool = False
    """Signing in with the current password opens only :data:`PASSWORD_CHANGE_PATH`."""
    handed_over_at: datetime | None = None
    """The last time someone other than the holder set the password or re-enabled the
    account: since then its answers may not be its holder's."""
    system: bool = False
    """An agency system's account, not a person's (:func:`is_system_account`): it has no
    password and acts only by API tokens, which its administrators issue."""
    temporary_since: datetime | None = None
    """When someone else set the temporary password that stands (:func:`_temporary_since`)."""

    def temporary_until(self, days: int) -> datetime | None:
        """When that temporary password stops signing in; ``None`` when there is none."""
        return temporary_until(self.temporary_since, days)


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
    must_change_password: bool = False
    """A browser session signed in with a password someone else set: it may only change it
    (:data:`PASSWORD_CHANGE_PATH`) or sign out. Always ``False`` for an API token."""
    temporary_since: datetime | None = None
    """For such a session, when that password was set (:func:`_temporary_since`): the session
    ends with it, ``Settings.temporary_password_days`` later. ``None`` for an API token."""

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
    """The issuing account's username; ``None``: the node's operator (its own tools)."""
    personal: bool = False
    """The token's account is a person's (it signs in with a password), not a system's."""

    @property
    def issued_by_other(self) -> bool:
        """An administrator issued it for someone else's personal account, as was allowed
        before only the holder could: it acts as a person who did not make it. Marked on the
        token pages; ``onceonly users revoke-admin-issued-tokens`` ends every such token."""
        return self.personal and self.created_by not in (None, self.username)

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
        password_set_by=user.password_set_by,
        password_changed_at=as_utc(user.password_changed_at) if user.password_changed_at else None,
        must_change_password=bool(user.must_change_password),
        handed_over_at=as_utc(user.handed_over_at) if user.handed_over_at else None,
        system=is_system_account(user),
        temporary_since=_temporary_since(user),
    )


def _temporary_since(user: User) -> datetime | None:
    """When someone other than the holder (an administrator, the operator) set the account's
    password, while it is still temporary; ``None`` otherwise. A password its holder chose, or
    whose setter was not recorded, that is only marked for change
    (:func:`require_password_change`) is not known to be anyone else's and never expires:
    expiring it would lock out every account an operator marks after upgrading."""
    if not user.must_change_password or user.password_set_by in (None, SELF):
        return None
    return as_utc(user.password_changed_at) if user.password_changed_at else None


def temporary_until(since: datetime | None, days: int) -> datetime | None:
    """When a temporary password set at ``since`` stops signing in: ``days``
    (``Settings.temporary_password_days``) later; ``None`` when there is none."""
    return since + timedelta(days=days) if since is not None else None


def temporary_expired(since: datetime | None, days: int, now: datetime | None = None) -> bool:
    """Whether a temporary password set at ``since`` no longer signs in (see
    :func:`temporary_until`)."""
    until = temporary_until(since, days)
    return until is not None and until <= (now or utcnow())


def temporary_expired_problem(days: int, lang: str | None) -> Problem:
    """403 :data:`TEMPORARY_EXPIRED`: the reason, in words, and whom to ask."""
    return Problem(
        403,
        TEMPORARY_EXPIRED,
        t("accounts.login.temporary_expired_title", lang),
        t("accounts.login.temporary_expired", lang, days=days),
    )


def is_system_account(user: User) -> bool:
    """Whether ``user`` is an agency system's account rather than a person's: it has no
    password (``onceonly users create --no-password``, or the system box of ``/admin/users``),
    so nobody signs in to it and it acts only by API tokens. A citizen's account, also
    without a password, is a person's. The marker holds because nothing removes a password,
    and giving one (:func:`set_password`) makes the account a person's and ends the tokens
    administrators issued for it."""
    return user.password_hash is None and user.role != CITIZEN_ROLE


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


def _password_errors(
    password: str | None, lang: str | None, field: str = "password"
) -> list[FieldError]:
    """The account rules for a new password (the one place they are written), reported on
    ``field``."""
    if password is None:
        return []
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = t("accounts.password.too_short", lang, min=MIN_PASSWORD_LENGTH)
        return [FieldError(field, reason, "too_short")]
    if len(password) > MAX_PASSWORD_LENGTH:
        reason = t("accounts.password.too_long", lang, max=MAX_PASSWORD_LENGTH)
        return [FieldError(field, reason, "too_long")]
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
    set_by: Principal | PasswordSetter | None = None,
) -> UserView:
    """Add an account. Every invalid field is reported at once (422), nothing is written.

    ``password=None`` makes an account that cannot sign in with a password (an agency system
    that only uses API tokens); ``password_hash`` lets a bulk caller reuse one hash.

    ``set_by`` says who chose the password, and so whether it is temporary:

    * the signed-in administrator making the account (the ``/admin/users`` form), or
      :data:`OPERATOR` (``onceonly users create``): someone other than the holder knows it,
      so it is temporary (``must_change_password``: signing in with it opens only the
      change-password page) and the setting is audited (``account.password_set``);
    * :data:`SELF`: the holder chose it, or it is no secret (the demo's published
      password, ``seed_demo_accounts``): not temporary;
    * ``None`` (the default): not recorded, as for accounts made before migration 0029; not
      temporary. Only the node's own set-up code and tests leave it out.
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
    elif username in RESERVED_USERNAMES:
        reason = t("accounts.username.reserved", lang, username=username)
        errors.append(FieldError("username", reason, "reserved"))
    if not AGENCY_CODE_RE.fullmatch(agency_code) or len(agency_code) > 100:
        errors.append(FieldError("agency_code", t("accounts.agency.invalid", lang)))
    if not display_name or len(display_name) > 100:
        errors.append(FieldError("display_name", t("accounts.display_name.invalid", lang)))
    if errors:
        raise validation_problem(errors, lang)
    if password_hash is None and password is not None:
        password_hash = hash_password(password)
    if password_hash is None:
        return _add_user(session, username, role, agency_code, display_name, None)
    setter = _setter_name(set_by)
    temporary = setter is not None and setter != SELF
    view = _add_user(
        session,
        username,
        role,
        agency_code,
        display_name,
        password_hash,
        set_by=setter,
        must_change=temporary,
    )
    if temporary:
        assert set_by is not None and set_by != SELF
        account = session.get(User, view.id)
        assert account is not None
        _audit_password_set(session, account, set_by, made=True)
    return view


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
    *,
    set_by: str | None = None,
    must_change: bool = False,
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
        password_set_by=set_by if password_hash else None,
        must_change_password=must_change and password_hash is not None,
        handed_over_at=now if must_change and password_hash is not None else None,
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
    session: Session,
    username: str,
    password: str,
    *,
    by: Principal | Literal["operator"],
    lang: str | None = None,
) -> UserView:
    """Set a password someone other than the holder chose: the signed-in administrator
    ``by`` (the routes check that they manage the account) or :data:`OPERATOR`
    (``onceonly users set-password``). It is temporary: signing in with it opens only the
    change-password page until the holder sets their own (:func:`change_own_password`).
    The account's sessions end, its sign-in throttles are lifted, and an
    ``account.password_set`` audit entry names ``by`` as the actor. Every live API token of
    the account is revoked, the holder's own included (``tokens_revoked`` in the entry):
    whoever knew the password could have signed in, set their own and made a token before
    the account was handed (back) to its holder, and a person holds no token someone else
    made in their name (:func:`issue_api_token`). The holder makes new ones once they have
    set their own password. The account's row is locked (``FOR UPDATE``) so that a token
    being issued concurrently is either refused or revoked here.

    An administrator changes their own password as everyone does, with the current one
    (409 ``own-account`` here)."""
    user = session.scalar(
        _locked(select(User).where(User.username == normalise_username(username)))
    )
    if user is None:
        raise not_found(t("accounts.user.not_found", lang, user=username), lang)
    if user.role == CITIZEN_ROLE:
        reason = t("accounts.citizen.no_password", lang)
        raise validation_problem([FieldError("username", reason, "citizen")], lang)
    if isinstance(by, Principal) and by.user_id == user.id:
        raise Problem(
            409,
            "own-account",
            t("accounts.password.own_title", lang),
            t("accounts.password.own_via_change", lang, path=PASSWORD_CHANGE_PATH),
        )
    errors = _password_errors(password, lang)
    if errors:
        raise validation_problem(errors, lang)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.password_set_by = _setter_name(by)
    user.must_change_password = True
    user.handed_over_at = user.password_changed_at
    revoke_user_sessions(session, user.id)
    _lift_throttles(session, user.username)
    revoked = [token.id for token, _user in _revoke_live(session, ApiToken.user_id == user.id)]
    session.flush()
    _audit_password_set(session, user, by, made=False, tokens_revoked=revoked)
    return _user_view(user)


def require_password_change(
    session: Session, usernames: Sequence[str] | None, *, lang: str | None = None
) -> list[UserView]:
    """Make the named accounts (``None``: every active account that signs in with a
    password) change their password at the next sign-in, as if it had been set for them:
    what an operator runs once after upgrading past migration 0029, when nothing recorded
    who chose the passwords already in use (an administrator may have). Citizens and
    accounts without a password are not touched; each account marked gets an
    ``account.password_change_required`` audit entry naming the node's operator."""
    query = select(User).where(User.password_hash.is_not(None), User.role != CITIZEN_ROLE)
    if usernames is None:
        users = list(session.scalars(query.where(User.active.is_(True)).order_by(User.id)))
    else:
        users = []
        for name in usernames:
            user = session.scalar(query.where(User.username == normalise_username(name)))
            if user is None:
                raise not_found(t("accounts.user.not_found", lang, user=name), lang)
            users.append(user)
    for user in users:
        if user.must_change_password:
            continue
        user.must_change_password = True
        append(
            session,
            AuditRecord(
                event="account.password_change_required",
                actor_username=NODE_OPERATOR,
                owner_agency=user.agency_code,
                reason_zh=t("accounts.audit.password_change_required", "zh-TW", badge=user.badge),
                reason_en=t("accounts.audit.password_change_required", "en", badge=user.badge),
                details={"credential": _operator_credential(), "account": _account_details(user)},
            ),
        )
    session.flush()
    return [_user_view(user) for user in users]


def _lift_throttles(session: Session, username: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))
    pairs = LoginClientThrottle.key.like(_escape_like(f"pair:{username}|") + "%", escape="\\")
    session.execute(delete(LoginClientThrottle).where(pairs))


def change_own_password(
    session: Session,
    principal: Principal,
    current: str,
    new: str,
    again: str,
    *,
    address: str | None = None,
    now: datetime | None = None,
    lang: str | None = None,
    temporary_days: int = TEMPORARY_PASSWORD_DAYS,
) -> int:
    """The holder of ``principal``'s account replaces its password, proving the current one
    (checked as a sign-in is, with the same throttles: a borrowed session cannot guess it; a
    temporary password older than ``temporary_days`` no longer proves anything, 403
    :data:`TEMPORARY_EXPIRED`).
    ``new`` must follow the account rules, differ from the current one and equal ``again``;
    every unmet condition is reported at once (422 on ``current_password``, ``new_password``,
    ``new_password_again``) and nothing is changed, except that a wrong current password is
    counted as a failed sign-in (flushed: commit it, as for :func:`authenticate`).

    Afterwards the password is the holder's own (``password_set_by`` :data:`SELF`, no longer
    temporary), every other session of the account ends (this one stays), and an
    ``account.password_changed`` entry with the account as actor records it, with who had
    set the password before. API tokens are untouched. Returns how many sessions ended.

    Only from the account's own browser session: an API token is not the person (403
    ``session-only``), and a citizen has no password (403 ``no-password``)."""
    if principal.auth_method != "session" or principal.session_id is None:
        raise Problem(
            403,
            "session-only",
            t("problem.forbidden", lang),
            t("accounts.password.session_only", lang),
        )
    user = _require_user(session, principal.user_id, lang)
    if user.role == CITIZEN_ROLE or user.password_hash is None:
        detail = t("accounts.password.none_to_change", lang)
        raise Problem(403, "no-password", t("problem.forbidden", lang), detail)
    errors: list[FieldError] = []
    verified = False
    if not current:
        errors.append(FieldError("current_password", t("field.missing", lang), "missing"))
    else:
        try:
            authenticate(
                session,
                user.username,
                current,
                address=address,
                now=now,
                lang=lang,
                temporary_days=temporary_days,
            )
        except Problem as problem:
            if problem.status == 401:
                reason, code = t("accounts.password.current_wrong", lang), "wrong"
            elif problem.status == 429:
                reason, code = problem.detail or problem.title, "locked"
            else:
                raise
            errors.append(FieldError("current_password", reason, code))
        else:
            verified = True
    if not new:
        errors.append(FieldError("new_password", t("field.missing", lang), "missing"))
    else:
        errors += _password_errors(new, lang, "new_password")
        if verified and new == current:
            reason = t("accounts.password.unchanged", lang)
            errors.append(FieldError("new_password", reason, "unchanged"))
    if new != again:
        reason = t("accounts.password.mismatch", lang)
        errors.append(FieldError("new_password_again", reason, "mismatch"))
    if errors:
        raise validation_problem(errors, lang)
    previous, was_temporary = user.password_set_by, bool(user.must_change_password)
    user.password_hash = hash_password(new)
    user.password_changed_at = now or utcnow()
    user.password_set_by = SELF
    user.must_change_password = False
    ended = revoke_user_sessions(session, user.id, keep=principal.session_id)
    append(
        session,
        AuditRecord(
            event="account.password_changed",
            actor_username=principal.username,
            actor_badge=principal.badge or None,
            actor_role=principal.role,
            actor_agency=principal.agency_code,
            owner_agency=user.agency_code,
            reason_zh=t("accounts.audit.password_changed", "zh-TW"),
            reason_en=t("accounts.audit.password_changed", "en"),
            details={
                "credential": principal.credential,
                "account": _account_details(user),
                "previously_set_by": _setter_for_audit(session, previous),
                "was_temporary": was_temporary,
                "other_sessions_ended": ended,
            },
        ),
    )
    return ended


def password_set_by(session: Session, user_id: int) -> str | None:
    """Who chose the account's current password: :data:`SELF` (its holder), :data:`OPERATOR`
    or the username of the administrator who set it; ``None`` when nobody recorded it
    (accounts made before migration 0029 or without saying, see :func:`create_user`) or the
    account has no password or does not exist.

    For a capability that must act only on the holder's own word (the staff survey): refuse
    a browser session unless this is :data:`SELF` (or ``None``, as that capability decides
    for accounts older than the record). While someone else's password stands the session
    reaches nothing but the change-password page anyway; this is the check that holds
    wherever the session is read."""
    return session.scalar(select(User.password_set_by).where(User.id == user_id))


def _setter_name(set_by: Principal | PasswordSetter | None) -> str | None:
    """What ``users.password_set_by`` stores for ``set_by``."""
    if isinstance(set_by, Principal):
        return set_by.username
    return set_by


def _setter_for_audit(session: Session, setter: str | None) -> str | None:
    """``password_set_by`` as the audit log may name it: never a staff username (see
    :attr:`Principal.audit_issuer`), an administrator by badge."""
    if setter is None or setter == SELF:
        return setter
    if setter == OPERATOR:
        return NODE_OPERATOR
    badge = session.scalar(select(User.badge).where(User.username == setter))
    return f"badge:{badge}" if badge else "another-account"


def _account_details(user: User) -> dict[str, Any]:
    """The account an ``account.*`` entry is about, as auditors resolve it (badge, not name)."""
    return {"id": user.id, "badge": user.badge, "role": user.role, "agency": user.agency_code}


def _operator_credential() -> dict[str, Any]:
    """``details["credential"]`` of an entry the node's operator caused from the command
    line (or the node's set-up code)."""
    return {"kind": "command-line", "id": None, "issued_by": NODE_OPERATOR}


def _actor(by: Principal | Literal["operator"]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``actor_*`` fields of an ``account.*`` entry and its credential: the signed-in
    caller ``by``, or the node's operator."""
    if isinstance(by, Principal):
        return _actor_fields(by.username, by.badge, by.role, by.agency_code), by.credential
    return _actor_fields(NODE_OPERATOR, None, None, None), _operator_credential()


def _actor_fields(
    username: str, badge: str | None, role: str | None, agency: str | None
) -> dict[str, Any]:
    """The ``actor_*`` fields of an audit entry (an empty badge is none)."""
    return {
        "actor_username": username,
        "actor_badge": badge or None,
        "actor_role": role,
        "actor_agency": agency,
    }


def _audit_password_set(
    session: Session,
    user: User,
    by: Principal | Literal["operator"],
    *,
    made: bool,
    tokens_revoked: Sequence[int] = (),
) -> None:
    """``account.password_set``: ``by`` chose ``user``'s password (``made``: with the
    account), and the tokens administrators had issued for it were revoked
    (``tokens_revoked``, their ids). The actor is the administrator, or the node's operator;
    the entry is seen by the tenant's auditors through the account's agency
    (``owner_agency``)."""
    key = "accounts.audit.password_made" if made else "accounts.audit.password_set"
    actor, credential = _actor(by)
    append(
        session,
        AuditRecord(
            event="account.password_set",
            **actor,
            owner_agency=user.agency_code,
            reason_zh=t(key, "zh-TW", badge=user.badge),
            reason_en=t(key, "en", badge=user.badge),
            details={
                "credential": credential,
                "account": _account_details(user),
                "made": made,
                "temporary": True,
                "tokens_revoked": list(tokens_revoked),
            },
        ),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def set_active(
    session: Session, user_id: int, active: bool, *, lang: str | None = None
) -> UserView:
    """Disable or re-enable an account; a disabled account's sessions end at once and its
    tokens stop working (they answer 401 ``account-disabled``)."""
    user = _require_user(session, user_id, lang)
    if active and not user.active:
        user.handed_over_at = utcnow()  # whoever re-enabled it may sign in as it
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
    temporary_days: int = TEMPORARY_PASSWORD_DAYS,
) -> UserView:
    """Check a username and password from the client at ``address``.

    Raises :class:`Problem` 401 ``login-failed`` (the same for an unknown user and a wrong
    password), 403 ``account-disabled``, 403 :data:`TEMPORARY_EXPIRED` when the password is
    right but is a temporary one set more than ``temporary_days`` ago
    (``Settings.temporary_password_days``; said only to whoever knows the password, so a
    stranger learns nothing the usual failure does not tell; no guess failed, so no throttle
    counts it), or 429 ``login-locked`` with ``retry_after`` and
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
    if temporary_expired(_temporary_since(user), temporary_days, now):
        raise temporary_expired_problem(temporary_days, lang)
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
        must_change_password=bool(user.must_change_password),
        temporary_since=_temporary_since(user),
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
        personal=not is_system_account(user),
    )


def issue_api_token(
    session: Session,
    user: UserView | int,
    name: str,
    days: int,
    *,
    created_by: Principal | int | None = None,
    now: datetime | None = None,
    lang: str | None = None,
) -> tuple[str, ApiTokenView]:
    """Make a bearer token acting as ``user``, valid ``days`` days (``Settings.api_token_days``
    by convention). The plain token is returned once and only its hash is kept.

    ``created_by`` is the issuer, named in every audit entry the token is used for: the
    signed-in caller, or an account's id; ``None`` is the node's operator (its command line
    and set-up code), who may issue for any account but a citizen's. An account may issue
    for a system account (:func:`is_system_account`; the routes check it is one the issuer
    administers), but a person's tokens only the person issues (403 on ``username``,
    ``personal_account``): a token someone else made would act as them, and the citizen's
    "who looked" page would name them. No token is issued with a bearer token for its own
    account, whatever the account (403 ``session-only``): a signed-in holder issues from
    their own browser session only, so a system account (no password, no session) gets its
    tokens from its administrators or the operator.

    The account's row is locked (``FOR UPDATE``) while the token is made, so a password
    being set concurrently (:func:`set_password`) either comes first, and the account is a
    person's here, or after, and revokes the token. Every token issued gets an
    ``account.token_issued`` audit entry naming the account, the token and the issuing
    credential."""
    user_id = user if isinstance(user, int) else user.id
    owner = session.scalar(_locked(select(User).where(User.id == user_id)))
    if owner is None:
        raise not_found(t("accounts.user.not_found", lang, user=user_id), lang)
    _check_issuer(owner, created_by, lang)
    issuer = created_by
    if isinstance(created_by, Principal):
        created_by = created_by.user_id
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
    _audit_token_issued(session, owner, token, issuer, creator)
    return plain, _token_view(token, owner, creator.username if creator else None)


def _locked(query: Select[User]) -> Select[User]:
    """``query`` for a ``User`` row, locked until the transaction ends (``FOR UPDATE``; a
    no-op on SQLite, whose writers are serialised anyway) and read afresh even when the
    session already holds the account."""
    return query.with_for_update().execution_options(populate_existing=True)


def _audit_token_issued(
    session: Session,
    owner: User,
    token: ApiToken,
    issuer: Principal | int | None,
    creator: User | None,
) -> None:
    """``account.token_issued``: which account got which token (id, name, expiry), and from
    which credential: the signed-in caller's session or token, the node's operator (command
    line, set-up code), or for set-up code naming an issuing account (``created_by`` an id)
    that account, with no credential to name."""
    if isinstance(issuer, Principal) or issuer is None:
        actor, credential = _actor(issuer if issuer is not None else OPERATOR)
    else:
        assert creator is not None
        actor = _actor_fields(creator.username, creator.badge, creator.role, creator.agency_code)
        issued_by = (
            "self" if creator.id == owner.id else _setter_for_audit(session, creator.username)
        )
        credential = {"kind": "set-up", "id": None, "issued_by": issued_by}
    params = {"badge": owner.badge, "id": token.id}
    append(
        session,
        AuditRecord(
            event="account.token_issued",
            **actor,
            owner_agency=owner.agency_code,
            reason_zh=t("accounts.audit.token_issued", "zh-TW", **params),
            reason_en=t("accounts.audit.token_issued", "en", **params),
            details={
                "credential": credential,
                "account": _account_details(owner),
                "token": {
                    "id": token.id,
                    "name": token.name,
                    "expires_at": as_utc(token.expires_at).isoformat(),
                },
            },
        ),
    )


def _check_issuer(owner: User, issuer: Principal | int | None, lang: str | None) -> None:
    """Refuse a token for a person's account made by anyone but that person in their own
    browser session (see :func:`issue_api_token`), and any token issued with a bearer token
    for that token's own account; a citizen's is refused there, on the form."""
    if isinstance(issuer, Principal) and issuer.user_id == owner.id:
        _check_own_session(issuer, lang)
    if issuer is None or is_system_account(owner) or owner.role == CITIZEN_ROLE:
        return
    issuer_id = issuer.user_id if isinstance(issuer, Principal) else issuer
    if issuer_id != owner.id:
        reason = t("accounts.token.personal_account", lang, user=owner.username)
        raise Problem(
            403,
            "forbidden",
            t("problem.forbidden", lang),
            reason,
            [FieldError("username", reason, "personal_account")],
        )


def _check_own_session(issuer: Principal, lang: str | None) -> None:
    """An account's own token is issued from its own browser session, never with a token: a
    token is not the person, and would renew itself for ever."""
    if issuer.auth_method != "session":
        reason = t("accounts.token.own_session_only", lang)
        raise Problem(
            403,
            "session-only",
            t("problem.forbidden", lang),
            reason,
            [FieldError("username", reason, "session_only")],
        )


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


def _revoke_issued_by_others(
    session: Session, *, now: datetime | None = None
) -> list[tuple[ApiToken, User]]:
    """Revoke the live tokens an account other than the holder issued for a person's account,
    and return them with their accounts. The operator's (no issuing account) stay: its
    command line may issue for anyone."""
    return _revoke_live(
        session,
        ApiToken.created_by_id.is_not(None),
        ApiToken.created_by_id != ApiToken.user_id,
        or_(User.password_hash.is_not(None), User.role == CITIZEN_ROLE),
        now=now,
    )


def _revoke_live(
    session: Session, *conditions: Any, now: datetime | None = None
) -> list[tuple[ApiToken, User]]:
    """Revoke the live (unrevoked, unexpired) tokens meeting ``conditions`` (on ``ApiToken``
    and its account, ``User``) and return them with their accounts, in id order."""
    now = now or utcnow()
    rows = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now, *conditions)
        .order_by(ApiToken.id)
    ).all()
    for token, _user in rows:
        token.revoked_at = now
    session.flush()
    return [(token, user) for token, user in rows]


def revoke_admin_issued_tokens(
    session: Session, *, now: datetime | None = None
) -> list[ApiTokenView]:
    """Revoke every live token an administrator issued for someone else's personal account,
    as was allowed before only the holder could issue those (:func:`issue_api_token`): what
    an operator runs once after upgrading (``onceonly users revoke-admin-issued-tokens``),
    having given the agency systems that used them system accounts of their own. Each gets
    an ``account.token_revoked`` audit entry naming the node's operator, the account and the
    issuer (by badge). Tokens for system accounts, the holders' own and the operator's stay."""
    now = now or utcnow()
    revoked = _revoke_issued_by_others(session, now=now)
    for token, user in revoked:
        issuer = session.get(User, token.created_by_id) if token.created_by_id else None
        issued_by = f"badge:{issuer.badge}" if issuer and issuer.badge else "another-account"
        append(
            session,
            AuditRecord(
                event="account.token_revoked",
                actor_username=NODE_OPERATOR,
                owner_agency=user.agency_code,
                reason_zh=t("accounts.audit.token_revoked", "zh-TW", badge=user.badge, id=token.id),
                reason_en=t("accounts.audit.token_revoked", "en", badge=user.badge, id=token.id),
                details={
                    "credential": _operator_credential(),
                    "account": _account_details(user),
                    "token": {
                        "id": token.id,
                        "issued_by": issued_by,
                    },
                },
            ),
        )
    ids = [token.id for token, _user in revoked]
    return _token_views(session, ApiToken.id.in_(ids)) if ids else []


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
    (the demo password is public anyway), recorded as chosen by the holder (``set_by``
    :data:`SELF`): a demo sign-in is not sent to change it first, as the tour and the
    browser tests rely on. Accounts an administrator or ``onceonly users create`` makes on
    a demo node are temporary as anywhere.
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
                session,
                username,
                None,
                role,
                agency_code,
                display_name,
                password_hash=shared_hash,
                set_by=SELF,  # the demo's password is published: nobody else's secret
            )
            existing.add(username)
        result.append(DemoAccount(username, role, agency_code, display_name, password, created))
    return result
