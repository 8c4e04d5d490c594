"""The owner side of cross-node evidence: the node's federation listener.

It is a FastAPI app of its own, served on a separate port with mutual TLS (the federation CA
only, client certificate required and checked against the CRL in the handshake: see
:mod:`onceonly.federation.listener`), never on the clerks' port. A request is accepted only
when its signature, certificate (not revoked, naming a member node), audience (this node),
TLS client certificate (the signer's own), time and nonce check out and the asking agency
belongs to a jurisdiction the sending node serves. The owner's own
rules then decide, exactly as for a local clerk, and the answer is audited here under the
sender's request id. An off-site backup is kept only for a node this node's operator agreed
to keep backups for (``accept_backups_from``), and any other sender is refused before a byte
of its body is read. Every refusal is audited too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from onceonly.audit.log import AuditRecord, append_durably
from onceonly.catalog import service as catalog
from onceonly.citizens.previews import CitizenPreviews
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.domain import subjects
from onceonly.domain.errors import DomainValueError
from onceonly.errors import PROBLEM_BASE, FieldError, Problem, validation_problem
from onceonly.exchange.schemas import EvidenceAsk, EvidenceRequestIn, EvidenceResult
from onceonly.exchange.service import Actor, Exchange, request_evidence
from onceonly.federation.backup import BACKUPS_PATH, incoming_file, store_backup
from onceonly.federation.listener import TlsPeers
from onceonly.federation.node import NodeConfig, SnapshotCache
from onceonly.federation.nonces import DurableNonceStore
from onceonly.federation.remote import EVIDENCE_PATH
from onceonly.federation.signing import (
    HEADER,
    RequestRefused,
    body_digest,
    check_claims,
    digest_text,
    signer_claims,
)
from onceonly.federation.snapshot import NodeEntry, SnapshotRefused
from onceonly.i18n import both, catalogue, one_line, t
from onceonly.notify import intake
from onceonly.notify.intake import RelayedMove, record_relayed_move
from onceonly.notify.register import household_register
from onceonly.notify.relays import MOVE_STATUS_PATH, MOVES_PATH
from onceonly.open311 import federation as open311_fed
from onceonly.pki.trust import TrustAnchor
from onceonly.providers.registry import load_providers
from onceonly.web.security import BodyLimit, BodyLimitMiddleware

Body = TypeVar("Body", bound=BaseModel)

STATUS_OF = {
    "missing_signature": 401,
    "malformed": 401,
    "bad_signature": 401,
    "tampered": 401,
    "clock_skew": 401,
    "replay": 409,
    "snapshot": 503,
    "length_required": 411,
}


FORWARDING_ROLE = "clerk"
"""Only a clerk asks for evidence, so only a clerk's request is forwarded: the entry this
node writes says which agency looked, and a citizen's own look would show them as "you"."""


class ForwardedAsk(BaseModel):
    request_id: str
    case_id: str
    application_item: str
    subject: str
    ask: EvidenceAsk
    actor: dict[str, str]
    about: str | None = None
    """The parcel, building or house number asked about (``Subject.key``); ``subject`` is
    then the citizen the case is for."""


class MoveStatusAsk(BaseModel):
    """How the agencies here stand on the 遷出 of the sender's 遷入 ``origin_event_id``."""

    origin_event_id: str = Field(max_length=36)


class PeerState:
    """What the listener needs: the node's database, a local-only exchange, the snapshot."""

    def __init__(self, settings: Settings, config: NodeConfig) -> None:
        self.settings = settings
        self.config = config
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions = make_session_factory(self.engine)
        self.snapshots = SnapshotCache(settings, config)
        self.nonces = DurableNonceStore(self.sessions)
        self.tls_peers = TlsPeers()
        """Filled by the listener's HTTP protocol: which certificate each connection showed."""
        self._exchange: Exchange | None = None

    @property
    def exchange(self) -> Exchange:
        """Local-only: what arrives from another node is answered here, never sent on."""
        if self._exchange is None:
            providers = load_providers(self.settings.registries_dir)
            self._exchange = Exchange(
                self.settings, self.sessions, providers, previews=CitizenPreviews()
            )
        return self._exchange


