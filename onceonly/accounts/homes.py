"""Where each role starts after signing in: the page with the work that role comes for.

A clerk's is the counter queue, a data owner's the rules to decide, an auditor's the flags
citizens raised, an administrator's (a tenant's or the platform's) the accounts page, and a
citizen's their own page. The site's ``/`` sends a signed-in person there too.
"""

from __future__ import annotations

ROLE_HOMES: dict[str, str] = {
    "clerk": "/counter",
    "owner": "/owners/rules",
    "auditor": "/audit/flags",
    "admin": "/admin/users",
    "citizen": "/me",
}


def home_of(role: str) -> str:
    """The page ``role`` lands on; ``/`` for a role without one (none today)."""
    return ROLE_HOMES.get(role, "/")
