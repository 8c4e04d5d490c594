"""Citizens as accounts: one ``citizen`` account per national ID, made on first sign-in.

The account's username is ``citizen-`` and the national ID in lower case; it has no password
(citizens prove themselves with their card) and its agency code is :data:`CITIZEN_AGENCY`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from onceonly.accounts import service as accounts
from onceonly.accounts.service import Principal, UserView

USERNAME_PREFIX = "citizen-"
CITIZEN_AGENCY = "public.citizen"


def username_for(national_id: str) -> str:
    return USERNAME_PREFIX + national_id.lower()


def national_id_of(principal: Principal | UserView) -> str | None:
    """The national ID a citizen account stands for; None for anyone else."""
    if principal.role != "citizen" or not principal.username.startswith(USERNAME_PREFIX):
        return None
    return principal.username.removeprefix(USERNAME_PREFIX).upper()


def ensure_citizen(session: Session, national_id: str, name: str) -> UserView:
    """The citizen's account, made on first sign-in (name from the certificate)."""
    existing = accounts.get_user(session, username_for(national_id))
    if existing is not None:
        return existing
    return accounts.create_user(
        session,
        username_for(national_id),
        None,
        "citizen",
        CITIZEN_AGENCY,
        name[:100] or national_id,
    )
