"""``GET /.well-known/jwks.json``: the owners' public keys, for anyone verifying a transcript."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from onceonly.exchange.keys import published_jwks
from onceonly.web.deps import Db

router = APIRouter(tags=["keys"])


@router.get(
    "/.well-known/jwks.json",
    summary="Published signing keys (RFC 7517 JWK Set)",
    description=(
        "Every Ed25519 key that has signed transcripts, active or retired, with its RFC 7638 "
        "thumbprint as `kid` and the owning agency as `agency`. Public: verifying a transcript "
        "needs nothing else."
    ),
)
def jwks(response: Response, db: Db) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return published_jwks(db)
