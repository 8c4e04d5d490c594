"""Who is making a request (:class:`Principal`), however they proved it, and what the two
kinds of credential that prove it (a browser session, :mod:`onceonly.accounts.sessions`; an
API token, :mod:`onceonly.accounts.api_tokens`) have in common: how the secret is stored and
how often its use is recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onceonly.accounts.models import User

SESSION_TOUCH_SECONDS = 60
"""``last_seen_at`` / ``last_used_at`` are written at most this often per credential."""
NODE_OPERATOR = "node-operator"
"""``issued_by`` of a token made by the node's own tools (``onceonly users issue-token``, the
demo seed) rather than by a signed-in administrator."""


@dataclass(frozen=True)
class Principal:
    """Who is making this request, however they proved it."""

    user_id: int
    username: str
    display_name: str
    role: str
    agency_code: str
    badge: str
    auth_method: str
    """``session`` (a person's browser) or ``token`` (an agency system)."""
    token_id: int | None = None
    """The API token's id when ``auth_method == "token"``."""
    csrf_token: str | None = None
    """The session's anti-forgery token; forms post it as ``csrf_token``."""
    session_id: int | None = None
    """The browser session's id when ``auth_method == "session"``."""
    issued_by: str | None = None
    """Who made the credential: the account itself for a sign-in session, the administrator
    who issued an API token, or :data:`NODE_OPERATOR` for one issued by the node's own tools."""
    issuer_badge: str | None = None
    """The issuing administrator's badge, which is what the audit log records of them."""
    must_change_password: bool = False
    """A browser session signed in with a password someone else set: it may only change it
    (:data:`~onceonly.accounts.password_rules.PASSWORD_CHANGE_PATH`) or sign out. Always
    ``False`` for an API token."""
    temporary_since: datetime | None = None
    """For such a session, when that password was set
    (:func:`~onceonly.accounts.password_rules.temporary_since`): the session ends with it,
    ``Settings.temporary_password_days`` later. ``None`` for an API token."""

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def credential(self) -> dict[str, Any]:
        """Which credential made this request and who issued it, as every audit entry written
        on this caller's behalf records it (in ``details["credential"]``, under the entry
        hash): a token used by someone other than its account's owner shows who minted it."""
        ident = self.token_id if self.auth_method == "token" else self.session_id
        return {"kind": self.auth_method, "id": ident, "issued_by": self.audit_issuer}

    @property
    def audit_issuer(self) -> str | None:
        """The issuer as the audit log may name it. The entry hash covers it and the proof a
        citizen downloads carries it, so it is never a staff username: ``self`` for the
        account's own credential, the issuing administrator's badge (auditors resolve badges
        to accounts), or :data:`NODE_OPERATOR`."""
        if self.issued_by in (None, NODE_OPERATOR):
            return self.issued_by
        if self.issued_by == self.username:
            return "self"
        return f"badge:{self.issuer_badge}" if self.issuer_badge else "another-account"


def hash_secret(value: str) -> str:
    """What a credential's secret (a session cookie, an API token) is stored and looked up as:
    its SHA-256 in hex; the secret itself is kept nowhere."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def principal_for(user: User, auth_method: str, **extra: Any) -> Principal:
    """``user`` as the caller, proved by ``auth_method`` (``session`` or ``token``); ``extra``
    are the credential's own fields (its id, who issued it, ...)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agency_code=user.agency_code,
        badge=user.badge or "",
        auth_method=auth_method,
        **extra,
    )
