"""The counter's question about a parcel, building or house number (issue 17).

At a land item the clerk chooses what the question is about: the person of the case (the
usual fetch), a parcel (地段 + 地號), a building (地段 + 建號) or a house number (門牌, as
written today or before the merger). The answer is fetched through the exchange like any
other, under the case, and shown the way the case's evidence is: each owner's signed
transcript with its fields labelled from the catalog, the owners only as the rule allows.
It is shown, audited and signed, not kept on the case (the case's evidence is the person's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from onceonly.cases.steps import Step
from onceonly.catalog import service as catalog
from onceonly.counter.evidence import TranscriptCard, transcript_card
from onceonly.domain import subjects
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.exchange.schemas import EvidenceRequestIn, EvidenceResponse, SubjectIn
from onceonly.exchange.service import Actor, Exchange, request_evidence
from onceonly.i18n import t

KINDS = ("person", "parcel", "building", "address")
FIELDS = (
    "jurisdiction",
    "section",
    "parcel_no",
    "building_no",
    "address",
    "city",
    "district",
    "road",
    "lane",
    "alley",
    "number",
    "floor",
)
"""The form's fields besides ``kind`` (those of :class:`SubjectIn`)."""

ASKED_BY_THING = frozenset(d for datasets in subjects.DATASETS.values() for d in datasets)


def offered(item: catalog.ApplicationItemView | None) -> bool:
    """Whether the item needs a register that answers by a parcel, building or house number."""
    return item is not None and any(r.dataset in ASKED_BY_THING for r in item.required_evidence)


@dataclass(frozen=True)
class LookupCard:
    """One answered piece, as the case page shows it."""

    evidence_type: str
    title: str
    status: str
    reason: str
    transcripts: tuple[TranscriptCard, ...]


@dataclass(frozen=True)
class Lookup:
    about: str
    cards: tuple[LookupCard, ...]


def ask(
    step: Step,
    exchange: Callable[[], Exchange],
    case_number: str,
    application_item: str,
    form: Mapping[str, str],
) -> EvidenceResponse:
    """Ask the owners about the thing the form names, under the case; a 422 names the field
    (``subject.<part>``) and is the form's to show. Pieces that could not be issued come
    back with their reasons, as at the case's own fetch."""
    lang = step.lang
    values = {name: form.get(name, "").strip() or None for name in FIELDS}
    try:
        thing = SubjectIn(kind=form.get("kind", ""), **values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise validation_problem(
            [FieldError("kind", t("counter.lookup.kind_missing", lang), "missing")], lang
        ) from exc
    body = EvidenceRequestIn(case_id=case_number, application_item=application_item, subject=thing)
    actor = step.actor
    requester = Actor(actor.username, actor.badge or "", actor.role, actor.agency, actor.credential)
    try:
        return request_evidence(exchange(), requester, body, lang)
    except Problem as problem:
        if "results" not in problem.extra:
            raise
        return EvidenceResponse.model_validate(problem.extra)


def cards(
    session: Session, response: EvidenceResponse, jwks: Mapping[str, Any], lang: str
) -> Lookup:
    """The answer grouped like the case's evidence: per piece, each owner's transcript."""
    shown = []
    for result in response.results:
        dataset = catalog.get_dataset(session, result.dataset)
        title = (dataset.name_en if lang == "en" else dataset.name_zh) if dataset else ""
        shown.append(
            LookupCard(
                evidence_type=result.evidence_type,
                title=title or result.dataset,
                status=result.status,
                reason=result.reason.en if lang == "en" else result.reason.zh_TW,
                transcripts=tuple(
                    transcript_card(session, index, issued.jws, jwks, lang)
                    for index, issued in enumerate(result.transcripts)
                ),
            )
        )
    return Lookup(response.about or "", tuple(shown))
