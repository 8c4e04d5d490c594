"""API tokens, the bearer credentials a program acts with: issuing one and the rules of who may
issue it for whom (a person's only that person, signed in; a system account's its
administrators or the node's operator), finding the account behind one, listing and revoking
them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from onceonly.accounts.audit_entries import (
    account_details,
    actor_and_credential,
    actor_fields,
    operator_credential,
    setter_for_audit,
)
from onceonly.accounts.models import ApiToken, User
from onceonly.accounts.password_rules import OPERATOR
from onceonly.accounts.principal import (
    NODE_OPERATOR,
    SESSION_TOUCH_SECONDS,
    Principal,
    hash_secret,
    principal_for,
)
from onceonly.accounts.users import CITIZEN_ROLE, UserView, for_update, is_system_account
from onceonly.audit.log import AuditRecord, append
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t

MAX_TOKEN_DAYS = 3650
API_TOKEN_PREFIX = "oot_"


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
    being set concurrently (:func:`~onceonly.accounts.password_changes.set_password`) either
    comes first, and the account is a person's here, or after, and revokes the token. Every
    token issued gets an ``account.token_issued`` audit entry naming the account, the token
    and the issuing credential."""
    user_id = user if isinstance(user, int) else user.id
    owner = session.scalar(for_update(select(User).where(User.id == user_id)))
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
        token_hash=hash_secret(plain),
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
        actor, credential = actor_and_credential(issuer if issuer is not None else OPERATOR)
    else:
        assert creator is not None
        actor = actor_fields(creator.username, creator.badge, creator.role, creator.agency_code)
        issued_by = (
            "self" if creator.id == owner.id else setter_for_audit(session, creator.username)
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
                "account": account_details(owner),
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
    return hash_secret(plain.strip())


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
    return principal_for(
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
    return revoke_live(
        session,
        ApiToken.created_by_id.is_not(None),
        ApiToken.created_by_id != ApiToken.user_id,
        or_(User.password_hash.is_not(None), User.role == CITIZEN_ROLE),
        now=now,
    )


def revoke_live(
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
                    "credential": operator_credential(),
                    "account": account_details(user),
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
