"""Setting and changing passwords: an administrator or the node's operator sets one for the
holder (temporary: signing in with it opens only the change-password page), the holder
changes it to their own, and the operator can demand a change at the next sign-in. What a
password must be, and when a temporary one expires, is :mod:`onceonly.accounts.password_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.api_tokens import revoke_live
from onceonly.accounts.audit_entries import (
    account_details,
    audit_password_set,
    operator_credential,
    setter_for_audit,
)
from onceonly.accounts.models import ApiToken, User
from onceonly.accounts.password_rules import (
    PASSWORD_CHANGE_PATH,
    SELF,
    password_errors,
    setter_name,
)
from onceonly.accounts.passwords import hash_password
from onceonly.accounts.principal import NODE_OPERATOR, Principal
from onceonly.accounts.sessions import revoke_user_sessions
from onceonly.accounts.signin import authenticate, lift_throttles
from onceonly.accounts.users import (
    CITIZEN_ROLE,
    UserView,
    for_update,
    normalise_username,
    require_user,
    user_view,
)
from onceonly.audit.log import AuditRecord, append
from onceonly.config import TEMPORARY_PASSWORD_DAYS
from onceonly.db import utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t


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
    made in their name (:func:`~onceonly.accounts.api_tokens.issue_api_token`). The holder
    makes new ones once they have set their own password. The account's row is locked
    (``FOR UPDATE``) so that a token being issued concurrently is either refused or revoked
    here.

    An administrator changes their own password as everyone does, with the current one
    (409 ``own-account`` here)."""
    user = session.scalar(
        for_update(select(User).where(User.username == normalise_username(username)))
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
    errors = password_errors(password, lang)
    if errors:
        raise validation_problem(errors, lang)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.password_set_by = setter_name(by)
    user.must_change_password = True
    user.handed_over_at = user.password_changed_at
    revoke_user_sessions(session, user.id)
    lift_throttles(session, user.username)
    revoked = [token.id for token, _user in revoke_live(session, ApiToken.user_id == user.id)]
    session.flush()
    audit_password_set(session, user, by, made=False, tokens_revoked=revoked)
    return user_view(user)


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
                details={"credential": operator_credential(), "account": account_details(user)},
            ),
        )
    session.flush()
    return [user_view(user) for user in users]


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
    :data:`~onceonly.accounts.password_rules.TEMPORARY_EXPIRED`).
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
    user = require_user(session, principal.user_id, lang)
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
        errors += password_errors(new, lang, "new_password")
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
                "account": account_details(user),
                "previously_set_by": setter_for_audit(session, previous),
                "was_temporary": was_temporary,
                "other_sessions_ended": ended,
            },
        ),
    )
    return ended


def password_set_by(session: Session, user_id: int) -> str | None:
    """Who chose the account's current password: :data:`SELF` (its holder), :data:`OPERATOR`
    or the username of the administrator who set it; ``None`` when nobody recorded it
    (accounts made before migration 0029 or without saying, see
    :func:`~onceonly.accounts.users.create_user`) or the account has no password or does not
    exist.

    For a capability that must act only on the holder's own word (the staff survey): refuse
    a browser session unless this is :data:`SELF` (or ``None``, as that capability decides
    for accounts older than the record). While someone else's password stands the session
    reaches nothing but the change-password page anyway; this is the check that holds
    wherever the session is read."""
    return session.scalar(select(User.password_set_by).where(User.id == user_id))
