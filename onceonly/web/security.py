"""Browser-facing hardening applied to every answer: security headers and a body-size limit.

Both are plain ASGI middleware so they see every response, pages, API answers, error pages
and static files alike, whichever route (or none) produced it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""Only this site's own files run or load; no inline script or style; never framed."""

STATIC_PREFIX = "/static/"


def security_headers(path: str, https: bool = False) -> dict[str, str]:
    """The headers every answer for ``path`` carries (a route's own Cache-Control wins);
    over HTTPS also HSTS, so a browser never comes back over plain HTTP."""
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if not path.startswith(STATIC_PREFIX):
        headers["Cache-Control"] = "no-store"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


class SecurityHeadersMiddleware:
    """Adds :func:`security_headers` to every HTTP response. Dynamic answers are ``no-store``
    (pages and API answers may carry personal data; a shared or back-button cache must not
    keep them) unless the route chose its own caching, as the public JWKS does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"], scope.get("scheme") == "https")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body without a (truthful) length passes the limit; an
    ``HTTPException`` so FastAPI's body parsing lets it through to the error handlers."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=str(limit))
        self.limit = limit


def too_large_problem(limit: int, lang: str | None) -> Problem:
    return Problem(
        413,
        "too-large",
        t("problem.too_large", lang),
        t("problem.too_large_detail", lang, limit=limit, mib=round(limit / 2**20, 1)),
        extra={"limit_bytes": limit},
    )


@dataclass(frozen=True)
class BodyLimit:
    default: int
    larger: Sequence[tuple[re.Pattern[str], int]] = ()
    """(path pattern, limit) for the few routes that take uploads."""

    def for_path(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.fullmatch(path):
                return limit
        return self.default


class BodyLimitMiddleware:
    """Refuses request bodies over the limit with 413 and a problem document, without
    reading them: a declared ``Content-Length`` over the limit is answered before the app
    runs; a body streamed without one is counted as it arrives and stopped at the limit."""

    def __init__(self, app: ASGIApp, limits: BodyLimit) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        from onceonly.web.deps import get_language
        from onceonly.web.errors import problem_response

        request = Request(scope, receive)
        response = problem_response(request, too_large_problem(limit, get_language(request)))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
"""``\\u0000`` in JSON text: an escape preceded by an even number of backslashes."""
_JSON_SUSPECT = re.compile(rb"(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f])", re.IGNORECASE)
"""``\\u0000`` or a surrogate escape (``\\ud800`` to ``\\udfff``) in JSON text, found in one
pass over the body; a surrogate may still be half of a pair (an emoji escaped as
``\\ud83d\\ude00``), which the parsed text tells apart."""
_SURROGATE = re.compile("[\ud800-\udfff]")
"""A code point that is half of a UTF-16 pair: in parsed JSON text, one left alone."""
_FORM_TYPES = ("application/x-www-form-urlencoded",)


def _nul_fields_in_query(raw: bytes) -> list[str]:
    if b"%00" not in raw.lower() and b"\x00" not in raw:
        return []
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="replace")
    return [k.replace("\x00", "") or "query" for k, v in pairs if "\x00" in k + v]


def _escaped(text: str) -> str:
    """``text`` with each lone surrogate spelled ``\\udXXX``: an answer naming a field is
    UTF-8, which cannot carry one."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _bad_text(text: str) -> str | None:
    """Why ``text`` cannot be taken (``nul``, ``surrogate``), or ``None``."""
    if "\x00" in text:
        return "nul"
    return "surrogate" if _SURROGATE.search(text) else None


def _refused_paths(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Each field (dotted path) holding text that cannot be taken, with why; a key that
    cannot be taken is the field itself."""
    if isinstance(value, str):
        if code := _bad_text(value):
            yield path or "body", code
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{_escaped(key)}" if path else _escaped(key).replace("\x00", "")
            if code := _bad_text(key):
                yield where or "body", code
            else:
                yield from _refused_paths(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _refused_paths(item, f"{path}.{index}" if path else str(index))


def _as_utf8(body: bytes) -> bytes:
    """JSON text in UTF-8. RFC 8259 asks for UTF-8, but Python's parser, and so the app,
    reads UTF-16 and UTF-32 too, whose escapes the byte patterns above would not see."""
    encoding = json.detect_encoding(body)
    if encoding.startswith("utf-8"):
        return body
    try:
        return body.decode(encoding).encode()
    except UnicodeError:
        return body  # not text: the app's own parsing answers that


def _refused_fields_in_json(body: bytes) -> list[tuple[str, str]]:
    """The fields of a JSON body whose text cannot be taken, each with why."""
    body = _as_utf8(body)
    if not _JSON_SUSPECT.search(body):
        return []
    try:
        found = list(dict.fromkeys(_refused_paths(json.loads(body), "")))
    except (ValueError, RecursionError):
        return []  # not JSON after all: the app's own parsing answers that
    return found or ([("body", "nul")] if _JSON_NUL.search(body) else [])


def _reason(code: str, lang: str | None) -> str:
    # a lone surrogate: RFC 8259 (8.2) leaves its meaning open; nothing can store or send it
    return t(f"field.{code}", lang)


class NulRefusalMiddleware:
    """Refuses text carrying NUL (U+0000) in the path, the query, a JSON body or a form with
    422 naming the field. PostgreSQL cannot store or even compare such text (the query failed
    with a 500) and no name, code or number of ours contains one. Uploads (multipart) are
    binary and pass untouched.

    A JSON string may also escape half of a UTF-16 pair alone (``"\\ud800"``): such text is
    not Unicode, so neither database can store it, nor can an answer quoting it (a 422 naming
    the key) be written as UTF-8; each failed with a 500. Refused likewise, code
    ``surrogate``; a whole pair is the character it stands for. A JSON body in UTF-16 or
    UTF-32 is read as the app reads it (it used to pass unread, NUL and all)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = [("path", "nul")] if "\x00" in scope["path"] else []
        fields += [(f, "nul") for f in _nul_fields_in_query(scope.get("query_string", b""))]
        content_type = Headers(scope=scope).get("content-type", "").lower()
        is_json = content_type.startswith("application/") and "json" in content_type.split(";")[0]
        replay: list[Message] = []
        if not fields and (is_json or content_type.startswith(_FORM_TYPES)):
            body = b""
            while True:
                message = await receive()
                replay.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            if is_json:
                fields = _refused_fields_in_json(body)
            else:
                fields = [(f, "nul") for f in _nul_fields_in_query(body)]
        if fields:
            from onceonly.web.deps import get_language
            from onceonly.web.errors import problem_response

            request = Request(scope)
            lang = get_language(request)
            errors = [FieldError(f, _reason(code, lang), code) for f, code in fields]
            problem = validation_problem(errors, lang)
            await problem_response(request, problem)(scope, receive, send)
            return

        async def replaying_receive() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replaying_receive, send)


__all__ = [
    "CSP",
    "BodyLimit",
    "BodyLimitMiddleware",
    "BodyTooLarge",
    "NulRefusalMiddleware",
    "SecurityHeadersMiddleware",
    "security_headers",
    "too_large_problem",
]