def _authenticate(state: PeerState, request: Request, path: str, digest: str | None) -> NodeEntry:
    """The member node that sent this request, once its signature, certificate, time and
    nonce are checked against the snapshot in force, and that it signed this body (its
    ``digest``). Without a digest only who signed it, for this node, over its own TLS
    connection: what is known before the body is read (``signer_claims``)."""
    try:
        snapshot = state.snapshots.current()
        trust = TrustAnchor.from_pem(snapshot.ca_pem.encode(), snapshot.crl_pem.encode())
    except SnapshotRefused as exc:
        raise RequestRefused("snapshot", f"{exc.code}: {exc.detail}") from exc
    claims = signer_claims(
        request.headers.get(HEADER),
        trust,
        audience=state.config.id,
        peer=state.tls_peers.certificate(request.scope.get("client")),
    )
    if digest is not None:
        check_claims(claims, "POST", path, digest, state.nonces)
    node = snapshot.node(claims["node"])
    if node is None:
        raise RequestRefused("unknown_node", claims["node"], claims["node"])
    return node


def malformed(exc: ValidationError, sender: str) -> RequestRefused:
    """The refusal of a body that did not validate: where and why, never the values (a
    national ID would otherwise reach the audit log)."""
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in exc.errors())
    return RequestRefused("malformed", where[:300], sender)


