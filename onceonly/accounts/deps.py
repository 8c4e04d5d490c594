"""FastAPI dependencies that say who is calling and whether they may.

A route that needs a signed-in caller declares ``user: Principal = Depends(current_user)`` (or
``CurrentUser``), or ``Depends(require_roles("clerk"))``. People prove themselves with the
session cookie, agency systems with ``Authorization: Bearer <token>``. Requests from a cookie
session that change something (POST, PUT, PATCH, DELETE) must carry the session's anti-forgery
token, as the form field ``csrf_token`` or the header ``X-CSRF-Token``; token requests are
exempt since a browser never attaches a bearer token on its own.

Without credentials an API route answers a 401 problem document and a page redirects (303)
to ``/login?next=<the page>``.

A browser session signed in with a password someone else set (``must_change_password``)
reaches only the change-password page, sign-out and the sign-in page
(:data:`OPEN_WHILE_TEMPORARY`): any other page redirects (303) to the change-password page,
any other API call answers 403 ``password-change-required`` in words. No token is held
back here: setting a password someone else chose revokes every token of the account, and
its holder makes new ones only from a session that has set its own. Such a session ends once
that password is older than ``Settings.temporary_password_days``, as a sign-in with it is
refused then: a page goes to the sign-in page, which says why
(:data:`EXPIRED_QUERY`), an API call gets 401 ``temporary-password-expired`` in words.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, NoReturn
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from onceonly import cache_versions
from onceonly.accounts.password_rules import (
    PASSWORD_CHANGE_PATH,
    TEMPORARY_EXPIRED,
    temporary_expired,
    temporary_expired_problem,
)
from onceonly.accounts.principal import Principal
from onceonly.accounts.sessions import resolve_session, revoke_session
from onceonly.accounts.token_cache import token_cache
from onceonly.db import transaction
from onceonly.errors import Problem
from onceonly.i18n import t
from onceonly.web.deps import get_language, get_session_factory, get_settings
from onceonly.web.errors import CALLER_NOT_CHECKED, wants_html

SESSION_COOKIE = "onceonly_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_WHILE_TEMPORARY: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", PASSWORD_CHANGE_PATH),
        ("POST", PASSWORD_CHANGE_PATH),
        ("POST", "/logout"),
        ("GET", "/login"),
    }
)
"""(method, path) a session with a temporary password may still call; HEAD follows GET."""
EXPIRED_QUERY = "temporary_expired"
"""``/login?temporary_expired=1``: the sign-in page saying that the session just ended because
its temporary password expired."""


def set_session_cookie(response: Response, request: Request, token: str, minutes: int) -> None:
    """The browser session cookie, set the same way for staff and citizen sign-in: HTTP-only,
    same-site lax, secure whenever the page was served over HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


_bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="API token of an agency system (`onceonly users issue-token`).",
)
_cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="Browser session after signing in at /login.",
)

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentUser",
    "OptionalUser",
    "PendingToken",
    "Principal",
    "current_user",
    "optional_user",
    "require_roles",
    "require_roles_in_worker",
]


async def _check_csrf(request: Request, principal: Principal, lang: str) -> None:
    supplied = request.headers.get(CSRF_HEADER)
    if not supplied:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            supplied = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not supplied or not expected or not hmac.compare_digest(supplied, expected):
        raise Problem(403, "csrf", t("accounts.csrf.title", lang), t("accounts.csrf.detail", lang))


def _hold_temporary(request: Request, principal: Principal, lang: str) -> None:
    """Refuse every request of a session signed in with a password someone else set, but
    those of :data:`OPEN_WHILE_TEMPORARY`: a page is sent to the change-password page, an API
    call gets 403 ``password-change-required``."""
    if not principal.must_change_password or principal.auth_method != "session":
        return
    method = "GET" if request.method == "HEAD" else request.method
    if (method, request.url.path) in OPEN_WHILE_TEMPORARY:
        return
    title = t("accounts.password.change_first_title", lang)
    if wants_html(request):
        raise HTTPException(303, title, {"Location": PASSWORD_CHANGE_PATH})
    raise Problem(
        403,
        "password-change-required",
        title,
        t("accounts.password.change_first", lang, path=PASSWORD_CHANGE_PATH),
        extra={"change_password_at": PASSWORD_CHANGE_PATH},
    )


def _resolve_token(request: Request, token: str, lang: str) -> Principal:
    sessions = get_session_factory(request)
    with sessions() as db:
        versions = cache_versions.read(db)
    return token_cache(request.app.state).resolve(sessions, token, lang=lang, versions=versions)


def _resolve_cookie(request: Request, token: str) -> tuple[Principal | None, bool]:
    """The session's person (or ``None``), and whether the session was ended just now because
    the temporary password it signed in with expired."""
    days = get_settings(request).temporary_password_days
    with transaction(get_session_factory(request)) as db:
        principal = resolve_session(db, token)
        if principal is not None and temporary_expired(principal.temporary_since, days):
            revoke_session(db, token)
            return None, True
        return principal, False


