"""Asking the owners for what their rules allow: every owner at once under one deadline,
another node for a piece it holds, and the answers combined into one per piece."""

from __future__ import annotations

import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from onceonly import observability
from onceonly.domain import subjects
from onceonly.exchange import fanout
from onceonly.exchange.context import Actor, Exchange
from onceonly.exchange.display import dataset_names
from onceonly.exchange.minimise import merge_records, minimise
from onceonly.exchange.owner_calls import Asking, NotAsked
from onceonly.exchange.piece import Piece
from onceonly.exchange.schemas import (
    EvidenceAsk,
    EvidenceResult,
)
from onceonly.i18n import both
from onceonly.policy.service import Decision
from onceonly.providers.base import PredicateAnswer, ProviderUnavailable, SourceRecord


def fetch(
    exchange: Exchange,
    pieces: list[Piece],
    subject: str,
    case_id: str,
    item_code: str,
    actor: Actor,
    request_id: str,
    about: subjects.Subject | None = None,
) -> None:
    """Every permitted (piece, owner) pair is asked at once, under one deadline: a slow owner
    costs the clerk its timeout once, not once per piece. A piece owned on another node is
    asked of that node as a whole; a piece searched in every jurisdiction is asked of this
    node's offices and, once each, of every other node holding it (``node`` below)."""
    pending: list[tuple[Piece, str, Future[Any], str | None]] = []
    asking = Asking(exchange.pool)
    for piece in pieces:
        if not piece.live:
            continue
        if exchange.remote and (piece.remote_owner or piece.elsewhere):
            forwarded = _forwarded(piece, subject, case_id, item_code, actor, request_id)
            if about is not None:
                forwarded["about"] = about.key
            if piece.remote_owner:
                call_remote: Future[Any] = exchange.pool.submit(
                    exchange.remote.forward, piece.remote_owner, **forwarded
                )
                pending.append((piece, piece.remote_owner, call_remote, None))
                continue
            if piece.elsewhere:
                pending += [
                    (piece, office, call_node, holder)
                    for holder, office, call_node in fanout.ask_each(
                        exchange.pool, exchange.remote, piece.elsewhere, forwarded
                    )
                ]
        for owner in piece.owners:
            provider = exchange.providers.for_owner(owner)
            if provider is None:
                piece.stop("unavailable", "exchange.owner_not_connected", 3600, owner=owner)
                break
            if piece.predicate:
                call: Future[Any] = asking.ask(
                    provider,
                    provider.evaluate,
                    piece.dataset.code,
                    piece.predicate,
                    subject,
                    piece.params,
                )
            else:
                allowed = list(piece.decisions[owner].fields)
                key = about.key if about else subject
                call = asking.ask(provider, provider.fetch, piece.dataset.code, key, allowed)
            pending.append((piece, owner, call, None))
    deadline = time.monotonic() + exchange.settings.provider_timeout_seconds
    asking.answer_local(deadline)  # while the owners asked through the pool work
    for piece, owner, call, node in pending:
        try:
            outcome = call.result(timeout=max(0.0, deadline - time.monotonic()))
            if piece.remote_owner:
                _adopt(piece, outcome)
            elif node is not None and piece.elsewhere is not None:
                piece.elsewhere.results[node] = outcome
            else:
                piece.outcomes[owner] = outcome
        except FutureTimeout as exc:
            call.cancel()
            if isinstance(exc, NotAsked) and not piece.live:
                continue  # the owner that took the time is the one the clerk is told of
            observability.CONNECTOR_ERRORS.labels(owner, "timeout").inc()
            piece.stop(
                "unavailable",
                "exchange.owner_unavailable",
                30,
                owner=owner,
                reason=both("call_failure.timeout"),
            )
        except ProviderUnavailable as exc:
            observability.CONNECTOR_ERRORS.labels(owner, "unavailable").inc()
            piece.stop(
                "unavailable",
                "exchange.owner_unavailable",
                exc.retry_after,
                owner=owner,
                reason=exc.reason,
            )
        except (LookupError, ValueError) as exc:
            observability.CONNECTOR_ERRORS.labels(owner, "refused").inc()
            piece.stop("failed", "exchange.owner_refused", owner=owner, reason=str(exc))
    for piece in pieces:
        if piece.live and not piece.remote_owner:
            _combine(piece, about)
        if piece.elsewhere is not None:  # named only now: fetched above from this node's own
            piece.owners = piece.owners + piece.elsewhere.offices()


