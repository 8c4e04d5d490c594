"""The audit log in the transparency-log ecosystem's own formats, over HTTP.

``GET /audit/checkpoint`` is this log's newest C2SP checkpoint with the witnesses'
cosignatures. ``POST /witness/add-checkpoint`` and ``GET /witness/{origin hash}/checkpoint``
are this node's tlog-witness service for the logs it was told to witness. All three are
public: the spec asks for no authentication beyond the checkpoint's signature, and they carry
sizes, hashes and signatures only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.checkpoint import stored_checkpoint
from onceonly.audit.log import AuditRecord, append_durably
from onceonly.audit.tree_heads import tree_head_for
from onceonly.audit.witness import add_checkpoint, witnessed_checkpoint
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.i18n import t
from onceonly.web.deps import session_factory, settings_of

router = APIRouter(tags=["audit"])
witness_router = APIRouter(tags=["audit"])
"""The witness service alone (the federation directory serves it without a log of its own)."""

Sessions = Annotated[sessionmaker[Session], Depends(session_factory)]
AppSettings = Annotated[Settings, Depends(settings_of)]
MAX_BODY = 64 * 1024
TEXT = "text/plain; charset=utf-8"


@router.get(
    "/audit/checkpoint",
    response_class=PlainTextResponse,
    summary="Newest checkpoint of the audit log (C2SP tlog-checkpoint, public)",
    description=(
        "A signed note: origin, tree size and base64 RFC 6962 root, signed by the platform "
        "audit key (an Ed25519 note key named by the origin; its public half is in "
        "/.well-known/jwks.json under agency platform.audit), with the witnesses' "
        "cosignature/v1 lines. Signed on request when the log has grown."
    ),
)
def checkpoint(sessions: Sessions, settings: AppSettings) -> PlainTextResponse:
    with transaction(sessions) as session:
        head = tree_head_for(session, settings, None)
        text = stored_checkpoint(session, head.tree_size)
    assert text is not None
    return PlainTextResponse(text, media_type=TEXT, headers={"Cache-Control": "no-cache"})


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


@witness_router.post(
    "/witness/add-checkpoint",
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    responses={
        200: _text("The witness's cosignature/v1 line(s)."),
        400: _text("Malformed request, or old size larger than the checkpoint's."),
        403: _text("Not signed by the log key this witness trusts for that origin."),
        404: _text("A log this node does not witness."),
        409: {
            "description": "Old size is not the size this witness cosigned; body: that size.",
            "content": {"text/x.tlog.size": {"schema": {"type": "string"}}},
        },
        413: _text("Request too large."),
        422: _text("Not consistent with what this witness cosigned."),
    },
    summary="Witness a log's checkpoint (C2SP tlog-witness add-checkpoint, public)",
    description=(
        "Body: `old <size>`, consistency proof lines, an empty line, the signed checkpoint. "
        "200 with a cosignature/v1 line; 400 malformed; 403 not signed by the log's key; "
        "404 a log this node does not witness; 409 (text/x.tlog.size) the old size is not the "
        "one this witness cosigned; 422 inconsistent with what it cosigned."
    ),
)
async def witness_add_checkpoint(
    request: Request, sessions: Sessions, settings: AppSettings
) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return PlainTextResponse("request too large\n", status_code=413, media_type=TEXT)

    def run() -> Response:
        with transaction(sessions) as session:
            answer = add_checkpoint(session, settings, body)
        if answer.evidence is not None:
            append_durably(
                sessions,
                AuditRecord(
                    event="witness.refused",
                    actor_username=f"log:{answer.evidence['origin']}"[:150],
                    decision="denied",
                    reason_zh=_why(answer.evidence, "zh-TW"),
                    reason_en=_why(answer.evidence, "en"),
                    details=answer.evidence,
                ),
            )
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(run)


def _why(evidence: dict[str, Any], lang: str) -> str:
    reason = t(f"audit.witness.why.{evidence['code']}", lang)
    return t("audit.witness.refused", lang, **{**evidence, "reason": reason})


@witness_router.get(
    "/witness/{origin_hash}/checkpoint",
    response_class=PlainTextResponse,
    summary="Newest checkpoint this witness cosigned for a log (C2SP tlog-witness, public)",
    responses={404: _text("This witness has cosigned nothing for that log.")},
    description="ORIGIN_HASH is the lowercase hex SHA-256 of the log's origin line.",
)
def witness_checkpoint(
    sessions: Sessions,
    origin_hash: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
) -> PlainTextResponse:
    with sessions() as session:
        text = witnessed_checkpoint(session, origin_hash)
    if text is None:
        return PlainTextResponse("no checkpoint cosigned for that log\n", status_code=404)
    return PlainTextResponse(text, media_type=TEXT)


router.include_router(witness_router)
