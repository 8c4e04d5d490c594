"""Where each role starts after signing in: the page with the work that role comes for.

A clerk's is the counter queue, a data owner's the rules to decide, an auditor's the flags
citizens raised, an administrator's (a tenant's or the platform's) the accounts page, and a
citizen's their own page. The site's ``/`` sends a signed-in person there too. A clerk of a
1999 hotline (an agency of kind :data:`HOTLINE_KIND`) takes calls, so theirs is the intake page.
"""

from __future__ import annotations

ROLE_HOMES: dict[str, str] = {
    "clerk": "/counter",
    "owner": "/owners/rules",
    "auditor": "/audit/flags",
    "admin": "/admin/users",
    "citizen": "/me",
}
HOTLINE_KIND = "hotline_1999"
HOTLINE_HOME = "/hotline"


def home_of(role: str, agency_code: str | None = None) -> str:
    """The page ``role`` (of ``agency_code``) lands on; ``/`` for a role without one."""
    if role == "clerk" and (agency_code or "").endswith("." + HOTLINE_KIND):
        return HOTLINE_HOME
    return ROLE_HOMES.get(role, "/")