def _forwarded(
    piece: Piece, subject: str, case_id: str, item_code: str, actor: Actor, request_id: str
) -> dict[str, Any]:
    """What another node is sent for ``piece`` (the arguments of ``RemoteNodes.forward``)."""
    return {
        "dataset": piece.dataset.code,
        "ask": EvidenceAsk(
            type=piece.evidence_type, params=piece.params, fields=list(piece.fields) or None
        ),
        "request_id": request_id,
        "case_id": case_id,
        "application_item": item_code,
        "subject": subject,
        "actor": {
            "username": actor.username,
            "badge": actor.badge,
            "role": actor.role,
            "agency": actor.agency,
        },
    }


def _adopt(piece: Piece, result: EvidenceResult) -> None:
    """Take the owner node's answer (transcripts already verified) as this piece's outcome."""
    piece.status = result.status
    piece.reason = result.reason.model_dump(by_alias=True)
    piece.retry_after = result.retry_after
    piece.cause = result.cause
    piece.answer, piece.record = result.answer, result.fields
    piece.detail = result.answer_detail
    piece.withheld = tuple(result.withheld_fields)
    piece.transcripts = list(result.transcripts)
    piece.decisions[piece.owners[0]] = Decision(
        allowed=result.status == "issued",
        code="remote",
        reason_zh=result.reason.zh_TW,
        reason_en=result.reason.en,
        rule_id=result.rule_ids[0] if result.rule_ids else None,
        fields=tuple(result.fields or ()),
        withheld=piece.withheld,
    )


def _combine(piece: Piece, about: subjects.Subject | None = None) -> None:
    """Several owners (every land office, here and on other nodes) answer together: a
    predicate holds only if it holds at each; records are merged with list fields
    concatenated. Another node counts as one owner answering for all its offices; one that
    holds nothing adds nothing, one that could not answer stops the piece with its reason."""
    elsewhere = piece.elsewhere
    refusal = elsewhere.refusal() if elsewhere else None
    if refusal is not None:
        piece.refuse(refusal)
        return
    issued_elsewhere = elsewhere.issued() if elsewhere else []
    if piece.predicate:
        answers = [o.value for o in piece.outcomes.values() if isinstance(o, PredicateAnswer)]
        answers += [bool(result.answer) for result in issued_elsewhere]
        piece.answer = all(answers)
        details = [
            dict(o.detail)
            for o in piece.outcomes.values()
            if isinstance(o, PredicateAnswer) and o.detail
        ]
        details += [dict(r.answer_detail) for r in issued_elsewhere if r.answer_detail]
        piece.detail = details[0] if len(details) == 1 else None
        return
    records = [
        minimise(outcome.fields, piece.decisions[piece.owners[0]].fields)
        for outcome in piece.outcomes.values()
        if isinstance(outcome, SourceRecord)
    ]  # each other node minimised its own by its offices' rules
    records += [result.fields for result in issued_elsewhere if result.fields is not None]
    merged = merge_records(records)
    if not records:
        dataset = dataset_names(piece.dataset)
        if about is None:
            piece.stop("not_found", "exchange.no_record", dataset=dataset)
        else:  # a parcel, a building or a house number: no person to speak of
            piece.stop(
                "not_found", "exchange.no_record_about", dataset=dataset, about=about.label()
            )
        return
    piece.record = merged
    withheld = [*piece.withheld, *(f for r in issued_elsewhere for f in r.withheld_fields)]
    piece.withheld = tuple(dict.fromkeys(withheld))
