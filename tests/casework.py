"""Open a real case for a demo clerk: every evidence request belongs to an open case of the
clerk's agency (``onceonly.policy.purpose``), so tests that post evidence requests open one
first, through the cases service as the counter does."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.users import get_user
from onceonly.cases import service as cases
from onceonly.db import transaction


def open_case(sessions: sessionmaker[Session], username: str, item: str, subject: str) -> str:
    """The number of a new open case of ``username``'s agency for ``item`` and ``subject``."""
    with transaction(sessions) as db:
        user = get_user(db, username)
        assert user is not None, username
        actor = cases.CaseActor(user.username, user.agency_code, user.role, user.badge)
        return cases.open_case(db, actor, application_item=item, subject=subject).number
