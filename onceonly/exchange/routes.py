"""``POST /api/v1/evidence-requests``: the certificate-free query itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from onceonly.accounts.deps import PendingToken, Principal, require_roles_in_worker
from onceonly.cache_versions import Versions
from onceonly.exchange.schemas import EXAMPLE_REQUEST, EvidenceRequestIn, EvidenceResponse
from onceonly.exchange.service import Actor, Exchange, exchange_for, request_evidence
from onceonly.web.deps import language

router = APIRouter(tags=["evidence"])

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


async def get_exchange(request: Request) -> Exchange:
    """The app's exchange, on the event loop (a plain ``def`` dependency costs a trip to a
    worker thread and back on every request); made once, off the loop, as it reads the
    owners' stores."""
    exchange: Exchange | None = getattr(request.app.state, "exchange", None)
    if exchange is None:
        exchange = await run_in_threadpool(exchange_for, request.app.state)
    return exchange


def actor_of(principal: Principal) -> Actor:
    return Actor(
        principal.username,
        principal.badge,
        principal.role,
        principal.agency_code,
        principal.credential,
    )


@router.post(
    "/api/v1/evidence-requests",
    response_model=EvidenceResponse,
    summary="Fetch evidence about one citizen from the agencies that own it",
    description=(
        "For an open case of your agency and its application item, ask for one or more "
        "evidence types (dataset codes for minimised records, predicate codes for yes/no "
        "answers; a predicate's parameters are set by the owner's rule or the catalog). "
        "Each piece is "
        "decided by the owner's access rules, fetched from the owner, minimised, signed by "
        "the owner (compact JWS, EdDSA) and written to the audit log before it is returned. "
        "Pieces that cannot be issued say why. When none can be issued the answer is a "
        "problem document: 403 (no rule), 404 (no record) or 503 with Retry-After."
    ),
    responses={
        403: {"description": "No approved rule allows any of it", **PROBLEM},
        404: {"description": "Unknown application item or evidence type", **PROBLEM},
        409: {"description": "The case is decided or closed", **PROBLEM},
        422: {
            "description": (
                "Invalid national ID or body; no open case of your agency with this number, "
                "item and citizen; a predicate parameter the rule or catalog does not allow"
            ),
            **PROBLEM,
        },
        503: {"description": "The owner's source is down or too slow", **PROBLEM},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE_REQUEST}}}},
)
async def create_evidence_request(
    request: Request,
    body: EvidenceRequestIn,
    caller: Annotated[Principal | PendingToken, Depends(require_roles_in_worker("clerk"))],
    exchange: Annotated[Exchange, Depends(get_exchange)],
    lang: Annotated[str, Depends(language)],
) -> EvidenceResponse:
    """The work, with the caller's bearer token, runs in one worker thread; the answer is
    checked and serialised back on the event loop (for a plain ``def`` endpoint FastAPI makes
    that a second trip to a thread)."""
    if isinstance(caller, PendingToken):
        token = caller

        def actor(versions: Versions, release: Callable[[], object]) -> Actor:
            return actor_of(token.principal(versions, release))

        return await run_in_threadpool(request_evidence, exchange, actor, body, lang)
    return await run_in_threadpool(request_evidence, exchange, actor_of(caller), body, lang)