def _temporary_ended(request: Request, lang: str) -> NoReturn:
    """Tell a session ended by :func:`_resolve_cookie` why: a page goes to the sign-in page,
    which says it; an API call gets 401 :data:`TEMPORARY_EXPIRED`."""
    if wants_html(request):
        title = t("accounts.login.temporary_expired_title", lang)
        raise HTTPException(303, title, {"Location": f"/login?{EXPIRED_QUERY}=1"})
    expired = temporary_expired_problem(get_settings(request).temporary_password_days, lang)
    raise Problem(401, TEMPORARY_EXPIRED, expired.title, expired.detail)


async def optional_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    cookie: Annotated[str | None, Depends(_cookie_scheme)],
) -> Principal | None:
    """The caller, or None when nobody is signed in. A bearer token that is presented but not
    valid is still refused (401 with the reason): the caller meant to authenticate."""
    lang = get_language(request)
    principal: Principal | None = None
    if bearer is not None:
        principal = await run_in_threadpool(_resolve_token, request, bearer.credentials, lang)
    elif cookie:
        principal, ended = await run_in_threadpool(_resolve_cookie, request, cookie)
        if ended:
            _temporary_ended(request, lang)
        if principal is not None and request.method in UNSAFE_METHODS:
            await _check_csrf(request, principal, lang)
        if principal is not None:
            _hold_temporary(request, principal, lang)
    if principal is not None:
        request.state.user = principal
    return principal


def login_location(request: Request) -> str:
    """Where to send a person who must sign in first, coming back here afterwards."""
    if request.method not in ("GET", "HEAD"):
        return "/login"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


async def current_user(
    request: Request, principal: Annotated[Principal | None, Depends(optional_user)]
) -> Principal:
    """The signed-in caller; otherwise 401 ``unauthenticated`` (API) or a redirect to the
    sign-in page (pages)."""
    if principal is not None:
        return principal
    lang = get_language(request)
    if wants_html(request):
        raise HTTPException(
            303, t("problem.unauthenticated", lang), {"Location": login_location(request)}
        )
    raise Problem(
        401,
        "unauthenticated",
        t("problem.unauthenticated", lang),
        t("accounts.auth.required", lang),
    )


def _admit(request: Request, user: Principal, roles: tuple[str, ...]) -> Principal:
    """``user`` when their role is one of ``roles``; otherwise 403 naming the role needed."""
    if user.role in roles:
        return user
    lang = get_language(request)
    needed = "、".join(t(f"accounts.role.{r}", lang) for r in roles)
    raise Problem(
        403,
        "forbidden",
        t("problem.forbidden", lang),
        t(
            "accounts.role.required",
            lang,
            roles=needed,
            role=t(f"accounts.role.{user.role}", lang),
        ),
        extra={"required_roles": list(roles), "role": user.role},
    )


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers with one of ``roles``; others get 403 naming the
    role needed. No role implies another: an admin is not a clerk."""
    if not roles:
        raise ValueError("require_roles needs at least one role")

    async def dependency(
        request: Request, user: Annotated[Principal, Depends(current_user)]
    ) -> Principal:
        return _admit(request, user, roles)

    return dependency


@dataclass(frozen=True)
class PendingToken:
    """A bearer token not looked up yet: the route resolves it in the worker thread that does
    its work, against the cache counters that work reads anyway. That saves the hot path
    (``POST /api/v1/evidence-requests``) a trip to a thread and a database session; the
    checks are :func:`require_roles`'s, so a revoked token or a changed role still stops the
    very request that follows the change."""

    request: Request
    token: str
    roles: tuple[str, ...]

    def principal(
        self,
        versions: cache_versions.Versions | None,
        release: Callable[[], object] | None = None,
    ) -> Principal:
        """The caller, admitted (401 or 403 otherwise); ``versions``: the counters this
        request's work read (``None``: read them now); ``release``: hands back the connection
        that work holds, before a token the cache lacks is looked up on one of its own."""
        request = self.request
        user = token_cache(request.app.state).resolve(
            get_session_factory(request),
            self.token,
            lang=get_language(request),
            versions=versions,
            before_lookup=release,
        )
        request.state.user = user
        return _admit(request, user, self.roles)

    def check(self) -> None:
        """:meth:`principal` against counters read now, for an answer given before the
        work runs (the body did not validate)."""
        self.principal(None)


def require_roles_in_worker(*roles: str) -> Callable[..., Awaitable[Principal | PendingToken]]:
    """:func:`require_roles` for a route whose work runs in one worker thread: a bearer token
    comes back as a :class:`PendingToken` for that thread to resolve; a browser session (and
    its anti-forgery check) is resolved here as usual."""
    if not roles:
        raise ValueError("require_roles_in_worker needs at least one role")

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
        cookie: Annotated[str | None, Depends(_cookie_scheme)],
    ) -> Principal | PendingToken:
        if bearer is not None:
            pending = PendingToken(request, bearer.credentials, roles)
            setattr(request.state, CALLER_NOT_CHECKED, pending.check)
            return pending
        user = await current_user(request, await optional_user(request, None, cookie))
        return _admit(request, user, roles)

    return dependency


CurrentUser = Annotated[Principal, Depends(current_user)]
OptionalUser = Annotated[Principal | None, Depends(optional_user)]
