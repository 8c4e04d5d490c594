"""What ``onceonly.accounts.service`` used to hold now lives in modules of one idea each:

* :mod:`~onceonly.accounts.principal`: who is making a request (``Principal``);
* :mod:`~onceonly.accounts.users`: accounts, their views, badges, citizens' accounts;
* :mod:`~onceonly.accounts.password_rules`: what a password must be, who chose it, when a
  temporary one expires;
* :mod:`~onceonly.accounts.password_changes`: setting and changing passwords;
* :mod:`~onceonly.accounts.signin`: signing in and its throttles;
* :mod:`~onceonly.accounts.sessions`: browser sessions;
* :mod:`~onceonly.accounts.api_tokens`: API tokens;
* :mod:`~onceonly.accounts.audit_entries`: what every ``account.*`` audit entry says alike;
* :mod:`~onceonly.accounts.demo_accounts`: the demo's accounts.

This module only re-exports the names a few callers still import from here; import from the
modules above instead.
"""

from __future__ import annotations

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.demo_accounts import DEMO_PASSWORD
from onceonly.accounts.principal import Principal
from onceonly.accounts.sessions import create_session, revoke_session
from onceonly.accounts.users import (
    CITIZEN_AGENCY,
    CITIZEN_ROLE,
    CITIZEN_USERNAME_PREFIX,
    UserView,
    create_citizen,
    create_user,
    get_user,
)

__all__ = [
    "CITIZEN_AGENCY",
    "CITIZEN_ROLE",
    "CITIZEN_USERNAME_PREFIX",
    "DEMO_PASSWORD",
    "Principal",
    "UserView",
    "create_citizen",
    "create_session",
    "create_user",
    "get_user",
    "issue_api_token",
    "revoke_session",
]
