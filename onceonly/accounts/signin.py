"""Signing in with a username and password (:func:`authenticate`), and the throttles that slow
down guessing: of one username from one address, from one address, of one username.

Like every accounts module it never commits, and an error leaves nothing behind, but for one
exception: a failed attempt is flushed before :func:`authenticate` raises, so that the caller
can commit the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from onceonly.accounts.models import LoginClientThrottle, LoginThrottle, User
from onceonly.accounts.password_rules import (
    temporary_expired,
    temporary_expired_problem,
    temporary_since,
)
from onceonly.accounts.passwords import verify_password
from onceonly.accounts.users import CITIZEN_ROLE, UserView, normalise_username, user_view
from onceonly.config import TEMPORARY_PASSWORD_DAYS
from onceonly.db import as_utc, utcnow
from onceonly.errors import Problem
from onceonly.i18n import t

MAX_FAILURES = 5
"""Failed sign-ins in a row of one username from one address before that pair is locked."""
LOCKOUT_SECONDS = 60


def _locked_out(kind: str, seconds: int, lang: str | None) -> Problem:
    """429 with ``Retry-After`` and, in words, whose failures locked what."""
    return Problem(
        429,
        "login-locked",
        t("accounts.login.locked_title", lang),
        t(f"accounts.login.locked_{kind}", lang, seconds=seconds),
        retry_after=seconds,
        extra={"locked": kind},
    )


@dataclass(frozen=True)
class _Limit:
    """One sign-in throttle: ``failures`` failed attempts within the window lock for
    ``seconds``."""

    kind: str
    failures: int
    seconds: int


PAIR_LIMIT = _Limit("pair", MAX_FAILURES, LOCKOUT_SECONDS)
"""One username from one address: the ordinary lockout, felt by whoever keeps failing."""
ADDRESS_LIMIT = _Limit("address", 20, 120)
"""One address, any usernames: slows trying many accounts once each. Generous, since an
agency's staff may share one address behind its gateway."""
USERNAME_LIMIT = _Limit("username", 10, 15)
"""One username, any addresses: a short back-off only, because anyone can fail a known
username's password and must not lock its owner out for long."""
FAILURE_WINDOW_SECONDS = 900
"""Failures older than this are forgotten."""


def _throttle_key(kind: str, username: str, address: str) -> str:
    if kind == "pair":
        return f"pair:{username}|{address}"[:200]
    return f"addr:{address}"[:200]


def _remaining(row: LoginThrottle | LoginClientThrottle | None, now: datetime) -> int:
    if row is None or row.locked_until is None:
        return 0
    seconds = (as_utc(row.locked_until) - now).total_seconds()
    return max(1, int(seconds + 0.999)) if seconds > 0 else 0


def _failure_row(
    session: Session, model: type[LoginThrottle] | type[LoginClientThrottle], key: str
) -> LoginThrottle | LoginClientThrottle:
    """The throttle row for ``key``, made if missing without racing a concurrent sign-in
    (an insert that ignores a conflict, then the row locked for update)."""
    column = "username" if model is LoginThrottle else "key"
    dialect = session.get_bind().dialect.name
    insert_of = sqlite_insert if dialect == "sqlite" else postgresql_insert
    session.execute(insert_of(model).values({column: key, "failures": 0}).on_conflict_do_nothing())
    row = session.get(model, key, with_for_update=True, populate_existing=True)
    assert isinstance(row, LoginThrottle | LoginClientThrottle)
    return row


def _count_failure(row: LoginThrottle | LoginClientThrottle, limit: _Limit, now: datetime) -> int:
    """Count one failure; the lock in seconds it starts, or 0."""
    last = row.last_failure_at
    if last is None or (now - as_utc(last)).total_seconds() > FAILURE_WINDOW_SECONDS:
        row.failures = 0
    row.failures = (row.failures or 0) + 1
    row.last_failure_at = now
    if row.failures >= limit.failures:
        row.failures = 0
        row.locked_until = now + timedelta(seconds=limit.seconds)
        return limit.seconds
    return 0


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    address: str | None = None,
    now: datetime | None = None,
    lang: str | None = None,
    temporary_days: int = TEMPORARY_PASSWORD_DAYS,
) -> UserView:
    """Check a username and password from the client at ``address``.

    Raises :class:`Problem` 401 ``login-failed`` (the same for an unknown user and a wrong
    password), 403 ``account-disabled``, 403
    :data:`~onceonly.accounts.password_rules.TEMPORARY_EXPIRED` when the password is right
    but is a temporary one set more than ``temporary_days`` ago
    (``Settings.temporary_password_days``; said only to whoever knows the password, so a
    stranger learns nothing the usual failure does not tell; no guess failed, so no throttle
    counts it), or 429 ``login-locked`` with ``retry_after`` and
    ``locked`` naming the throttle: ``pair`` after :data:`MAX_FAILURES` failures of this
    username from this address, ``address`` after many from the address whatever the
    usernames, ``username`` (briefly) after many of the username from anywhere. A failure is
    flushed before raising; commit it (catch the problem inside the transaction) or the
    throttles never count.
    """
    now = now or utcnow()
    username = normalise_username(username)[:64]
    address = (address or "unknown")[:100]
    pair_key = _throttle_key("pair", username, address)
    address_key = _throttle_key("address", username, address)
    locks = [
        (_remaining(session.get(LoginClientThrottle, address_key), now), "address"),
        (_remaining(session.get(LoginClientThrottle, pair_key), now), "pair"),
        (_remaining(session.get(LoginThrottle, username), now), "username"),
    ]
    seconds, kind = max(locks)
    if seconds:
        raise _locked_out(kind, seconds, lang)
    user = session.scalar(select(User).where(User.username == username))
    # a citizen signs in with their card only, even if an account of theirs has a password
    # (one made by an administrator before that was refused): failed, as for anyone unknown
    known = user.password_hash if user and user.role != CITIZEN_ROLE else None
    result = verify_password(known, password)
    if not result.ok:
        started = [
            (_count_failure(_failure_row(session, model, key), limit, now), limit.kind)
            for model, key, limit in (
                (LoginClientThrottle, pair_key, PAIR_LIMIT),
                (LoginClientThrottle, address_key, ADDRESS_LIMIT),
                (LoginThrottle, username, USERNAME_LIMIT),
            )
        ]
        session.flush()
        seconds, kind = max(started)
        if seconds:
            raise _locked_out(kind, seconds, lang)
        raise Problem(401, "login-failed", t("accounts.login.failed", lang))
    assert user is not None
    if not user.active:
        raise Problem(403, "account-disabled", t("accounts.account.disabled", lang))
    if temporary_expired(temporary_since(user), temporary_days, now):
        raise temporary_expired_problem(temporary_days, lang)
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))
    session.execute(delete(LoginClientThrottle).where(LoginClientThrottle.key == pair_key))
    if result.new_hash is not None:
        user.password_hash = result.new_hash
    session.flush()
    return user_view(user)


def lift_throttles(session: Session, username: str) -> None:
    """Forget the failed sign-ins of ``username``, from every address (its password was set
    anew)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))
    pairs = LoginClientThrottle.key.like(_escape_like(f"pair:{username}|") + "%", escape="\\")
    session.execute(delete(LoginClientThrottle).where(pairs))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