def audit_refusal(
    sessions: sessionmaker[Session],
    refused: RequestRefused,
    path: str,
    raw: bytes,
    words: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The refusal, audited, as problem+json (shared with the owner gateway).

    ``words``, when given, is the refusal told in full in every language (naming, say, the
    sender): the audit entry's reason and the document's ``detail`` (Traditional Chinese
    first) and ``reason`` (each language) then say it, where otherwise the code's short
    words and the bare detail are all there is."""
    code, detail, sender = refused.code, refused.detail, refused.sender
    request_id = None
    with contextlib.suppress(ValueError, AttributeError):
        request_id = str(json.loads(raw).get("request_id") or "") or None
    reason = dict(words) if words else both(f"federation.refused.{code}")
    record = AuditRecord(
        event="federation.refused",
        actor_username=f"node:{sender}",
        decision="denied",
        reason_zh=reason["zh-TW"],
        reason_en=reason["en"],
        details={"code": code, "detail": detail[:300], "path": path},
    )
    if request_id:
        record = dataclasses.replace(record, request_id=request_id)
    append_durably(sessions, record)
    status = STATUS_OF.get(code, 403)
    document: dict[str, Any] = {
        "type": PROBLEM_BASE + "federation-" + code.replace("_", "-"),
        "title": t(f"federation.refused.{code}", "en"),
        "status": status,
        "code": code,
        "detail": one_line(reason) if words else detail,
    }
    if words:
        document["reason"] = reason
    return JSONResponse(document, status_code=status, media_type="application/problem+json")


def create_peer_app(settings: Settings, config: NodeConfig | None = None) -> FastAPI:
    """The federation listener of the node whose data directory ``settings`` names."""
    config = config or NodeConfig.read(settings)
    if config is None:
        raise RuntimeError("not a federation node: run `onceonly federation init` first")
    state = PeerState(settings, config)
    app = FastAPI(title=f"onceonly node {config.id}", docs_url=None, redoc_url=None)
    app.state.peer = state
    # every route holds the body whole: a member node's body is bounded like a browser's
    larger = [(re.compile(re.escape(BACKUPS_PATH)), settings.max_backup_bytes)]
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimit(settings.max_body_bytes, larger))

    def received_now(
        request: Request, path: str, model: type[Body], raw: bytes
    ) -> tuple[NodeEntry, Body, bytes] | JSONResponse:
        """The sending node and the body it signed, or the refusal, audited; in a worker
        thread, as the nonce is a committed database write."""
        try:
            node = _authenticate(state, request, path, body_digest(raw))
        except RequestRefused as exc:
            return audit_refusal(state.sessions, exc, path, raw)
        try:
            return node, model.model_validate_json(raw), raw
        except ValidationError as exc:
            return audit_refusal(state.sessions, malformed(exc, node.id), path, raw)

    async def received(
        request: Request, path: str, model: type[Body]
    ) -> tuple[NodeEntry, Body, bytes] | JSONResponse:
        raw = await request.body()
        return await run_in_threadpool(received_now, request, path, model, raw)

    @app.post(EVIDENCE_PATH)
    async def evidence(request: Request) -> JSONResponse:
        """Checked and answered in one worker thread: one trip, not two."""
        raw = await request.body()

        def checked_and_answered() -> JSONResponse:
            got = received_now(request, EVIDENCE_PATH, ForwardedAsk, raw)
            if isinstance(got, JSONResponse):
                return got
            node, asked, _ = got
            return answer_now(
                state.exchange, node.jurisdictions, node.id, state.config.id, asked, raw
            )

        return await run_in_threadpool(checked_and_answered)

    @app.post(BACKUPS_PATH)
    async def backups(request: Request) -> JSONResponse:
        """Refused before the body is read when the signature already shows a sender this
        node keeps no backups for: none of up to ``max_backup_bytes`` is taken in for it.
        Otherwise written to disk as it arrives, hashed on the way, and checked whole."""
        sender = await run_in_threadpool(backup_sender, state, request, None)
        if isinstance(sender, JSONResponse):
            sender.headers["Connection"] = "close"  # the body stays unread: take none of it
            return sender
        incoming = incoming_file(settings)
        try:
            digest, size = await written(request, incoming)
            return await run_in_threadpool(keep_backup, state, request, incoming, digest, size)
        finally:
            incoming.unlink(missing_ok=True)

    @app.post(MOVES_PATH)
    async def moves(request: Request) -> JSONResponse:
        got = await received(request, MOVES_PATH, RelayedMove)
        if isinstance(got, JSONResponse):
            return got
        node, move, raw = got
        return await run_in_threadpool(record_move, state, node, move, raw)

    @app.post(MOVE_STATUS_PATH)
    async def move_status(request: Request) -> JSONResponse:
        got = await received(request, MOVE_STATUS_PATH, MoveStatusAsk)
        if isinstance(got, JSONResponse):
            return got
        node, ask, _raw = got

        def read() -> dict[str, Any] | None:
            with state.sessions() as session:
                return intake.relayed_move_status(session, node.id, ask.origin_event_id)

        answer = await run_in_threadpool(read)
        if answer is None:
            return JSONResponse(
                {
                    "type": PROBLEM_BASE + "not-found",
                    "title": "No such relayed move",
                    "status": 404,
                    "detail": f"node {node.id} relayed no move {ask.origin_event_id} here",
                },
                status_code=404,
                media_type="application/problem+json",
            )
        return JSONResponse(answer)

    async def open311_call(request: Request, path: str, model: type[Body]) -> JSONResponse:
        """An Open311 create, transfer or status ask from another node (#21): refused like
        every peer call unless signed by a member node, fresh and not replayed."""
        got = await received(request, path, model)
        if isinstance(got, JSONResponse):
            return got
        node, asked, raw = got

        def answer() -> JSONResponse:
            try:
                status, body = open311_fed.receive(state.sessions, node, state.config, asked)
            except open311_fed.NotOurs as exc:
                refused = RequestRefused(exc.code, exc.detail, node.id)
                return audit_refusal(state.sessions, refused, path, raw)
            except Problem as problem:
                return JSONResponse(
                    problem.as_dict() | {"code": problem.kind},
                    status_code=problem.status,
                    media_type="application/problem+json",
                )
            return JSONResponse(body, status_code=status)

        return await run_in_threadpool(answer)

    @app.post(open311_fed.FORWARD_PATH)
    async def open311_requests(request: Request) -> JSONResponse:
        return await open311_call(request, open311_fed.FORWARD_PATH, open311_fed.ForwardedRequest)

    @app.post(open311_fed.STATUS_PATH)
    async def open311_status(request: Request) -> JSONResponse:
        return await open311_call(request, open311_fed.STATUS_PATH, open311_fed.StatusAsk)

    @app.post(open311_fed.TRANSFER_PATH)
    async def open311_transfers(request: Request) -> JSONResponse:
        return await open311_call(
            request, open311_fed.TRANSFER_PATH, open311_fed.TransferredRequest
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "node": config.id}

    @app.on_event("startup")
    def warm_up() -> None:
        """The first forwarded request must not pay for loading the catalog and stores."""
        catalogue()
        with state.sessions() as session:
            state.exchange.catalog.check(session)
        with contextlib.suppress(SnapshotRefused):
            state.snapshots.current()

    @app.on_event("shutdown")
    def close() -> None:
        if state._exchange is not None:
            state._exchange.close()
        state.snapshots.close()
        state.engine.dispose()

    return app


async def written(request: Request, path: Path) -> tuple[str, int]:
    """Write the body to ``path`` as it arrives; its digest (as signed) and size. Each chunk
    is hashed and written in a worker thread (both release the GIL)."""
    sha256, size = hashlib.sha256(), 0
    with path.open("wb") as file:

        def take(chunk: bytes) -> None:
            sha256.update(chunk)
            file.write(chunk)

        async for chunk in request.stream():
            size += len(chunk)
            await run_in_threadpool(take, chunk)
    return digest_text(sha256.digest()), size


def backup_sender(state: PeerState, request: Request, digest: str | None) -> str | JSONResponse:
    """The node whose backup this is, or the refusal, audited. A member node's backup is kept
    only when this node's operator agreed to keep that node's (``accept_backups_from``): any
    member authenticates, and without the check any of them could fill this node's disk or
    park files here. Asked before the body is read (no ``digest``: who signed it is known
    from the signature alone, so a node not agreed to is refused without this node taking in
    a body of up to ``max_backup_bytes``; an agreed one must say how long its body is), and
    again with the body's ``digest`` once it is on disk, the whole request then checked. A
    refused body is never audited (``{}``): it is the sender's to choose."""
    try:
        sender = _authenticate(state, request, BACKUPS_PATH, digest).id
    except RequestRefused as exc:
        return audit_refusal(state.sessions, exc, BACKUPS_PATH, b"{}")
    if sender not in state.config.accept_backups_from:
        refused = RequestRefused("backup_not_agreed", sender, sender)
        words = both("federation.backup_not_agreed", node=state.config.id, sender=sender)
        return audit_refusal(state.sessions, refused, BACKUPS_PATH, b"{}", words)
    if digest is None and not request.headers.get("content-length", "").isdigit():
        refused = RequestRefused("length_required", "", sender)
        return audit_refusal(state.sessions, refused, BACKUPS_PATH, b"{}")
    return sender


def keep_backup(
    state: PeerState, request: Request, incoming: Path, digest: str, size: int
) -> JSONResponse:
    """Keep the off-site backup written to ``incoming`` once the request that brought it is
    checked whole; a refused one is audited and nothing of it is kept under ``backups/``. In
    a worker thread (the nonce, the file and the audit entry are writes)."""
    sender = backup_sender(state, request, digest)
    if isinstance(sender, JSONResponse):
        return sender
    path = store_backup(state.settings, sender, incoming)
    append_durably(
        state.sessions,
        AuditRecord(
            event="backup.received",
            actor_username=f"node:{sender}",
            details={"file": path.name, "bytes": size},
        ),
    )
    return JSONResponse({"stored": path.name, "node": state.config.id})


def record_move(state: PeerState, node: NodeEntry, move: RelayedMove, raw: bytes) -> JSONResponse:
    """The 遷出 half of a move ``node`` registered: taken only when ``node`` serves the city the
    person moved to and this node the city they left, then checked against the register and
    recorded for this node's agencies like any event an office reports."""
    if move.arrived_in not in node.jurisdictions:
        refused = RequestRefused("jurisdiction_not_of_node", move.arrived_in, node.id)
        return audit_refusal(state.sessions, refused, MOVES_PATH, raw)
    if move.from_jurisdiction not in state.config.jurisdictions:
        refused = RequestRefused("jurisdiction_not_here", move.from_jurisdiction, node.id)
        return audit_refusal(state.sessions, refused, MOVES_PATH, raw)
    try:
        with transaction(state.sessions) as session:
            register = household_register(session, state.exchange.providers)
            accepted = record_relayed_move(session, register, move, node.id, "zh-TW")
            answer = intake.describe(accepted, "zh-TW")
        append_durably(
            state.sessions,
            AuditRecord(
                event="federation.move_received",
                actor_username=f"node:{node.id}",
                details={
                    "origin_event_id": move.origin_event_id,
                    "event_id": accepted.event.id,
                    "replayed": accepted.replayed,
                },
            ),
        )
    except Problem as problem:
        return JSONResponse(
            problem.as_dict() | {"code": problem.kind},
            status_code=problem.status,
            media_type="application/problem+json",
            headers={"Retry-After": str(problem.retry_after)} if problem.retry_after else None,
        )
    return JSONResponse(answer)


def answer_now(
    exchange: Exchange,
    jurisdictions: tuple[str, ...] | None,
    sender: str,
    answerer: str,
    asked: ForwardedAsk,
    raw: bytes,
) -> JSONResponse:
    """Decide, fetch, sign and audit one forwarded piece on ``exchange`` (local-only), for a
    node (``jurisdictions``: the asking agency must be of one of them) or for the platform
    an owner gateway serves (``None``: the platform vouches for its agencies); in the calling
    (worker) thread."""
    with exchange.sessions() as session:
        agency = catalog.get_agency(session, asked.actor.get("agency", ""))
    if agency is None or (jurisdictions is not None and agency.jurisdiction not in jurisdictions):
        refused = RequestRefused("agency_not_of_node", asked.actor.get("agency", ""), sender)
        return audit_refusal(exchange.sessions, refused, EVIDENCE_PATH, raw)
    role = asked.actor.get("role", FORWARDING_ROLE)
    if role != FORWARDING_ROLE:  # a node calling its clerk a citizen hid the look from them
        refused = RequestRefused("actor_not_clerk", role, sender)
        return audit_refusal(exchange.sessions, refused, EVIDENCE_PATH, raw)
    actor = Actor(
        username=f"{sender}/{asked.actor.get('username', '')}",
        badge=asked.actor.get("badge", ""),
        role=role,
        agency=agency.code,
    )
    body = EvidenceRequestIn(
        case_id=asked.case_id,
        application_item=asked.application_item,
        subject=asked.subject,
        evidence=[asked.ask],
    )

    def run() -> dict[str, Any]:
        try:
            about = subjects.parse_key(asked.about) if asked.about else None
        except DomainValueError as exc:
            raise validation_problem([FieldError("about", exc.message_en, exc.code)], "en") from exc
        try:
            response = request_evidence(
                exchange,
                actor,
                body,
                "en",
                asked.request_id,
                origin_node=sender,
                about=about,
            )
            return response.results[0].model_dump(mode="json", by_alias=True)
        except Problem as problem:
            results = problem.extra.get("results")
            if results:
                return dict(results[0])
            raise

    try:
        result = run()
    except Problem as problem:
        return JSONResponse(problem.as_dict() | {"code": problem.kind}, status_code=problem.status)
    EvidenceResult.model_validate(result)
    return JSONResponse({"request_id": asked.request_id, "node": answerer, "result": result})
