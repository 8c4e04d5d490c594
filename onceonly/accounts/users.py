"""Accounts: making them (a person's or an agency system's, by an administrator or the node's
operator, for an agency the node serves; a citizen's only at their first sign-in with their
card), reading them (:class:`UserView`, never the row), their badge numbers, disabling and
re-enabling them. Signing in is :mod:`onceonly.accounts.signin`; setting a password,
:mod:`onceonly.accounts.password_changes`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from onceonly.accounts.audit_entries import audit_account_change, audit_password_set
from onceonly.accounts.models import ROLES, AccountSecret, User
from onceonly.accounts.password_rules import (
    OPERATOR,
    SELF,
    PasswordSetter,
    password_errors,
    setter_name,
    temporary_since,
    temporary_until,
)
from onceonly.accounts.passwords import hash_password
from onceonly.accounts.principal import NODE_OPERATOR, Principal
from onceonly.accounts.sessions import revoke_user_sessions
from onceonly.accounts.tenancy import CENTRAL, Scope, tenant_of_agency
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
AGENCY_CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_]*")
CITIZEN_ROLE = "citizen"
CITIZEN_USERNAME_PREFIX = "citizen-"
"""A citizen's account is ``citizen-`` and the national ID in lower case, at
:data:`CITIZEN_AGENCY`, with no password: made only when the citizen signs in with their card
(:func:`onceonly.citizens.accounts.ensure_citizen`, through :func:`create_citizen`). No
administrator can make one, give it a password or a token: whoever could would give consent
and approve previews in the citizen's name, and the log would say the citizen did."""
CITIZEN_AGENCY = "public.citizen"
RESERVED_USERNAMES = frozenset({SELF, OPERATOR, NODE_OPERATOR})
"""Names that ``password_set_by`` and the audit log use for someone other than an account: an
account so named would pass for the holder or the operator."""
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
    """Who chose the current password: :data:`~onceonly.accounts.password_rules.SELF`,
    :data:`~onceonly.accounts.password_rules.OPERATOR` or an administrator's username;
    ``None`` when not recorded (or the account has no password)."""
    password_changed_at: datetime | None = None
    must_change_password: bool = False
    """Signing in with the current password opens only
    :data:`~onceonly.accounts.password_rules.PASSWORD_CHANGE_PATH`."""
    handed_over_at: datetime | None = None
    """The last time someone other than the holder set the password or re-enabled the
    account: since then its answers may not be its holder's."""
    system: bool = False
    """An agency system's account, not a person's (:func:`is_system_account`): it has no
    password and acts only by API tokens, which its administrators issue."""
    temporary_since: datetime | None = None
    """When someone else set the temporary password that stands
    (:func:`~onceonly.accounts.password_rules.temporary_since`)."""

    def temporary_until(self, days: int) -> datetime | None:
        """When that temporary password stops signing in; ``None`` when there is none."""
        return temporary_until(self.temporary_since, days)


def user_view(user: User) -> UserView:
    """The account as callers see it: a view, never the row."""
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
        temporary_since=temporary_since(user),
    )


def is_system_account(user: User) -> bool:
    """Whether ``user`` is an agency system's account rather than a person's: it has no
    password (``onceonly users create --no-password``, or the system box of ``/admin/users``),
    so nobody signs in to it and it acts only by API tokens. A citizen's account, also
    without a password, is a person's. The marker holds because nothing removes a password,
    and giving one (:func:`~onceonly.accounts.password_changes.set_password`) makes the
    account a person's and ends the tokens administrators issued for it."""
    return user.password_hash is None and user.role != CITIZEN_ROLE


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
        errors += password_errors(password, lang)
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
        system = _add_user(session, username, role, agency_code, display_name, None)
        if set_by is not None and set_by != SELF:
            made = session.get(User, system.id)
            assert made is not None
            audit_account_change(session, made, set_by, "account.made")
        return system
    setter = setter_name(set_by)
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
        audit_password_set(session, account, set_by, made=True)
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
    return user_view(user)


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
    return user_view(user) if user else None


def refuse_system_account(session: Session, username: str, detail: str, lang: str | None) -> None:
    """403 ``system-approver`` with ``detail`` (in words) when ``username`` is an agency
    system's account: a decision that lets someone read a citizen's data (a rule, a
    subscription) is a person's, not a token's that whoever holds it can use. A name that is
    no account (the demo's seed, trusted code) passes."""
    account = get_user(session, username)
    if account is not None and account.system:
        raise Problem(403, "system-approver", t("problem.forbidden", lang), detail)


def get_user_by_id(session: Session, user_id: int) -> UserView | None:
    user = session.get(User, user_id)
    return user_view(user) if user else None


def get_user_by_badge(session: Session, badge: str) -> UserView | None:
    """For the citizen portal's "who looked": badge number to account (for auditors)."""
    user = session.scalar(select(User).where(User.badge == badge.strip().upper()))
    return user_view(user) if user else None


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
    return [user_view(u) for u in session.scalars(query)]


def require_user(session: Session, user_id: int, lang: str | None) -> User:
    """The account's row, for a change to it; 404 when there is no such account."""
    user = session.get(User, user_id)
    if user is None:
        raise not_found(t("accounts.user.not_found", lang, user=user_id), lang)
    return user


def set_active(
    session: Session,
    user_id: int,
    active: bool,
    *,
    by: Principal | Literal["operator"],
    lang: str | None = None,
) -> UserView:
    """Disable or re-enable an account; a disabled account's sessions end at once and its
    tokens stop working (they answer 401 ``account-disabled``). A change is audited as done
    by ``by`` (``account.disabled`` / ``account.enabled``)."""
    user = require_user(session, user_id, lang)
    if active and not user.active:
        user.handed_over_at = utcnow()  # whoever re-enabled it may sign in as it
    if active != user.active:
        audit_account_change(session, user, by, "account.enabled" if active else "account.disabled")
    user.active = active
    if not active:
        revoke_user_sessions(session, user.id)
    session.flush()
    return user_view(user)


def for_update(query: Select[User]) -> Select[User]:
    """``query`` for a ``User`` row, locked until the transaction ends (``FOR UPDATE``; a
    no-op on SQLite, whose writers are serialised anyway) and read afresh even when the
    session already holds the account."""
    return query.with_for_update().execution_options(populate_existing=True)
