"""Citizens as accounts: one ``citizen`` account per national ID, made on first sign-in.

The account's username is ``citizen-`` and the national ID in lower case; it has no password
(citizens prove themselves with their card) and its agency code is :data:`CITIZEN_AGENCY`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from onceonly.accounts import users
from onceonly.accounts.principal import Principal
from onceonly.accounts.users import (
    CITIZEN_AGENCY,
    CITIZEN_ROLE,
    CITIZEN_USERNAME_PREFIX,
    UserView,
)
from onceonly.errors import Problem
from onceonly.i18n import t


def username_for(national_id: str) -> str:
    return CITIZEN_USERNAME_PREFIX + national_id.lower()


def national_id_of(principal: Principal | UserView) -> str | None:
    """The national ID a citizen account stands for; None for anyone else."""
    if (
        principal.role != CITIZEN_ROLE
        or principal.agency_code != CITIZEN_AGENCY
        or not principal.username.startswith(CITIZEN_USERNAME_PREFIX)
    ):
        return None
    return principal.username.removeprefix(CITIZEN_USERNAME_PREFIX).upper()


def ensure_citizen(
    session: Session, national_id: str, name: str, lang: str | None = None
) -> UserView:
    """The citizen's account, made on first sign-in (name from the certificate). An account
    of that name that is not a citizen's (made by an administrator before that was refused)
    is never handed to the card's holder: it is not theirs."""
    existing = users.get_user(session, username_for(national_id))
    if existing is None:
        return users.create_citizen(session, national_id, name or national_id)
    if national_id_of(existing) is None:
        raise Problem(
            409,
            "citizen-account-taken",
            t("citizens.signin.account_taken_title", lang),
            t("citizens.signin.account_taken", lang),
        )
    return existing
