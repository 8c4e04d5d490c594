"""Turns every error into a problem document (API) or a readable page (people)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from onceonly.db import is_transient
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import catalogue, t
from onceonly.validation_words import reason
from onceonly.web.deps import get_language
from onceonly.web.security import BodyTooLarge, security_headers, too_large_problem

log = logging.getLogger("onceonly.web")

_STATUS_KINDS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "too-many-requests",
    500: "internal",
    502: "bad-gateway",
    503: "unavailable",
}
"""The problem type of each status the framework (or a ``HTTPException``) answers with; each
has words in ``web.yaml`` (``web.http.<status>.*``). Any other status: ``http``, and the
words of ``web.http.other``."""


BUSY_RETRY_SECONDS = 1
"""A deadlock or a held lock clears in well under a second once the other transaction ends."""


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(request: Request, problem: Problem) -> Response:
    # Set here too: a 500 leaves through Starlette's outermost layer, past the middleware.
    headers = security_headers(request.url.path, request.url.scheme == "https")
    if problem.retry_after is not None:
        headers["Retry-After"] = str(problem.retry_after)
    if wants_html(request):
        from onceonly.web.templating import render

        response = render(request, "error.html", problem.status, problem=problem)
        response.headers.update(headers)
        return response
    return JSONResponse(
        problem.as_dict(instance=request.url.path),
        status_code=problem.status,
        media_type="application/problem+json",
        headers=headers,
    )


def _phrase(status: int) -> str:
    """The standard reason phrase of ``status``: the detail of an exception that gave none."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def http_problem(request: Request, exc: StarletteHTTPException) -> Problem:
    """An error the framework answers itself (no such route, a method the route does not
    take, a body it cannot read, ...) in the caller's language: what happened, for a person
    or for a system; never the framework's English phrase alone. The framework's own
    explanation, when it has one (``Missing boundary in multipart.``), goes to a system as
    ``cause``, for its developers."""
    status = exc.status_code
    lang = get_language(request)
    words = f"web.http.{status}" if status in _STATUS_KINDS else "web.http.other"
    allowed = (exc.headers or {}).get("Allow", "")
    params = {"status": status, "method": request.method, "allowed": allowed}
    extra: dict[str, str] = {}
    if wants_html(request):
        own_title = f"{words}.page_title"
        title = t(own_title if own_title in catalogue() else f"{words}.title", lang, **params)
        detail = t(f"{words}.page", lang, **params)
    else:
        title = t(f"{words}.title", lang, **params)
        detail = t(f"{words}.api", lang, **params)
        if exc.detail and exc.detail != _phrase(status):
            extra["cause"] = str(exc.detail)
    return Problem(status, _STATUS_KINDS.get(status, "http"), title, detail, extra=extra)


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


CALLER_NOT_CHECKED = "caller_not_checked"
"""The ``request.state`` attribute of a route that checks its caller in the worker thread
doing its work (:func:`onceonly.accounts.deps.require_roles_in_worker`): a function that
checks them now, raising the 401 or 403 :class:`Problem`. A request whose parameters do not
validate never reaches that thread, so its caller is checked here before the 422 is given."""


MAX_FIELD_ERRORS = 50
"""Field errors a 422 lists; the rest are counted, so that the answer to a body wrong in
many places stays a page a person reads (and small, whoever sends it)."""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        check = getattr(request.state, CALLER_NOT_CHECKED, None)
        if check is not None:  # a refused caller learns that, not what their body lacks
            try:
                await run_in_threadpool(check)
            except Problem as refused:
                return problem_response(request, refused)
        lang = get_language(request)
        found = exc.errors()
        errors = [
            FieldError(
                "body" if e["type"] == "json_invalid" else _field_name(tuple(e.get("loc", ()))),
                reason(e, lang),
                e["type"],
            )
            for e in found[:MAX_FIELD_ERRORS]
        ]
        if len(found) > MAX_FIELD_ERRORS:
            more = t("validation.more", lang, count=len(found) - MAX_FIELD_ERRORS)
            errors.append(FieldError("body", more, "more"))
        return problem_response(request, validation_problem(errors, lang))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, BodyTooLarge):
            return problem_response(request, too_large_problem(exc.limit, get_language(request)))
        if exc.status_code < 400:  # a redirect of ours (sign in first, ...): its own words
            problem = Problem(exc.status_code, "http", str(exc.detail))
        else:
            problem = http_problem(request, exc)
        response = problem_response(request, problem)
        if exc.headers:
            response.headers.update(exc.headers)
        allow = response.headers.get("Allow")
        if allow and "GET" in allow.split(", ") and "HEAD" not in allow.split(", "):
            response.headers["Allow"] = f"{allow}, HEAD"  # answered as GET is (head_requests)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if is_transient(exc):  # rolled back whole: the same request again can succeed
            log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
            lang = get_language(request)
            busy = Problem(
                503, "busy", t("problem.busy", lang), t("problem.busy_detail", lang),
                retry_after=BUSY_RETRY_SECONDS,
            )  # fmt: skip
            return problem_response(request, busy)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(500, "internal", t("problem.internal", get_language(request)))
        return problem_response(request, problem)
