"""The rules a password follows: how long a new one may be, who chose it (its holder, the
node's operator or an administrator), and when one someone else chose (a temporary password)
stops signing in. Hashing is :mod:`onceonly.accounts.passwords`; setting and changing a
password, :mod:`onceonly.accounts.password_changes`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from onceonly.accounts.models import User
from onceonly.accounts.principal import Principal
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
SELF: Literal["self"] = "self"
"""``password_set_by`` of a password the account's holder chose."""
OPERATOR: Literal["operator"] = "operator"
"""``password_set_by`` of a password the node's operator set (``onceonly users create`` or
``set-password``)."""
PasswordSetter = Literal["self", "operator"]
"""Who chose a password when it was not a signed-in administrator: the holder or the operator."""
PASSWORD_CHANGE_PATH = "/account/password"
"""The one page a session signed in with a temporary password may open (with sign-out)."""
TEMPORARY_EXPIRED = "temporary-password-expired"
"""The problem ``kind`` of a sign-in, or a session, refused because its temporary password is
older than ``Settings.temporary_password_days``."""


def password_errors(
    password: str | None, lang: str | None, field: str = "password"
) -> list[FieldError]:
    """The account rules for a new password (the one place they are written), reported on
    ``field``."""
    if password is None:
        return []
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = t("accounts.password.too_short", lang, min=MIN_PASSWORD_LENGTH)
        return [FieldError(field, reason, "too_short")]
    if len(password) > MAX_PASSWORD_LENGTH:
        reason = t("accounts.password.too_long", lang, max=MAX_PASSWORD_LENGTH)
        return [FieldError(field, reason, "too_long")]
    return []


def check_new_password(password: str, lang: str | None = None) -> None:
    """Refuse (422, field ``password``) a password ``create_user`` would refuse, before a
    caller such as ``onceonly init`` does anything else."""
    errors = password_errors(password, lang)
    if errors:
        raise validation_problem(errors, lang)


def setter_name(set_by: Principal | PasswordSetter | None) -> str | None:
    """What ``users.password_set_by`` stores for ``set_by``."""
    if isinstance(set_by, Principal):
        return set_by.username
    return set_by


def temporary_since(user: User) -> datetime | None:
    """When someone other than the holder (an administrator, the operator) set the account's
    password, while it is still temporary; ``None`` otherwise. A password its holder chose, or
    whose setter was not recorded, that is only marked for change
    (:func:`~onceonly.accounts.password_changes.require_password_change`) is not known to be
    anyone else's and never expires: expiring it would lock out every account an operator
    marks after upgrading."""
    if not user.must_change_password or user.password_set_by in (None, SELF):
        return None
    return as_utc(user.password_changed_at) if user.password_changed_at else None


def temporary_until(since: datetime | None, days: int) -> datetime | None:
    """When a temporary password set at ``since`` stops signing in: ``days``
    (``Settings.temporary_password_days``) later; ``None`` when there is none."""
    return since + timedelta(days=days) if since is not None else None


def temporary_expired(since: datetime | None, days: int, now: datetime | None = None) -> bool:
    """Whether a temporary password set at ``since`` no longer signs in (see
    :func:`temporary_until`)."""
    until = temporary_until(since, days)
    return until is not None and until <= (now or utcnow())


def temporary_expired_problem(days: int, lang: str | None) -> Problem:
    """403 :data:`TEMPORARY_EXPIRED`: the reason, in words, and whom to ask."""
    return Problem(
        403,
        TEMPORARY_EXPIRED,
        t("accounts.login.temporary_expired_title", lang),
        t("accounts.login.temporary_expired", lang, days=days),
    )
