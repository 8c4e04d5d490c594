"""``HEAD`` answered as ``GET`` is, without the body.

Load balancers, uptime monitors and ``curl -I`` ask with ``HEAD``. Starlette's own ``Route``
takes ``HEAD`` wherever it takes ``GET``, but FastAPI's ``APIRoute`` takes only the methods
its decorator names, so every page and ``/healthz`` answered ``HEAD`` with 405 and a monitor
reported a healthy node down. :class:`HeadAsGetMiddleware` lets the app handle a ``HEAD`` as
the ``GET`` of the same address (same status, headers with ``Content-Type`` and
``Content-Length``, redirects, 401/403/404/405 problems, as RFC 9110 9.3.2 asks) and sends
no body. A path without a ``GET`` route still answers 405, with the ``Allow`` of its routes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_FINAL_EMPTY_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": False}
_BODY_MESSAGES = frozenset(
    {"http.response.body", "http.response.pathsend", "http.response.zerocopysend"}
)
"""Messages that carry (or stand for) the body: a file sent by the server itself too."""


class HeadAsGetMiddleware:
    """Runs a ``HEAD`` request as its ``GET`` and drops the body from the answer.

    Installed innermost of the app's middleware, so that everything outside it (request id
    and access log, security headers, the language cookie) sees the request as the ``HEAD``
    it is and adds its headers to the answer as to any other. The method is switched in the
    scope itself, not a copy, so the route the router finds is the one the access log and
    the metrics name, and switched back once the app has answered. The body is dropped here,
    not left to the server (uvicorn drops it, an ASGI test client does not): each chunk of a
    streamed answer is dropped and its end sent as one empty, final body. Any other request
    (and every non-HTTP scope, which has no ``HEAD``) passes after one comparison.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] not in _BODY_MESSAGES:
                await send(message)  # the start (status and headers), trailers, ...
            elif message["type"] != "http.response.body" or not message.get("more_body"):
                await send(_FINAL_EMPTY_BODY)

        scope["method"] = "GET"
        try:
            await self.app(scope, receive, send_without_body)
        finally:
            scope["method"] = "HEAD"


__all__ = ["HeadAsGetMiddleware"]
