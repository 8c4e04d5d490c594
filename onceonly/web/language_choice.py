"""A reader's choice of language: remembered from ``?lang=`` on any page, and the header's
switch to the other language, which keeps the reader where they are.

:func:`onceonly.web.deps.get_language` reads ``?lang=`` first, then the ``lang`` cookie;
:class:`LanguageCookieMiddleware` writes that cookie, in one place for every page (it used
to be written by the counter's pages and the sign-in only, so English chosen on the front
page was gone on the next). :func:`lang_href` is the switch's address: this page, its query
(a search's filters) kept, only ``lang`` replaced; or, on the answer to a form, whose
address may take only the form (a GET of it is a 405), the page the form belongs to.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import quote, urlencode

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import Request, cookie_parser
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.i18n import LANGUAGES

LANG_COOKIE = "lang"
API_PREFIX = "/api/"
READING_METHODS = ("GET", "HEAD")
MAX_LEVELS_UP = 8
"""How far up the path :func:`page_of` looks for a page (the deepest form address is five
levels down); past that, the front page."""
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
"""Characters a path keeps as they are (RFC 3986 pchar); anything else is %-escaped."""


def lang_cookie(chosen: str, https: bool) -> str:
    """The ``Set-Cookie`` value remembering ``chosen``: for the whole site, not readable by
    scripts, sent on a link followed from another site (SameSite=Lax: the language is no
    secret), secure over HTTPS. A browser session's cookie, as it always was."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[LANG_COOKIE] = chosen
    morsel = cookie[LANG_COOKIE]
    morsel["path"] = "/"
    morsel["samesite"] = "Lax"
    morsel["httponly"] = True
    if https:
        morsel["secure"] = True
    return morsel.OutputString()


def _for_a_person(scope: Scope, message: Message) -> bool:
    """Whether the answer is one a browser shows or follows: a page, or (outside the API) a
    redirect, as after signing in. An API answer never carries the cookie: its callers say
    their language on every request."""
    status = int(message["status"])
    content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
    if content_type.startswith("text/html"):
        return True
    return 300 <= status < 400 and not scope["path"].startswith(API_PREFIX)


class LanguageCookieMiddleware:
    """Remembers a language chosen with ``?lang=`` (one the site has, nothing else) in the
    ``lang`` cookie, on the answer to any page; once: not again while the cookie says so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = QueryParams(scope.get("query_string", b"")).get("lang")
        if chosen not in LANGUAGES:
            await self.app(scope, receive, send)
            return
        remembered = cookie_parser(Headers(scope=scope).get("cookie", "")).get(LANG_COOKIE)
        if remembered == chosen:
            await self.app(scope, receive, send)
            return
        cookie = lang_cookie(chosen, scope.get("scheme") == "https")

        async def send_remembering(message: Message) -> None:
            if message["type"] == "http.response.start" and _for_a_person(scope, message):
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_remembering)


def answers_get(request: Request, path: str) -> bool:
    """Whether a GET of ``path`` reaches a route of the app (not a 404 or a 405)."""
    app = request.scope.get("app")
    if app is None:
        return True
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": request.scope.get("root_path", ""),
        "query_string": b"",
        "headers": [],
    }
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def page_of(request: Request) -> str:
    """The page this request's address belongs to, as a link: the address itself when it
    answers GET, else the nearest one above it that does (``/counter/cases/X/decide``
    belongs to ``/counter/cases/X``), else the front page."""
    return _as_link(_page_path(request))


def _page_path(request: Request) -> str:
    path = _on_this_site(request.scope["path"])
    if answers_get(request, path):
        return path
    parts = path.rstrip("/").split("/")
    for _ in range(MAX_LEVELS_UP):
        parts.pop()
        if len(parts) <= 1:
            break
        above = "/".join(parts)
        if answers_get(request, above):
            return above
    return "/"


def _on_this_site(path: str) -> str:
    """``path`` as a link that stays on this site: ``//host/...`` would be another site's."""
    return "/" + path.lstrip("/")


def _as_link(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


def lang_href(request: Request, lang: str) -> str:
    """The address of this page in ``lang``: the same path and query, ``lang`` replaced. The
    answer to a form (a POST, ...) is not a page to come back to: its address, when it takes
    no GET, becomes the page the form belongs to, without the form's query."""
    path = _on_this_site(request.scope["path"])
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    if request.method not in READING_METHODS:
        page = _page_path(request)
        if page != path:
            path, query = page, []
    query.append(("lang", lang))
    return _as_link(path) + "?" + urlencode(query)
