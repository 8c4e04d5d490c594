"""What every ``account.*`` audit entry says in the same way, whichever module writes it: who
acted (the ``actor_*`` fields), with which credential, on which account, and who had set a
password, each named as the log may name it. ``account.password_set`` is written here, since
both making an account and setting its password write it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.models import User
from onceonly.accounts.password_rules import OPERATOR, SELF
from onceonly.accounts.principal import NODE_OPERATOR, Principal
from onceonly.audit.log import AuditRecord, append
from onceonly.i18n import t


def account_details(user: User) -> dict[str, Any]:
    """The account an ``account.*`` entry is about, as auditors resolve it (badge, not name)."""
    return {"id": user.id, "badge": user.badge, "role": user.role, "agency": user.agency_code}


def operator_credential() -> dict[str, Any]:
    """``details["credential"]`` of an entry the node's operator caused from the command
    line (or the node's set-up code)."""
    return {"kind": "command-line", "id": None, "issued_by": NODE_OPERATOR}


def actor_and_credential(
    by: Principal | Literal["operator"],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``actor_*`` fields of an ``account.*`` entry and its credential: the signed-in
    caller ``by``, or the node's operator."""
    if isinstance(by, Principal):
        return actor_fields(by.username, by.badge, by.role, by.agency_code), by.credential
    return actor_fields(NODE_OPERATOR, None, None, None), operator_credential()


def actor_fields(
    username: str, badge: str | None, role: str | None, agency: str | None
) -> dict[str, Any]:
    """The ``actor_*`` fields of an audit entry (an empty badge is none)."""
    return {
        "actor_username": username,
        "actor_badge": badge or None,
        "actor_role": role,
        "actor_agency": agency,
    }


def setter_for_audit(session: Session, setter: str | None) -> str | None:
    """``password_set_by`` as the audit log may name it: never a staff username (see
    :attr:`~onceonly.accounts.principal.Principal.audit_issuer`), an administrator by badge."""
    if setter is None or setter == SELF:
        return setter
    if setter == OPERATOR:
        return NODE_OPERATOR
    badge = session.scalar(select(User.badge).where(User.username == setter))
    return f"badge:{badge}" if badge else "another-account"


def audit_password_set(
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
    actor, credential = actor_and_credential(by)
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
                "account": account_details(user),
                "made": made,
                "temporary": True,
                "tokens_revoked": list(tokens_revoked),
            },
        ),
    )


def audit_account_change(
    session: Session,
    user: User,
    by: Principal | Literal["operator"],
    event: Literal["account.made", "account.disabled", "account.enabled"],
) -> None:
    """``event`` about ``user`` by ``by``: an agency system's account made (a person's is
    ``account.password_set`` with ``made``), or any account disabled or enabled. The
    tenant's auditors see it through the account's agency, so an administrator who locks out
    a city's auditor or owner, or makes a system account there, is on their record."""
    actor, credential = actor_and_credential(by)
    key = "accounts.audit." + event.partition(".")[2]
    words = {
        lang: t(key, lang, badge=user.badge, role=t(f"accounts.role.{user.role}", lang))
        for lang in ("zh-TW", "en")
    }
    append(
        session,
        AuditRecord(
            event=event,
            **actor,
            owner_agency=user.agency_code,
            reason_zh=words["zh-TW"],
            reason_en=words["en"],
            details={"credential": credential, "account": account_details(user)},
        ),
    )
